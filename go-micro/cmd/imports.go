package cmd

// The in-core implementations the defaults name, the memory registry
// (--registry=memory, for tests and single-process programs), and the
// codecs every service understands. Plugins are never imported here: a
// program blank-imports the ones it wants.
import (
	_ "github.com/openmicro/go-micro/broker/http"
	_ "github.com/openmicro/go-micro/codec/bytes"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
	_ "github.com/openmicro/go-micro/registry/memory"
	_ "github.com/openmicro/go-micro/registry/micro"
	_ "github.com/openmicro/go-micro/transport/http"
)
