// Package transporttest is the conformance suite for transport.Transport
// implementations. An implementation's tests call [Run] (or [RunConfig])
// with a constructor; the suite dials and listens on the same instance and
// checks the behaviour documented in package transport: round trips,
// message size limits, concurrent streams, long bidirectional streams,
// half-close, close (also racing Send, Recv and CloseSend), context
// cancellation, shutdown (also racing new streams) and flow control.
//
// The suite uses only loopback addresses, never asserts timings, and
// waits at most [Wait] for anything it expects to happen.
package transporttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// Wait bounds every wait in the suite; reaching it fails the test.
const Wait = 10 * time.Second

// Config adapts the suite to an implementation.
type Config struct {
	// ListenAddr is passed to Listen. Default: "127.0.0.1:0".
	ListenAddr string
	// MaxMessageSize is the limit the transports from newTransport were
	// built with. Default: transport.DefaultMaxMessageSize.
	MaxMessageSize int
	// SkipFlowControl skips the check that a sender to a receiver that
	// does not read eventually blocks, for engines that buffer without
	// bound.
	SkipFlowControl bool
	// StreamMessages is how many messages each way the long
	// bidirectional stream test sends. Default: 10000.
	StreamMessages int
	// Streams is how many concurrent request/response streams the
	// concurrency test runs. Default: 200.
	Streams int
}

// Run runs the suite with the default Config. newTransport is called once
// per subtest; the suite closes what it returns.
func Run(t *testing.T, newTransport func(t *testing.T) transport.Transport) {
	RunConfig(t, newTransport, Config{})
}

// RunConfig runs the suite with cfg.
func RunConfig(t *testing.T, newTransport func(t *testing.T) transport.Transport, cfg Config) {
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = transport.DefaultMaxMessageSize
	}
	if cfg.StreamMessages <= 0 {
		cfg.StreamMessages = 10000
	}
	if cfg.Streams <= 0 {
		cfg.Streams = 200
	}
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"RoundTrip", testRoundTrip},
		{"MessageTooLarge", testMessageTooLarge},
		{"ConcurrentStreams", testConcurrentStreams},
		{"Bidirectional", testBidirectional},
		{"HalfClose", testHalfClose},
		{"PeerClose", testPeerClose},
		{"ClientClose", testClientClose},
		{"RecvCancel", testRecvCancel},
		{"QueuedCallsCancel", testQueuedCallsCancel},
		{"DialNoListener", testDialNoListener},
		{"ListenerClose", testListenerClose},
		{"Shutdown", testShutdown},
		{"TransportClose", testTransportClose},
		{"FlowControl", testFlowControl},
		{"CloseRaces", testCloseRaces},
		{"DialDuringShutdown", testDialDuringShutdown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t)
			t.Cleanup(func() {
				if err := tr.Close(); err != nil {
					t.Errorf("Transport.Close: %v", err)
				}
			})
			tc.fn(&env{t: t, tr: tr, cfg: cfg})
		})
	}
}

type env struct {
	t   *testing.T
	tr  transport.Transport
	cfg Config
}

// ctx returns a context bounded by Wait.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), Wait)
	e.t.Cleanup(cancel)
	return ctx
}

// serve listens and runs handler for every accepted socket, closing the
// socket when handler returns. Cleanup closes the listener and waits for
// Accept and the handlers; handlers should return once ctx is done.
func (e *env) serve(handler func(ctx context.Context, s transport.Socket)) transport.Listener {
	e.t.Helper()
	l, err := e.tr.Listen(e.ctx(), e.cfg.ListenAddr)
	if err != nil {
		e.t.Fatalf("Listen(%q): %v", e.cfg.ListenAddr, err)
	}
	if l.Addr() == "" {
		e.t.Errorf("Listener.Addr() is empty")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var handlers testenv.Group
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer func() { _ = s.Close() }()
			if !handlers.Enter() {
				return
			}
			defer handlers.Leave()
			handler(ctx, s)
		})
	}()
	e.t.Cleanup(func() {
		cancel()
		if err := l.Close(); err != nil {
			e.t.Errorf("Listener.Close: %v", err)
		}
		select {
		case err := <-accepted:
			if err != nil {
				e.t.Errorf("Accept returned %v after Close, want nil", err)
			}
		case <-time.After(Wait):
			e.t.Errorf("Accept did not return within %v of Close", Wait)
		}
		done := make(chan struct{})
		go func() { handlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(Wait):
			e.t.Errorf("handlers still running %v after Listener.Close", Wait)
		}
	})
	return l
}

