package client

import (
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/transport"

	// The built-in codecs, so that every content type the server speaks
	// out of the box can be called without further imports.
	_ "github.com/openmicro/go-micro/codec/bytes"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
)

// checkCodec returns codec.Lookup's error for a content type without a
// codec.
func checkCodec(contentType string) error {
	_, err := codec.Lookup(contentType)
	return err
}

// callState is what one attempt needs beside its codec, kept between
// calls.
type callState struct {
	out, in codec.Message
	msg     transport.Message
}

var callStates = sync.Pool{New: func() any { return new(callState) }}

func getCallState() *callState { return callStates.Get().(*callState) }

func putCallState(st *callState) {
	*st = callState{}
	callStates.Put(st)
}
