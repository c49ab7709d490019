package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/internal/rpcwire"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	trhttp "github.com/openmicro/go-micro/transport/http"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestUnaryEachCodec(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()

	t.Run("json", func(t *testing.T) {
		var rsp Response
		if err := c.call("application/json", "Greeter.Hello", &Request{Name: "John"}, &rsp, nil); err != nil {
			t.Fatal(err)
		}
		if rsp.Msg != "Hello John" {
			t.Fatalf("got %q", rsp.Msg)
		}
	})
	protoCases := []string{"application/protobuf", "application/proto-rpc", "application/json-rpc", "application/json"}
	for _, ct := range protoCases {
		t.Run("proto message/"+ct, func(t *testing.T) {
			rsp := new(wrapperspb.StringValue)
			if err := c.call(ct, "Greeter.Proto", wrapperspb.String("Jane"), rsp, nil); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(rsp, wrapperspb.String("Hello Jane")) {
				t.Fatalf("got %v", rsp)
			}
		})
	}
	t.Run("jsonrpc struct", func(t *testing.T) {
		var rsp Response
		if err := c.call("application/json-rpc", "Greeter.Hello", &Request{Name: "Ann"}, &rsp, nil); err != nil {
			t.Fatal(err)
		}
		if rsp.Msg != "Hello Ann" {
			t.Fatalf("got %q", rsp.Msg)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		var rsp []byte
		if err := c.call("application/octet-stream", "Greeter.Bytes", []byte{0, 1, 2}, &rsp, nil); err != nil {
			t.Fatal(err)
		}
		if string(rsp) != "got:\x00\x01\x02" {
			t.Fatalf("got %q", rsp)
		}
	})
	t.Run("content type parameters", func(t *testing.T) {
		var rsp Response
		if err := c.call("Application/JSON; charset=utf-8", "Greeter.Hello", &Request{Name: "Lu"}, &rsp, nil); err != nil {
			t.Fatal(err)
		}
		if rsp.Msg != "Hello Lu" {
			t.Fatalf("got %q", rsp.Msg)
		}
	})
}

// TestEnvelopeFillsMissingHeaders sends jsonrpc and protorpc requests whose
// endpoint and id travel only in the envelope.
func TestEnvelopeFillsMissingHeaders(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()
	for _, ct := range []string{"application/json-rpc", "application/proto-rpc"} {
		t.Run(ct, func(t *testing.T) {
			cd, err := rpcwire.NewCodec(ct)
			if err != nil {
				t.Fatal(err)
			}
			body, err := cd.Encode(&codec.Message{Id: "42", Type: codec.Request, Endpoint: "Greeter.Proto"}, wrapperspb.String("env"))
			if err != nil {
				t.Fatal(err)
			}
			in := c.roundTrip(map[string]string{rpcwire.ContentType: ct}, body)
			if e := in.Header[rpcwire.Error]; e != "" {
				t.Fatalf("error %s", e)
			}
			if in.Header[rpcwire.Id] != "42" {
				t.Errorf("Micro-Id %q, want the envelope's 42", in.Header[rpcwire.Id])
			}
			var env codec.Message
			rsp := new(wrapperspb.StringValue)
			if err := cd.Decode(in.Body, &env, codec.Response, rsp); err != nil {
				t.Fatal(err)
			}
			if rsp.GetValue() != "Hello env" || env.Id != "42" || env.Type != codec.Response {
				t.Fatalf("got %v with envelope %+v", rsp, env)
			}
		})
	}
}