func (e *env) dial(addr string) transport.Socket {
	e.t.Helper()
	s, err := e.tr.Dial(e.ctx(), addr)
	if err != nil {
		e.t.Fatalf("Dial(%s): %v", addr, err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *env) send(s transport.Socket, m *transport.Message) {
	e.t.Helper()
	if err := s.Send(e.ctx(), m); err != nil {
		e.t.Fatalf("Send: %v", err)
	}
}

func (e *env) recv(s transport.Socket) *transport.Message {
	e.t.Helper()
	var m transport.Message
	if err := s.Recv(e.ctx(), &m); err != nil {
		e.t.Fatalf("Recv: %v", err)
	}
	return &m
}

func (e *env) recvEOF(s transport.Socket) {
	e.t.Helper()
	var m transport.Message
	if err := s.Recv(e.ctx(), &m); err != io.EOF {
		e.t.Fatalf("Recv = %v (body %q), want io.EOF", err, m.Body)
	}
}

// echo sends back every message until the peer half-closes.
func echo(ctx context.Context, s transport.Socket) {
	for {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		if err := s.Send(ctx, &m); err != nil {
			return
		}
	}
}

func sameMessage(a, b *transport.Message) bool {
	return maps.Equal(a.Header, b.Header) && bytes.Equal(a.Body, b.Body)
}

func text(s string) *transport.Message { return &transport.Message{Body: []byte(s)} }

func testRoundTrip(e *env) {
	binBody := make([]byte, 256)
	for i := range binBody {
		binBody[i] = byte(i)
	}
	many := make(map[string]string)
	for i := range 100 {
		many["Key-"+strconv.Itoa(i)] = strings(i)
	}
	large := make([]byte, e.cfg.MaxMessageSize-4096)
	for i := range large {
		large[i] = byte(i * 7)
	}
	tests := []struct {
		name string
		m    transport.Message
	}{
		{"empty", transport.Message{}},
		{"empty header", transport.Message{Header: map[string]string{}, Body: []byte("body")}},
		{"empty body", transport.Message{Header: map[string]string{"Content-Type": "application/json"}}},
		{"empty header values", transport.Message{Header: map[string]string{"": "", "k": ""}, Body: []byte{0}}},
		{"binary", transport.Message{Header: map[string]string{"Bin": "\x00\xff\x80\n\r"}, Body: binBody}},
		{"many headers", transport.Message{Header: many, Body: []byte("x")}},
		{"just under limit", transport.Message{Header: map[string]string{"Micro-Id": "1"}, Body: large}},
	}
	l := e.serve(echo)
	for _, tc := range tests {
		e.t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, tr: e.tr, cfg: e.cfg}
			s := e.dial(l.Addr())
			if s.Local() == "" || s.Remote() == "" {
				t.Errorf("Local() = %q, Remote() = %q, want both set", s.Local(), s.Remote())
			}
			// Send a copy so that a transport that keeps the caller's
			// buffers is caught.
			in := transport.Message{Header: maps.Clone(tc.m.Header), Body: bytes.Clone(tc.m.Body)}
			e.send(s, &in)
			clear(in.Body)
			got := e.recv(s)
			if !sameMessage(got, &tc.m) {
				t.Errorf("echo of %s differs: header %d entries (want %d), body %d bytes (want %d)",
					tc.name, len(got.Header), len(tc.m.Header), len(got.Body), len(tc.m.Body))
			}
			if err := s.CloseSend(); err != nil {
				t.Fatalf("CloseSend: %v", err)
			}
			e.recvEOF(s)
		})
	}
}

