package server

import (
	// The rpc server understands every built-in content type.
	_ "github.com/openmicro/go-micro/codec/bytes"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
)