func TestEnvelopeOnError(t *testing.T) {
	f := newFixture(t)
	f.start()
	cd, err := rpcwire.NewCodec("application/proto-rpc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := cd.Encode(&codec.Message{Id: "1", Type: codec.Request, Endpoint: "Greeter.Nope"}, wrapperspb.String("x"))
	in := f.client().roundTrip(map[string]string{rpcwire.ContentType: "application/proto-rpc", rpcwire.Id: "1"}, body)
	var env codec.Message
	if err := cd.Decode(in.Body, &env, codec.Response, nil); err != nil {
		t.Fatal(err)
	}
	if env.Type != codec.Error || env.Error != in.Header[rpcwire.Error] || env.Id != "1" {
		t.Fatalf("envelope %+v, header error %q", env, in.Header[rpcwire.Error])
	}
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()
	hello := []byte(`{"name":"x"}`)
	hdr := func(kv ...string) map[string]string {
		h := map[string]string{rpcwire.ContentType: "application/json", rpcwire.Endpoint: "Greeter.Hello", rpcwire.Id: "9"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(h, kv[i])
			} else {
				h[kv[i]] = kv[i+1]
			}
		}
		return h
	}
	tests := []struct {
		name   string
		header map[string]string
		body   []byte
		code   int32
		detail []string
	}{
		{"no content type", hdr(rpcwire.ContentType, ""), hello, 415, []string{"Content-Type", "application/json"}},
		{"unknown content type", hdr(rpcwire.ContentType, "application/x-nope"), hello, 415, []string{"application/x-nope"}},
		{"codec cannot take the type", hdr(rpcwire.ContentType, "application/protobuf"), nil, 415, []string{"Greeter.Hello"}},
		{"unknown endpoint", hdr(rpcwire.Endpoint, "Greeter.Nope"), hello, 404, []string{testService, "Greeter.Nope"}},
		{"unknown handler", hdr(rpcwire.Endpoint, "Nope"), hello, 404, []string{"Nope"}},
		{"no endpoint", hdr(rpcwire.Endpoint, ""), hello, 400, []string{"Micro-Endpoint"}},
		{"malformed body", hdr(), []byte(`{"name":`), 400, []string{"malformed", "Greeter.Hello"}},
		{"wrong body type", hdr(), []byte(`{"name":1}`), 400, []string{"Greeter.Hello"}},
		{"bad timeout", hdr(rpcwire.Timeout, "soon"), hello, 400, []string{"Timeout", "soon"}},
		{"timeout without unit", hdr(rpcwire.Timeout, "100"), hello, 400, []string{"Timeout"}},
		{"expired timeout", hdr(rpcwire.Timeout, "-1s"), hello, 408, []string{"deadline"}},
		{"bad stream header", hdr(rpcwire.Stream, "maybe"), hello, 400, []string{"Micro-Stream"}},
		{"call on a stream endpoint", hdr(rpcwire.Endpoint, "Greeter.Echo"), hello, 400, []string{"Greeter.Echo", "Stream"}},
		{"stream on a unary endpoint", hdr(rpcwire.Stream, "1"), nil, 400, []string{"Greeter.Hello", "Call"}},
		{"handler error keeps its code and id", hdr(rpcwire.Endpoint, "Greeter.Fail"), hello, 409, []string{"name taken"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := c.roundTrip(tt.header, tt.body)
			text := in.Header[rpcwire.Error]
			if text == "" {
				t.Fatalf("no %s header in %v", rpcwire.Error, in.Header)
			}
			e := errors.Parse(text)
			if e.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", e.Code, tt.code, text)
			}
			wantID := testService
			if tt.code == 409 {
				wantID = "elsewhere"
			}
			if e.Id != wantID {
				t.Errorf("id %q, want %q", e.Id, wantID)
			}
			for _, s := range tt.detail {
				if !strings.Contains(e.Detail, s) {
					t.Errorf("detail %q does not mention %q", e.Detail, s)
				}
			}
			if ct := tt.header[rpcwire.ContentType]; in.Header[rpcwire.ContentType] != ct {
				t.Errorf("Content-Type %q, want %q", in.Header[rpcwire.ContentType], ct)
			}
			if in.Header[rpcwire.Id] != "9" {
				t.Errorf("Micro-Id %q, want 9", in.Header[rpcwire.Id])
			}
			if len(in.Body) != 0 {
				t.Errorf("body %q, want none with the json codec", in.Body)
			}
		})
	}
}