func strings(i int) string { return fmt.Sprintf("value %d", i*i) }

func testMessageTooLarge(e *env) {
	l := e.serve(echo)
	s := e.dial(l.Addr())
	big := &transport.Message{Body: make([]byte, e.cfg.MaxMessageSize+1)}
	if err := s.Send(e.ctx(), big); !errors.Is(err, transport.ErrMessageTooLarge) {
		e.t.Fatalf("Send(%d bytes) = %v, want ErrMessageTooLarge", len(big.Body), err)
	}
	hdr := &transport.Message{Header: map[string]string{"X": string(make([]byte, e.cfg.MaxMessageSize))}}
	if err := s.Send(e.ctx(), hdr); !errors.Is(err, transport.ErrMessageTooLarge) {
		e.t.Fatalf("Send(%d-byte header) = %v, want ErrMessageTooLarge", e.cfg.MaxMessageSize, err)
	}
	e.send(s, text("still usable"))
	if got := e.recv(s); string(got.Body) != "still usable" {
		e.t.Fatalf("after a refused Send, echo = %q", got.Body)
	}
}

func testConcurrentStreams(e *env) {
	l := e.serve(echo)
	var wg sync.WaitGroup
	for i := range e.cfg.Streams {
		wg.Go(func() {
			ctx := e.ctx()
			s, err := e.tr.Dial(ctx, l.Addr())
			if err != nil {
				e.t.Errorf("stream %d: Dial: %v", i, err)
				return
			}
			defer func() { _ = s.Close() }()
			want := transport.Message{
				Header: map[string]string{"Id": strconv.Itoa(i)},
				Body:   bytes.Repeat([]byte{byte(i)}, 1+i*13),
			}
			for round := range 3 {
				if err := s.Send(ctx, &want); err != nil {
					e.t.Errorf("stream %d round %d: Send: %v", i, round, err)
					return
				}
				var got transport.Message
				if err := s.Recv(ctx, &got); err != nil {
					e.t.Errorf("stream %d round %d: Recv: %v", i, round, err)
					return
				}
				if !sameMessage(&got, &want) {
					e.t.Errorf("stream %d round %d: got Id %q with %d bytes, want Id %d with %d bytes",
						i, round, got.Header["Id"], len(got.Body), i, len(want.Body))
					return
				}
			}
		})
	}
	wg.Wait()
}

func seqMessage(i int) *transport.Message {
	b := make([]byte, 8, 8+i%100)
	binary.BigEndian.PutUint64(b, uint64(i))
	return &transport.Message{Header: map[string]string{"Seq": strconv.Itoa(i)}, Body: append(b, make([]byte, i%100)...)}
}

// readSeq reads messages 0..n-1 in order and then io.EOF.
func readSeq(ctx context.Context, s transport.Socket, n int) error {
	for i := range n {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return fmt.Errorf("message %d: Recv: %w", i, err)
		}
		if len(m.Body) < 8 || binary.BigEndian.Uint64(m.Body) != uint64(i) || m.Header["Seq"] != strconv.Itoa(i) {
			return fmt.Errorf("message %d: got Seq %q, out of order or corrupt", i, m.Header["Seq"])
		}
	}
	var m transport.Message
	if err := s.Recv(ctx, &m); err != io.EOF {
		return fmt.Errorf("after %d messages: Recv = %v, want io.EOF", n, err)
	}
	return nil
}

func sendSeq(ctx context.Context, s transport.Socket, n int) error {
	for i := range n {
		if err := s.Send(ctx, seqMessage(i)); err != nil {
			return fmt.Errorf("message %d: Send: %w", i, err)
		}
	}
	return s.CloseSend()
}

