package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	stderrors "errors"
	"fmt"
	"io"
	"time"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/internal/rpcwire/mdctx"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/transport"
)

// errorId is the Id of the errors the client makes itself.
const errorId = "go.micro.client"

// newId returns a random call id: 16 bytes from crypto/rand, in hex.
func newId() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read crashes the program rather than return an error)
	return hex.EncodeToString(b[:])
}

// requestHeader builds the headers of a request (or of a stream's opening
// message): the caller's metadata under canonical keys, reserved keys
// dropped, then the protocol's headers. Timeout is set when ctx has a
// deadline.
func requestHeader(ctx context.Context, req Request, id string, stream bool) map[string]string {
	dl, hasDeadline := ctx.Deadline()
	n := 4 // Content-Type, Micro-Service, Micro-Endpoint, Micro-Id
	if hasDeadline {
		n++
	}
	if stream {
		n++
	}
	h := metadataHeader(ctx, n)
	h[rpcwire.ContentType] = req.ContentType()
	h[rpcwire.Service] = req.Service()
	h[rpcwire.Endpoint] = req.Endpoint()
	h[rpcwire.Id] = id
	if hasDeadline {
		h[rpcwire.Timeout] = timeoutHeader(time.Until(dl))
	}
	if stream {
		h[rpcwire.Stream] = "1"
	}
	return h
}

// metadataHeader returns a new header map holding the metadata of ctx
// under canonical keys, without the keys the protocol reserves. It reads
// the context's map in place (never changing it) rather than through
// metadata.FromContext, which would copy it only for us to copy it again.
//
// The map has room for n more headers, the protocol's the caller adds, so
// that adding them does not grow it. n should be exact: a hint over 8
// entries makes a larger map than 8 entries need.
func metadataHeader(ctx context.Context, n int) map[string]string {
	md, _ := ctx.Value(mdctx.Key{}).(metadata.Metadata)
	h := make(map[string]string, len(md)+n)
	for k, v := range md {
		ck := metadata.CanonicalKey(k)
		if rpcwire.Reserved(ck) {
			continue
		}
		if ck != k {
			if _, ok := md[ck]; ok {
				continue // the key already in canonical form wins
			}
		}
		h[ck] = v
	}
	return h
}

// timeoutHeader formats the time left as a Go duration, truncated to the
// millisecond so it never promises more time than there is, and at least
// 1ms.
func timeoutHeader(left time.Duration) string {
	left = left.Truncate(time.Millisecond)
	if left < time.Millisecond {
		left = time.Millisecond
	}
	return left.String()
}

// target names a request in error details: `service "greeter" endpoint
// "Say.Hello"`.
func target(req Request) string {
	return fmt.Sprintf("service %q endpoint %q", req.Service(), req.Endpoint())
}

// contextError is the error of a call whose ctx ended: 408 for a deadline,
// 499 for a cancellation.
func contextError(ctx context.Context, req Request) *errors.Error {
	if stderrors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.Timeout(errorId, "call to %s timed out: %v", target(req), context.Cause(ctx))
	}
	return errors.New(errorId, fmt.Sprintf("call to %s canceled: %v", target(req), context.Cause(ctx)),
		errors.StatusClientClosedRequest)
}

// transportError maps an error of Dial, Send, CloseSend or Recv (op) on the
// node at addr. The order matters: the http transport's too-large error
// also matches transport.ErrClosed.
func transportError(ctx context.Context, req Request, addr, op string, err error) *errors.Error {
	if e, ok := stderrors.AsType[*errors.Error](err); ok && e != nil {
		return e
	}
	switch {
	case ctx.Err() != nil:
		return contextError(ctx, req)
	case stderrors.Is(err, transport.ErrMessageTooLarge):
		return errors.RequestEntityTooLarge(errorId, "call to %s: %s %s: message too large: %v", target(req), op, addr, err)
	case stderrors.Is(err, transport.ErrClosed), stderrors.Is(err, io.EOF):
		return errors.ServiceUnavailable(errorId, "call to %s: node %s went away (%s): %v", target(req), addr, op, err)
	}
	return errors.ServiceUnavailable(errorId, "call to %s: %s %s: %v", target(req), op, addr, err)
}

// codecError is the error for a request whose content type has no codec:
// the caller's mistake, so 415 and never retried.
func codecError(req Request, err error) *errors.Error {
	return errors.UnsupportedMediaType(errorId, "call to %s: content type %q: %v", target(req), req.ContentType(), err)
}

// encodeError is the error for a body the codec cannot encode: the
// caller's mistake, so 400 and never retried.
func encodeError(req Request, err error) *errors.Error {
	return errors.BadRequest(errorId, "call to %s: encoding the request as %s: %v", target(req), req.ContentType(), err)
}

// decodeResponse turns a received message into the call's result: the
// error of a Micro-Error header or of a codec envelope, or the body decoded
// into rsp with cdc (or with the codec of the message's own Content-Type
// when it names another one).
func decodeResponse(cdc *rpcwire.Codec, req Request, msg *transport.Message, m *codec.Message, rsp any) error {
	if e, ok := msg.Header[rpcwire.Error]; ok {
		return errors.Parse(e)
	}
	dec := cdc
	if ct := msg.Header[rpcwire.ContentType]; ct != "" && codec.MediaType(ct) != cdc.ContentType() {
		other, err := rpcwire.Get(ct)
		if err != nil {
			return errors.InternalServerError(errorId, "call to %s: response content type %q: %v", target(req), ct, err)
		}
		defer rpcwire.Put(other)
		dec = other
	}
	*m = codec.Message{}
	if err := dec.Decode(msg.Body, m, codec.Response, rsp); err != nil {
		return errors.InternalServerError(errorId, "call to %s: decoding the response: %v", target(req), err)
	}
	if m.Error != "" {
		return errors.Parse(m.Error)
	}
	return nil
}
