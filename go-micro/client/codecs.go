package client

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/transport"

	// The built-in codecs, so that every content type the server speaks
	// out of the box can be called without further imports.
	_ "github.com/openmicro/go-micro/codec/bytes"
	_ "github.com/openmicro/go-micro/codec/json"
	_ "github.com/openmicro/go-micro/codec/jsonrpc"
	_ "github.com/openmicro/go-micro/codec/proto"
	_ "github.com/openmicro/go-micro/codec/protorpc"
)

// codecPool keeps rpcwire codecs, with their buffers, between calls: one
// sync.Pool per media type that has a codec. The table is copied on write
// and read without a lock; it holds only registered media types, so it
// stays small whatever content types callers or peers send.
type codecPool struct {
	mu    sync.Mutex
	pools atomic.Pointer[map[string]*sync.Pool]
}

// get returns a codec for the content type, from the pool when one is
// there. It fails, wrapping codec.Lookup's error, for a content type
// without a codec.
func (p *codecPool) get(contentType string) (*rpcwire.Codec, error) {
	mt := codec.MediaType(contentType)
	if m := p.pools.Load(); m != nil {
		if pool := (*m)[mt]; pool != nil {
			if c, ok := pool.Get().(*rpcwire.Codec); ok {
				return c, nil
			}
		}
	}
	c, err := rpcwire.NewCodec(mt)
	if err != nil {
		return nil, err
	}
	p.pool(mt)
	return c, nil
}

// put returns a codec that is in a known state (its last Decode did not
// fail) for reuse.
func (p *codecPool) put(c *rpcwire.Codec) {
	if m := p.pools.Load(); m != nil {
		if pool := (*m)[c.ContentType()]; pool != nil {
			pool.Put(c)
		}
	}
}

// pool makes sure the table has a pool for the media type mt.
func (p *codecPool) pool(mt string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.pools.Load()
	if old != nil && (*old)[mt] != nil {
		return
	}
	var m map[string]*sync.Pool
	if old != nil {
		m = maps.Clone(*old)
	} else {
		m = make(map[string]*sync.Pool)
	}
	m[mt] = &sync.Pool{}
	p.pools.Store(&m)
}

// check returns codec.Lookup's error for a content type without a codec.
func (p *codecPool) check(contentType string) error {
	if m := p.pools.Load(); m != nil && (*m)[codec.MediaType(contentType)] != nil {
		return nil
	}
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