func testBidirectional(e *env) {
	n := e.cfg.StreamMessages
	serverErr := make(chan error, 2)
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		ctx, cancel := context.WithTimeout(ctx, Wait)
		defer cancel()
		read := make(chan error, 1)
		go func() { read <- readSeq(ctx, s, n) }()
		serverErr <- sendSeq(ctx, s, n)
		serverErr <- <-read
	})
	s := e.dial(l.Addr())
	sent := make(chan error, 1)
	go func() { sent <- sendSeq(e.ctx(), s, n) }()
	if err := readSeq(e.ctx(), s, n); err != nil {
		e.t.Errorf("client read: %v", err)
	}
	if err := <-sent; err != nil {
		e.t.Errorf("client send: %v", err)
	}
	for range 2 {
		select {
		case err := <-serverErr:
			if err != nil {
				e.t.Errorf("server: %v", err)
			}
		case <-time.After(Wait):
			e.t.Fatal("server side did not finish")
		}
	}
}

func testHalfClose(e *env) {
	serverErr := make(chan error, 1)
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		serverErr <- func() error {
			var m transport.Message
			if err := s.Recv(ctx, &m); err != nil || string(m.Body) != "ping" {
				return fmt.Errorf("first Recv = %v %q, want ping", err, m.Body)
			}
			if err := s.Recv(ctx, &m); err != io.EOF {
				return fmt.Errorf("second Recv = %v, want io.EOF (peer CloseSend)", err)
			}
			for _, b := range []string{"pong1", "pong2"} {
				if err := s.Send(ctx, text(b)); err != nil {
					return fmt.Errorf("reply after peer CloseSend: %w", err)
				}
			}
			return nil
		}()
	})
	s := e.dial(l.Addr())
	e.send(s, text("ping"))
	if err := s.CloseSend(); err != nil {
		e.t.Fatalf("CloseSend: %v", err)
	}
	if err := s.Send(e.ctx(), text("late")); !errors.Is(err, transport.ErrClosed) {
		e.t.Errorf("Send after CloseSend = %v, want ErrClosed", err)
	}
	for _, want := range []string{"pong1", "pong2"} {
		if got := e.recv(s); string(got.Body) != want {
			e.t.Fatalf("Recv = %q, want %q", got.Body, want)
		}
	}
	e.recvEOF(s)
	if err := <-serverErr; err != nil {
		e.t.Errorf("server: %v", err)
	}
}

// sendUntilError sends until Send fails and returns that error, or nil
// if Send kept succeeding for Wait.
func sendUntilError(ctx context.Context, s transport.Socket) error {
	for deadline := time.Now().Add(Wait); time.Now().Before(deadline); {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.Send(sctx, text("more"))
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		time.Sleep(time.Millisecond) // pacing a poll, not synchronisation
	}
	return nil
}

func testPeerClose(e *env) {
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		_ = s.Recv(ctx, &m)
		_ = s.Send(ctx, text("bye"))
		// Returning closes s.
	})
	s := e.dial(l.Addr())
	e.send(s, text("hello"))
	if got := e.recv(s); string(got.Body) != "bye" {
		e.t.Fatalf("Recv = %q, want bye", got.Body)
	}
	e.recvEOF(s)
	e.recvEOF(s) // and again
	if err := sendUntilError(e.ctx(), s); err == nil {
		e.t.Fatalf("Send kept succeeding for %v after the peer closed", Wait)
	}
	for range 2 {
		if err := s.Close(); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	}
	if err := s.Send(e.ctx(), text("x")); !errors.Is(err, transport.ErrClosed) {
		e.t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	var m transport.Message
	if err := s.Recv(e.ctx(), &m); err == nil {
		e.t.Errorf("Recv after Close succeeded")
	}
}

