package server

import (
	"sync"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"

	// The rpc server understands every built-in content type.
	_ "github.com/openmicro/go-micro/codec/bytes"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
)

// codecs hands out rpcwire codecs, one per call or stream direction.
//
// Codecs that read each body whole, up to its end, and keep nothing from
// one message to the next (proto, bytes) are pooled per media type. The
// others are made afresh each time: a JSON decoder, or protorpc's buffered
// reader, may keep the unread rest of one body (a second JSON value, say)
// and would hand it to the next caller, and jsonrpc remembers request ids.
// Only media types with a registered codec get a pool, so the map stays
// bounded whatever content types callers send.
type codecs struct {
	pools sync.Map // media type -> *sync.Pool of *rpcwire.Codec
}

// poolable names the codecs that are safe to share between calls.
func poolable(c *rpcwire.Codec) bool {
	switch c.String() {
	case "proto", "bytes":
		return true
	}
	return false
}

// get returns a codec for the content type and the pool to give it back
// to (nil when it is not pooled), or the error of codec.Lookup.
func (cs *codecs) get(contentType string) (*rpcwire.Codec, *sync.Pool, error) {
	mt := codec.MediaType(contentType)
	if p, ok := cs.pools.Load(mt); ok {
		pool := p.(*sync.Pool)
		if c, ok := pool.Get().(*rpcwire.Codec); ok {
			return c, pool, nil
		}
		c, err := rpcwire.NewCodec(mt)
		return c, pool, err
	}
	c, err := rpcwire.NewCodec(mt)
	if err != nil {
		return nil, nil, err
	}
	if !poolable(c) {
		return c, nil, nil
	}
	p, _ := cs.pools.LoadOrStore(mt, new(sync.Pool))
	return c, p.(*sync.Pool), nil
}

// put gives a codec back once the bytes it encoded were sent.
func put(c *rpcwire.Codec, pool *sync.Pool) {
	if pool != nil && c != nil {
		pool.Put(c)
	}
}