func TestMetadataReachesHandler(t *testing.T) {
	f := newFixture(t)
	f.start()
	var md map[string]string
	err := f.client().call("application/json", "Greeter.Meta", &Request{}, &md, map[string]string{
		"X-User-Id":  "alice",
		"x-trace-id": "t1",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"X-User-Id": "alice", "X-Trace-Id": "t1"}
	if fmt.Sprint(md) != fmt.Sprint(want) {
		t.Fatalf("metadata %v, want %v (and no reserved headers)", md, want)
	}
}

func TestHeaderKeysAnyCase(t *testing.T) {
	f := newFixture(t)
	f.start()
	in := f.client().roundTrip(map[string]string{
		"content-type":   "application/json",
		"MICRO-ENDPOINT": "Greeter.Hello",
		"micro-id":       "3",
	}, []byte(`{"name":"case"}`))
	if in.Header[rpcwire.Error] != "" || string(in.Body) != "{\"msg\":\"Hello case\"}\n" || in.Header[rpcwire.Id] != "3" {
		t.Fatalf("got %v %q", in.Header, in.Body)
	}
}

func TestTimeoutEndsHandlerContext(t *testing.T) {
	f := newFixture(t)
	f.start()
	err := f.client().call("application/json", "Greeter.Block", &Request{}, &Response{}, map[string]string{rpcwire.Timeout: "20ms"})
	if errCode(err) != 408 {
		t.Fatalf("got %v, want a 408 from the deadline the Timeout header set", err)
	}
}

func TestPanicRecovered(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()
	err := c.jsonCall("Greeter.Panic", &Request{}, &Response{})
	if errCode(err) != 500 || !strings.Contains(err.Error(), "Greeter.Panic") {
		t.Fatalf("got %v, want a 500 naming the endpoint", err)
	}
	recs := f.log.records(slog.LevelError, "panicked")
	if len(recs) != 1 {
		t.Fatalf("%d panic log records, want 1", len(recs))
	}
	a := attrs(recs[0])
	if a["panic"] != "boom" || !strings.Contains(a["stack"], "(*Greeter).Panic") {
		t.Fatalf("panic record attrs %v", a)
	}
	var rsp Response
	if err := c.jsonCall("Greeter.Hello", &Request{Name: "again"}, &rsp); err != nil || rsp.Msg != "Hello again" {
		t.Fatalf("after the panic: %v %q", err, rsp.Msg)
	}
}

func TestConcurrentCalls(t *testing.T) {
	for _, tr := range []string{"memory", "http"} {
		t.Run(tr, func(t *testing.T) {
			f := transportFixture(t, tr)
			f.start()
			c := f.client()
			var wg sync.WaitGroup
			errs := make(chan error, 32*20)
			for g := range 32 {
				wg.Go(func() {
					for i := range 20 {
						name := fmt.Sprintf("%d-%d", g, i)
						var rsp Response
						if err := c.jsonCall("Greeter.Hello", &Request{Name: name}, &rsp); err != nil {
							errs <- err
							return
						}
						if rsp.Msg != "Hello "+name {
							errs <- fmt.Errorf("got %q for %s", rsp.Msg, name)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// transportFixture is a fixture on the named transport.
func transportFixture(t *testing.T, name string) *fixture {
	t.Helper()
	if name == "memory" {
		return newFixture(t)
	}
	tr, err := trhttp.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	f := newFixture(t, server.Transport(tr))
	f.tr = tr
	return f
}

func TestStreamEcho(t *testing.T) {
	const n = 10000
	for _, tr := range []string{"memory", "http"} {
		t.Run(tr, func(t *testing.T) {
			f := transportFixture(t, tr)
			f.start()
			ctx := patient(t, 6)
			sock := f.client().stream(ctx, "application/json", "Greeter.Echo")
			sent := make(chan error, 1)
			go func() {
				for i := range n {
					if err := sock.Send(ctx, &transport.Message{Body: fmt.Appendf(nil, `{"n":%d}`, i)}); err != nil {
						sent <- err
						return
					}
				}
				sent <- sock.CloseSend()
			}()
			for i := range n {
				var m transport.Message
				if err := sock.Recv(ctx, &m); err != nil {
					t.Fatalf("recv %d: %v", i, err)
				}
				var c Counter
				if err := json.Unmarshal(m.Body, &c); err != nil || c.N != i {
					t.Fatalf("message %d: %q %v", i, m.Body, err)
				}
				if len(m.Header) != 0 {
					t.Fatalf("message %d has headers %v", i, m.Header)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			var m transport.Message
			if err := sock.Recv(ctx, &m); err != io.EOF {
				t.Fatalf("after the last message: %v %v, want io.EOF", err, m)
			}
		})
	}
}

func TestStreamEnds(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		wantCode int32 // 0: clean end
	}{
		{"clean", 4, 0},
		{"error after messages", 3, 400},
		{"error at once", 1, 400},
		{"nothing", 0, 0},
	}
	for _, tr := range []string{"memory", "http"} {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				f := transportFixture(t, tr)
				f.start()
				ctx := patient(t, 1)
				sock := f.client().stream(ctx, "application/json", "Greeter.Count")
				if err := sock.Send(ctx, &transport.Message{Body: fmt.Appendf(nil, `{"n":%d}`, tt.n)}); err != nil {
					t.Fatal(err)
				}
				for i := range tt.n {
					var m transport.Message
					if err := sock.Recv(ctx, &m); err != nil {
						t.Fatalf("recv %d: %v", i, err)
					}
					if m.Header[rpcwire.Error] != "" {
						t.Fatalf("message %d is an error: %v", i, m.Header)
					}
				}
				var m transport.Message
				err := sock.Recv(ctx, &m)
				if tt.wantCode == 0 {
					if err != io.EOF {
						t.Fatalf("got %v %v, want io.EOF", err, m.Header)
					}
					return
				}
				if err != nil {
					t.Fatalf("want the error message, got %v", err)
				}
				e := errors.Parse(m.Header[rpcwire.Error])
				if e.Code != tt.wantCode || e.Id != "count" || m.Header[rpcwire.Id] != "s1" {
					t.Fatalf("last message %v", m.Header)
				}
				if err := sock.Recv(ctx, &m); err != io.EOF {
					t.Fatalf("after the error: %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestStreamMalformedMessage(t *testing.T) {
	f := newFixture(t)
	f.start()
	ctx := patient(t, 1)
	sock := f.client().stream(ctx, "application/json", "Greeter.Echo")
	if err := sock.Send(ctx, &transport.Message{Body: []byte(`{"n":`)}); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := sock.Recv(ctx, &m); err != nil {
		t.Fatal(err)
	}
	if e := errors.Parse(m.Header[rpcwire.Error]); e.Code != 400 || !strings.Contains(e.Detail, "Greeter.Echo") {
		t.Fatalf("got %v", m.Header)
	}
}

// TestStreamProto runs a stream with the proto codec over proto messages.
func TestStreamProto(t *testing.T) {
	f := newFixture(t)
	if err := f.srv.Handle(f.srv.NewHandler(protoStreamer{})); err != nil {
		t.Fatal(err)
	}
	f.start()
	ctx := patient(t, 1)
	for _, ct := range []string{"application/protobuf", "application/proto-rpc"} {
		t.Run(ct, func(t *testing.T) {
			sock := f.client().stream(ctx, ct, "protoStreamer.Upper")
			cd, _ := rpcwire.NewCodec(ct)
			for _, s := range []string{"a", "b"} {
				b, err := cd.Encode(&codec.Message{Type: codec.Request, Endpoint: "protoStreamer.Upper"}, wrapperspb.String(s))
				if err != nil {
					t.Fatal(err)
				}
				if err := sock.Send(ctx, &transport.Message{Body: b}); err != nil {
					t.Fatal(err)
				}
				var m transport.Message
				if err := sock.Recv(ctx, &m); err != nil {
					t.Fatal(err)
				}
				got := new(wrapperspb.StringValue)
				var env codec.Message
				if err := cd.Decode(m.Body, &env, codec.Response, got); err != nil {
					t.Fatal(err)
				}
				if got.GetValue() != strings.ToUpper(s) {
					t.Fatalf("got %q", got.GetValue())
				}
			}
			_ = sock.CloseSend()
			var m transport.Message
			if err := sock.Recv(ctx, &m); err != io.EOF {
				t.Fatalf("got %v, want io.EOF", err)
			}
		})
	}
}

type protoStreamer struct{}

func (protoStreamer) Upper(_ context.Context, stream server.Stream) error {
	for {
		in := new(wrapperspb.StringValue)
		if err := stream.Recv(in); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := stream.Send(wrapperspb.String(strings.ToUpper(in.GetValue()))); err != nil {
			return err
		}
	}
}

// TestStreamClose checks that Close ends the stream for the client while
// the handler still runs, and that Send then fails.
func TestStreamClose(t *testing.T) {
	f := newFixture(t)
	sendErr := make(chan error, 1)
	h := closer{sendErr: sendErr}
	if err := f.srv.Handle(f.srv.NewHandler(h, server.HandlerName("Closer"))); err != nil {
		t.Fatal(err)
	}
	f.start()
	ctx := patient(t, 1)
	sock := f.client().stream(ctx, "application/json", "Closer.Run")
	var m transport.Message
	if err := sock.Recv(ctx, &m); err != nil || string(m.Body) != "{\"n\":1}\n" {
		t.Fatalf("got %q %v", m.Body, err)
	}
	if err := sock.Recv(ctx, &m); err != io.EOF {
		t.Fatalf("got %v, want io.EOF after Close", err)
	}
	if err := <-sendErr; err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Send after Close: %v", err)
	}
}

type closer struct{ sendErr chan error }

func (c closer) Run(_ context.Context, stream server.Stream) error {
	if err := stream.Send(&Counter{N: 1}); err != nil {
		return err
	}
	if err := stream.Close(); err != nil {
		return err
	}
	c.sendErr <- stream.Send(&Counter{N: 2})
	return errors.InternalServerError("closer", "too late to be seen")
}

// Waiter is a stream handler that waits on its ctx only, as a handler
// pushing rare events does: it must learn that the client went away.
type Waiter struct{ ended chan error }

func (w *Waiter) Wait(ctx context.Context, stream server.Stream) error {
	var req Request
	if err := stream.Recv(&req); err != nil {
		return err
	}
	<-ctx.Done()
	w.ended <- ctx.Err()
	return ctx.Err()
}

func TestStreamHandlerSeesClientLeave(t *testing.T) {
	f := transportFixture(t, "http")
	w := &Waiter{ended: make(chan error, 1)}
	if err := f.srv.Handle(f.srv.NewHandler(w)); err != nil {
		t.Fatal(err)
	}
	f.start()
	ctx := patient(t, 1)
	sock := f.client().stream(ctx, "application/json", "Waiter.Wait")
	if err := sock.Send(ctx, &transport.Message{Body: []byte(`{"name":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	// The handler waits on its ctx, not in Send or Recv: closing the
	// stream from the client must end that ctx.
	if err := sock.Close(); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Recv(t, "the handler's ctx to end after the client closed", w.ended); err == nil {
		t.Error("handler ctx ended without an error")
	}
}