func testClientClose(e *env) {
	type result struct {
		recv, send error
	}
	res := make(chan result, 1)
	closed := make(chan struct{})
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		var r result
		if err := s.Recv(ctx, &m); err != nil {
			r.recv = fmt.Errorf("first Recv: %w", err)
		} else {
			select {
			case <-closed:
			case <-ctx.Done():
			}
			r.recv = s.Recv(ctx, &m)
			r.send = sendUntilError(ctx, s)
		}
		res <- r
	})
	s := e.dial(l.Addr())
	e.send(s, text("hello"))
	if err := s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	close(closed)
	select {
	case r := <-res:
		if r.recv != io.EOF {
			e.t.Errorf("server Recv after client Close = %v, want io.EOF", r.recv)
		}
		if r.send == nil {
			e.t.Errorf("server Send after client Close kept succeeding")
		}
	case <-time.After(Wait):
		e.t.Fatal("server did not notice the client's Close")
	}
}

func testRecvCancel(e *env) {
	release := make(chan struct{})
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		_ = s.Send(ctx, text("late reply"))
		echo(ctx, s)
	})
	s := e.dial(l.Addr())
	e.send(s, text("hello"))

	ctx, cancel := context.WithCancel(e.ctx())
	errc := make(chan error, 1)
	go func() {
		var m transport.Message
		errc <- s.Recv(ctx, &m)
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			e.t.Fatalf("Recv with a cancelled ctx = %v, want context.Canceled", err)
		}
	case <-time.After(Wait):
		e.t.Fatal("Recv did not return after its ctx was cancelled")
	}
	close(release)
	if got := e.recv(s); string(got.Body) != "late reply" {
		e.t.Fatalf("after a cancelled Recv, Recv = %q, want the late reply", got.Body)
	}
	e.send(s, text("again"))
	if got := e.recv(s); string(got.Body) != "again" {
		e.t.Fatalf("echo = %q, want again", got.Body)
	}
}

func testDialNoListener(e *env) {
	l, err := e.tr.Listen(e.ctx(), e.cfg.ListenAddr)
	if err != nil {
		e.t.Fatalf("Listen: %v", err)
	}
	addr := l.Addr()
	if err := l.Close(); err != nil {
		e.t.Fatalf("Listener.Close: %v", err)
	}
	ctx := e.ctx()
	err = func() error {
		s, err := e.tr.Dial(ctx, addr)
		if err != nil {
			return err
		}
		defer func() { _ = s.Close() }()
		if err := s.Send(ctx, text("anyone?")); err != nil {
			return err
		}
		var m transport.Message
		return s.Recv(ctx, &m)
	}()
	switch {
	case err == nil:
		e.t.Fatalf("a stream to %s (closed listener) worked", addr)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		e.t.Fatalf("a stream to %s (closed listener) hung until the deadline: %v", addr, err)
	}
}

func testListenerClose(e *env) {
	l, err := e.tr.Listen(e.ctx(), e.cfg.ListenAddr)
	if err != nil {
		e.t.Fatalf("Listen: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Accept(func(s transport.Socket) { _ = s.Close() }) }()
	for range 2 {
		if err := l.Close(); err != nil {
			e.t.Errorf("Listener.Close: %v", err)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			e.t.Errorf("Accept after Close = %v, want nil", err)
		}
	case <-time.After(Wait):
		e.t.Fatal("Accept did not return after Close")
	}
}

func testShutdown(e *env) {
	held := make(chan struct{})
	release := make(chan struct{})
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		if string(m.Body) != "hold" {
			_ = s.Send(ctx, &m)
			return
		}
		close(held)
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		_ = s.Send(ctx, text("done"))
	})
	addr := l.Addr()
	s := e.dial(addr)
	e.send(s, text("hold"))
	select {
	case <-held:
	case <-time.After(Wait):
		e.t.Fatal("the held stream was not accepted")
	}
	shut := make(chan error, 1)
	go func() { shut <- l.Shutdown(e.ctx()) }()

	// New streams must eventually be refused.
	refused := false
	for deadline := time.Now().Add(Wait); time.Now().Before(deadline); {
		err := func() error {
			ctx := e.ctx()
			p, err := e.tr.Dial(ctx, addr)
			if err != nil {
				return err
			}
			defer func() { _ = p.Close() }()
			if err := p.Send(ctx, text("probe")); err != nil {
				return err
			}
			var m transport.Message
			return p.Recv(ctx, &m)
		}()
		if errors.Is(err, context.DeadlineExceeded) {
			e.t.Fatalf("a stream opened during Shutdown hung: %v", err)
		}
		if err != nil {
			refused = true
			break
		}
		time.Sleep(time.Millisecond) // pacing a poll, not synchronisation
	}
	if !refused {
		e.t.Fatal("new streams were still accepted during Shutdown")
	}
	select {
	case err := <-shut:
		e.t.Fatalf("Shutdown returned (%v) while a stream was open", err)
	default:
	}
	close(release)
	if got := e.recv(s); string(got.Body) != "done" {
		e.t.Fatalf("in-flight stream got %q, want done", got.Body)
	}
	e.recvEOF(s)
	_ = s.Close()
	select {
	case err := <-shut:
		if err != nil {
			e.t.Errorf("Shutdown = %v, want nil", err)
		}
	case <-time.After(Wait):
		e.t.Fatal("Shutdown did not return after the last stream closed")
	}
}

func testTransportClose(e *env) {
	l := e.serve(echo)
	s := e.dial(l.Addr())
	e.send(s, text("hi"))
	e.recv(s)
	for range 2 {
		if err := e.tr.Close(); err != nil {
			e.t.Errorf("Transport.Close: %v", err)
		}
	}
	ctx := e.ctx()
	var m transport.Message
	if err := s.Recv(ctx, &m); err == nil || ctx.Err() != nil {
		e.t.Errorf("Recv on a socket of a closed transport = %v, want a prompt error", err)
	}
	if _, err := e.tr.Dial(ctx, l.Addr()); err == nil {
		e.t.Errorf("Dial on a closed transport succeeded")
	}
}

func testFlowControl(e *env) {
	if e.cfg.SkipFlowControl {
		e.t.Skip("Config.SkipFlowControl")
	}
	release := make(chan struct{})
	count := make(chan int, 1)
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		if string(m.Body) != "slow" {
			_ = s.Send(ctx, &m)
			echo(ctx, s)
			return
		}
		select {
		case <-release:
		case <-ctx.Done():
			return
		}
		n := 0
		for s.Recv(ctx, &m) == nil {
			n++
		}
		count <- n
	})
	s := e.dial(l.Addr())
	e.send(s, text("slow"))
	body := make([]byte, 64<<10)
	sent, blocked := 0, false
	for range 1024 { // 64 MiB
		ctx, cancel := context.WithTimeout(e.t.Context(), 100*time.Millisecond)
		err := s.Send(ctx, &transport.Message{Body: body})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			blocked = true
			break
		}
		if err != nil {
			e.t.Fatalf("Send %d: %v", sent, err)
		}
		sent++
	}
	if !blocked {
		e.t.Fatalf("Send to a receiver that does not read never blocked (%d messages of %d bytes)", sent, len(body))
	}
	// Another stream on the same transport is not stalled.
	o := e.dial(l.Addr())
	e.send(o, text("other"))
	if got := e.recv(o); string(got.Body) != "other" {
		e.t.Fatalf("other stream echo = %q", got.Body)
	}
	close(release)
	if err := s.CloseSend(); err != nil {
		e.t.Fatalf("CloseSend: %v", err)
	}
	select {
	case n := <-count:
		if n != sent && n != sent+1 {
			e.t.Errorf("receiver read %d messages, sender sent %d (+1 timed out)", n, sent)
		}
	case <-time.After(Wait):
		e.t.Fatal("receiver did not finish draining")
	}
}

// testCloseRaces closes sockets while Send, Recv and CloseSend run on them
// from other goroutines; every call must return.
func testCloseRaces(e *env) {
	l := e.serve(echo)
	for i := range 50 {
		s := e.dial(l.Addr())
		if i%2 == 0 {
			e.send(s, text("open"))
		}
		ctx := e.ctx()
		var wg sync.WaitGroup
		wg.Go(func() {
			for s.Send(ctx, text("x")) == nil {
			}
		})
		wg.Go(func() {
			var m transport.Message
			for s.Recv(ctx, &m) == nil {
			}
		})
		wg.Go(func() { _ = s.CloseSend() })
		wg.Go(func() { _ = s.Close() })
		wg.Go(func() { _ = s.Close() })
		wg.Wait()
		if ctx.Err() != nil {
			e.t.Fatalf("round %d: a call racing Close hung until the deadline", i)
		}
		if err := s.Send(e.ctx(), text("late")); !errors.Is(err, transport.ErrClosed) {
			e.t.Fatalf("round %d: Send after Close = %v, want ErrClosed", i, err)
		}
	}
}

// testDialDuringShutdown opens streams while the listener shuts down; each
// is served or fails, none hangs, and Shutdown returns.
func testDialDuringShutdown(e *env) {
	for round := range 5 {
		l := e.serve(echo)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				ctx := e.ctx()
				for range 5 {
					s, err := e.tr.Dial(ctx, l.Addr())
					if err != nil {
						return
					}
					err = s.Send(ctx, text("x"))
					if err == nil {
						var m transport.Message
						err = s.Recv(ctx, &m)
					}
					_ = s.Close()
					if ctx.Err() != nil {
						e.t.Errorf("round %d: a stream opened during Shutdown hung: %v", round, err)
						return
					}
					if err != nil {
						return
					}
				}
			})
		}
		close(start)
		if err := l.Shutdown(e.ctx()); err != nil {
			e.t.Errorf("round %d: Shutdown = %v", round, err)
		}
		wg.Wait()
	}
}

// testQueuedCallsCancel: a Recv (or Send) waiting behind another one
// that is blocked without a deadline still honours its own ctx.
func testQueuedCallsCancel(e *env) {
	release := make(chan struct{})
	l := e.serve(func(ctx context.Context, s transport.Socket) {
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		select { // read nothing more until released
		case <-release:
		case <-ctx.Done():
		}
	})
	s := e.dial(l.Addr())
	e.send(s, text("hello"))
	t := e.t
	// Recv: the first blocks with no deadline, the second must time out.
	first := make(chan error, 1)
	bg, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		var m transport.Message
		first <- s.Recv(bg, &m)
	}()
	// Give the first Recv every chance to hold the socket: the second
	// must time out either way.
	for range 100 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
	done := make(chan error, 1)
	go func() {
		var m transport.Message
		done <- s.Recv(ctx, &m)
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued Recv = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(Wait):
		t.Fatal("a Recv queued behind another ignored its ctx")
	}
	cancel()
	stop()
	<-first
	// Send: fill the peer's buffer until one Send blocks without a
	// deadline; a second Send queued behind it must time out.
	if e.cfg.SkipFlowControl {
		close(release)
		return
	}
	blocked := make(chan error, 1)
	bg2, stop2 := context.WithCancel(context.Background())
	defer stop2()
	go func() {
		var err error
		for err == nil {
			err = s.Send(bg2, &transport.Message{Body: make([]byte, 64<<10)})
		}
		blocked <- err
	}()
	for {
		ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- s.Send(ctx, text("queued")) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(Wait):
			cancel()
			t.Fatal("a Send queued behind another ignored its ctx")
		}
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("Send = %v", err)
		}
	}
	stop2()
	if err := <-blocked; !errors.Is(err, context.Canceled) {
		t.Errorf("blocked Send = %v, want context.Canceled", err)
	}
	close(release)
}
