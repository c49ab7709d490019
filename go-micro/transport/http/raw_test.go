package http

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
)

// noLeaks checks, when the test and its cleanups are done, that no
// goroutine started during the test is still running. Call it first so
// that its cleanup runs last.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// rawUpgrade opens a TCP connection to addr and performs the upgrade by
// hand, returning the connection and a reader for the frames that follow.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *frameReader) {
	t.Helper()
	nc := rawDial(t, addr)
	if _, err := fmt.Fprintf(nc, upgradeRequest, addr); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	if resp.StatusCode != nethttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %s", resp.Status)
	}
	return nc, &frameReader{r: br, max: 64 << 20}
}

func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	nc, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

func write(t *testing.T, w io.Writer, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// nextFrame reads one frame, failing the test after wait.
func nextFrame(t *testing.T, nc net.Conn, fr *frameReader) (frameHeader, []byte, error) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	h, p, err := fr.readFrame()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no frame within %v", wait)
	}
	return h, p, err
}

// expectClosed reads until the peer closes the connection.
func expectClosed(t *testing.T, nc net.Conn, fr *frameReader) {
	t.Helper()
	for {
		if _, _, err := nextFrame(t, nc, fr); err != nil {
			return
		}
	}
}

// expectReset reads frames until a RESET for id, and checks its code.
func expectReset(t *testing.T, nc net.Conn, fr *frameReader, id, code uint32) {
	t.Helper()
	for {
		h, p, err := nextFrame(t, nc, fr)
		if err != nil {
			t.Fatalf("connection failed (%v) before a RESET of stream %d", err, id)
		}
		if h.typ == frameReset && h.id == id {
			if got := binary.BigEndian.Uint32(p); got != code {
				t.Fatalf("stream %d reset with code %d, want %d", id, got, code)
			}
			return
		}
	}
}

// expectEcho reads frames until a DATA frame on id and checks its body.
func expectEcho(t *testing.T, nc net.Conn, fr *frameReader, id uint32, body string) {
	t.Helper()
	for {
		h, p, err := nextFrame(t, nc, fr)
		if err != nil {
			t.Fatalf("connection failed (%v) before the echo on stream %d", err, id)
		}
		if h.typ == frameReset && h.id == id {
			t.Fatalf("stream %d reset (code %d), want an echo", id, binary.BigEndian.Uint32(p))
		}
		if h.typ == frameData && h.id == id && len(p) > 0 {
			_, b, err := decodeMessage(p)
			if err != nil || string(b) != body {
				t.Fatalf("echo on stream %d = %q (%v), want %q", id, b, err, body)
			}
			return
		}
	}
}

// resetThenWorks expects a RESET of id with code, and then an echo on a
// new stream of the same connection.
func resetThenWorks(id, code uint32) func(t *testing.T, nc net.Conn, fr *frameReader) {
	return func(t *testing.T, nc net.Conn, fr *frameReader) {
		t.Helper()
		expectReset(t, nc, fr, id, code)
		write(t, nc, msgFrame(id+2, "after"))
		expectEcho(t, nc, fr, id+2, "after")
	}
}

func msgFrame(id uint32, body string) []byte { return dataFrame(0, id, nil, []byte(body)) }

func ctrlFrame(typ uint8, id, v uint32) []byte { return appendCtrlFrame(nil, typ, id, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestSlowlorisHandshake: a client that connects and never finishes the
// upgrade costs the server nothing past Options.Timeout, and never holds
// up Shutdown or Close.
func TestSlowlorisHandshake(t *testing.T) {
	noLeaks(t)
	t.Run("timeout", func(t *testing.T) {
		l := serveEcho(t, newHTTP(t, transport.Timeout(100*time.Millisecond)))
		for _, partial := range []string{"", "GET / HTTP/1.1\r\nHost: x\r\n"} {
			nc := rawDial(t, l.Addr())
			write(t, nc, []byte(partial))
			_ = nc.SetReadDeadline(time.Now().Add(wait))
			_, err := io.ReadAll(nc)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("after %q the server kept the connection past its handshake timeout", partial)
			}
		}
		ll := l.(*listener)
		testenv.WaitFor(t, "handshake goroutines gone", func() bool {
			ll.mu.Lock()
			defer ll.mu.Unlock()
			return len(ll.raw) == 0
		})
		if err := roundTrip(t, newHTTP(t), l.Addr(), "still serving"); err != nil {
			t.Fatal(err)
		}
	})
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			l := serveEcho(t, newHTTP(t, transport.Timeout(time.Hour)))
			rawDial(t, l.Addr())
			nc := rawDial(t, l.Addr())
			write(t, nc, []byte("GET / HTTP/1.1\r\n"))
			ll := l.(*listener)
			testenv.WaitFor(t, "both connections accepted", func() bool {
				ll.mu.Lock()
				defer ll.mu.Unlock()
				return len(ll.raw) == 2
			})
			done := make(chan error, 1)
			go func() {
				if stop == "Shutdown" {
					done <- l.Shutdown(context.Background())
				} else {
					done <- l.Close()
				}
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s = %v", stop, err)
				}
			case <-time.After(wait):
				t.Fatalf("%s hung on connections that never upgraded", stop)
			}
		})
	}
}

// TestHandshakeHeaderFlood: an upgrade request with an endless header is
// cut off instead of being buffered until the handshake timeout.
func TestHandshakeHeaderFlood(t *testing.T) {
	noLeaks(t)
	l := serveEcho(t, newHTTP(t, transport.Timeout(time.Hour)))
	nc := rawDial(t, l.Addr())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { _ = nc.Close() })
	wg.Go(func() {
		chunk := []byte(strings.Repeat("a", 64<<10))
		if _, err := nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Flood: ")); err != nil {
			return
		}
		for range 128 { // 8 MiB
			if _, err := nc.Write(chunk); err != nil {
				return
			}
		}
	})
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	resp, err := nethttp.ReadResponse(bufio.NewReader(nc), nil)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept reading an endless upgrade request")
	}
	if err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode != nethttp.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("answer to an endless upgrade request: %s, want 431", resp.Status)
		}
	}
}

// TestMalformedFramesFromClient sends broken frames from a hand-rolled
// client. The server resets the stream or closes that connection; it never
// panics, and the listener's other connections carry on.
func TestMalformedFramesFromClient(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t, transport.MaxMessageSize(1<<10))
	l := serveEcho(t, tr)
	client := newHTTP(t)
	if err := roundTrip(t, client, l.Addr(), "before"); err != nil {
		t.Fatal(err)
	}
	good := client.conns(l.Addr())[0]

	tests := []struct {
		name  string
		in    []byte
		check func(t *testing.T, nc net.Conn, fr *frameReader)
	}{
		{"unknown type", appendFrameHeader(nil, 9, 0, 1, 0), expectClosed},
		{"unknown type with payload", cat(appendFrameHeader(nil, 200, 0, 1, 3), []byte("abc")), expectClosed},
		{"data on stream 0", msgFrame(0, "x"), expectClosed},
		{"control frame with a long payload", cat(appendFrameHeader(nil, frameWindow, 0, 1, 8), make([]byte, 8)), expectClosed},
		{"control frame with no payload", appendFrameHeader(nil, frameReset, 0, 1, 0), expectClosed},
		{"truncated header then EOF", []byte{frameData, 0, 0}, expectClosed},
		{"truncated payload then EOF", cat(appendFrameHeader(nil, frameData, 0, 1, 100), make([]byte, 10)), expectClosed},
		{"length far beyond the limit then EOF", appendFrameHeader(nil, frameData, 0, 1, 1<<31), expectClosed},
		{"zero-length garbage frames", cat(appendFrameHeader(nil, frameData, 0, 1, 0), appendFrameHeader(nil, frameData, 0, 1, 0), msgFrame(1, "ok")),
			func(t *testing.T, nc net.Conn, fr *frameReader) { expectEcho(t, nc, fr, 1, "ok") }},
		{"even stream id ignored", cat(msgFrame(2, "even"), msgFrame(1, "odd")),
			func(t *testing.T, nc net.Conn, fr *frameReader) { expectEcho(t, nc, fr, 1, "odd") }},
		{"control frames for unknown streams ignored", cat(ctrlFrame(frameWindow, 7, 5), ctrlFrame(frameReset, 9, 3), ctrlFrame(frameGoAway, 0, 1), ctrlFrame(frameWindow, 0, 1), msgFrame(1, "ok")),
			func(t *testing.T, nc net.Conn, fr *frameReader) { expectEcho(t, nc, fr, 1, "ok") }},
		{"data on a reset stream ignored", cat(msgFrame(1, "one"), ctrlFrame(frameReset, 1, codeClosed), msgFrame(1, "stale"), msgFrame(3, "three")),
			func(t *testing.T, nc net.Conn, fr *frameReader) { expectEcho(t, nc, fr, 3, "three") }},
		{"stream id going backwards ignored", cat(msgFrame(5, "five"), msgFrame(3, "old"), msgFrame(7, "seven")),
			func(t *testing.T, nc net.Conn, fr *frameReader) { expectEcho(t, nc, fr, 7, "seven") }},
		{"message over the limit", msgFrame(1, strings.Repeat("x", 2<<10)), resetThenWorks(1, codeTooLarge)},
		{"malformed message", cat(appendFrameHeader(nil, frameData, 0, 1, 2), []byte{5, 1}), resetThenWorks(1, codeProtocol)},
		{"window overflowing the credit", cat(msgFrame(1, "x"), ctrlFrame(frameWindow, 1, 1<<31), ctrlFrame(frameWindow, 1, 1<<31), ctrlFrame(frameWindow, 1, 1<<31)),
			resetThenWorks(1, codeFlowControl)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nc, fr := rawUpgrade(t, l.Addr())
			write(t, nc, tc.in)
			if tc.check == nil {
				return
			}
			if strings.HasSuffix(tc.name, "then EOF") {
				_ = nc.(*net.TCPConn).CloseWrite()
			}
			tc.check(t, nc, fr)
			// Other connections are unaffected.
			if err := roundTrip(t, client, l.Addr(), "after "+tc.name); err != nil {
				t.Fatal(err)
			}
			if c := client.conns(l.Addr()); len(c) != 1 || c[0] != good {
				t.Fatal("the well-behaved client's connection was replaced")
			}
		})
	}
}

// TestFlowControlViolationFromClient: a client that sends past its credit
// gets its stream reset, and the server does not buffer without bound.
func TestFlowControlViolationFromClient(t *testing.T) {
	noLeaks(t)
	tr := newHTTP(t, transport.MaxMessageSize(1<<10))
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	accepted := make(chan error, 1)
	go func() {
		accepted <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			<-release // never reads until the test ends
		})
	}()
	t.Cleanup(func() { close(release); _ = l.Close(); <-accepted })
	nc, fr := rawUpgrade(t, l.Addr())
	frame := msgFrame(1, strings.Repeat("x", 1000))
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		for range (streamWindow + 2<<10) / len(frame) * 2 {
			if _, err := nc.Write(frame); err != nil {
				return
			}
		}
	})
	expectReset(t, nc, fr, 1, codeFlowControl)
}

// TestControlFrameFlood: a client that provokes RESET frames without ever
// reading them is disconnected instead of making the server queue them
// without bound. A pipe stands in for TCP so that the server's writes
// block at once.
func TestControlFrameFlood(t *testing.T) {
	noLeaks(t)
	l, nc, fr := pipeListener(t, transport.MaxMessageSize(16), func(s transport.Socket) { _ = s.Close() })
	_ = fr
	frame := msgFrame(1, strings.Repeat("x", 32)) // over the limit: answered with a RESET
	done := make(chan error, 1)
	go func() {
		for range 4 * maxCtrlQueue / frameHeaderLen { // far more RESETs than the queue holds
			if _, err := nc.Write(frame); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the server read every frame while its RESETs piled up unread")
		}
	case <-time.After(wait):
		t.Fatal("flood neither finished nor was cut off")
	}
	_ = l
}

// pipeListener serves one connection over net.Pipe, whose writes block
// until the other end reads, and returns the client end after the
// upgrade.
func pipeListener(t *testing.T, opt transport.Option, fn func(transport.Socket)) (*listener, net.Conn, *frameReader) {
	t.Helper()
	tr := newHTTP(t, opt)
	ln, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := ln.(*listener)
	l.fn = fn
	srv, cli := net.Pipe()
	l.mu.Lock()
	l.raw[srv] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go l.serveConn(srv)
	t.Cleanup(func() { _ = cli.Close(); _ = l.Close() })
	br := bufio.NewReader(cli)
	go func() { _, _ = fmt.Fprintf(cli, upgradeRequest, "pipe") }()
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != nethttp.StatusSwitchingProtocols {
		t.Fatalf("upgrade over a pipe: %v", err)
	}
	return l, cli, &frameReader{r: br, max: 64 << 20}
}

// TestShutdownWithStalledClient: Shutdown honours its ctx even when a
// client stopped reading and the server's writes are stuck.
func TestShutdownWithStalledClient(t *testing.T) {
	noLeaks(t)
	sending := make(chan struct{}, 1)
	var handlers testenv.Group
	t.Cleanup(handlers.Wait)
	l, nc, _ := pipeListener(t, transport.MaxMessageSize(1<<20), func(s transport.Socket) {
		defer s.Close()
		if !handlers.Enter() {
			return
		}
		defer handlers.Leave()
		signal(sending)
		for s.Send(context.Background(), &transport.Message{Body: make([]byte, 64<<10)}) == nil {
		}
	})
	go func() { _, _ = nc.Write(msgFrame(1, "go")) }() // and never read
	select {
	case <-sending:
	case <-time.After(wait):
		t.Fatal("stream not accepted")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want its ctx's error", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown ignored its ctx while a client was not reading")
	}
}

// TestShutdownWithClientThatNeverHangsUp: once every accepted socket is
// closed, Shutdown gives a client that ignores the half-close at most
// Options.Timeout to hang up.
func TestShutdownWithClientThatNeverHangsUp(t *testing.T) {
	noLeaks(t)
	l := serveEcho(t, newHTTP(t, transport.Timeout(100*time.Millisecond)))
	nc, fr := rawUpgrade(t, l.Addr())
	write(t, nc, cat(msgFrame(1, "hi"), appendFrameHeader(nil, frameData, flagEnd, 1, 0)))
	expectEcho(t, nc, fr, 1, "hi")
	done := make(chan error, 1)
	go func() { done <- l.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Shutdown waited for a client that never hangs up")
	}
}

// rawServer listens on a loopback port and, for each connection, answers
// the upgrade and then runs fn with the connection.
func rawServer(t *testing.T, fn func(nc net.Conn, fr *frameReader)) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Go(func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				if _, err := nethttp.ReadRequest(br); err != nil {
					return
				}
				if _, err := io.WriteString(nc, upgradeResponse); err != nil {
					return
				}
				fn(nc, &frameReader{r: br, max: 64 << 20})
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, nc := range conns {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestMalformedFramesFromServer is TestMalformedFramesFromClient the other
// way round: a hand-rolled server answers the client's first message with
// broken frames.
func TestMalformedFramesFromServer(t *testing.T) {
	noLeaks(t)
	closed := func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error) {
		t.Helper()
		if !errors.Is(err, transport.ErrClosed) {
			t.Fatalf("Recv = %v, want ErrClosed", err)
		}
		testenv.WaitFor(t, "broken connection left the pool", func() bool { return len(tr.conns(addr)) == 0 })
	}
	streamReset := func(want error) func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error) {
		return func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error) {
			t.Helper()
			if !errors.Is(err, want) || !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Recv = %v, want %v and ErrClosed", err, want)
			}
			if c := tr.conns(addr); len(c) != 1 || c[0].closed() {
				t.Fatal("a stream error closed the connection")
			}
		}
	}
	tests := []struct {
		name      string
		reply     []byte
		after     func(nc net.Conn) // then, e.g. close
		check     func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error)
		wantReset uint32 // a RESET the server must receive for stream 1; 0: none
	}{
		{name: "unknown type", reply: appendFrameHeader(nil, 9, 0, 1, 0), check: closed},
		{name: "data on stream 0", reply: msgFrame(0, "x"), check: closed},
		{name: "control frame with a long payload", reply: cat(appendFrameHeader(nil, frameWindow, 0, 1, 8), make([]byte, 8)), check: closed},
		{name: "truncated payload then EOF", reply: cat(appendFrameHeader(nil, frameData, 0, 1, 100), make([]byte, 10)),
			after: func(nc net.Conn) { _ = nc.(*net.TCPConn).CloseWrite() }, check: closed},
		{name: "goaway before the stream", reply: ctrlFrame(frameGoAway, 0, 0), check: func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error) {
			if !errors.Is(err, transport.ErrClosed) {
				t.Fatalf("Recv = %v, want ErrClosed", err)
			}
			testenv.WaitFor(t, "connection told GOAWAY left the pool", func() bool { return len(tr.conns(addr)) == 0 })
		}},
		{name: "message over the limit", reply: msgFrame(1, strings.Repeat("x", 2<<10)),
			check: streamReset(transport.ErrMessageTooLarge), wantReset: codeTooLarge},
		{name: "malformed message", reply: cat(appendFrameHeader(nil, frameData, 0, 1, 2), []byte{5, 1}),
			check: streamReset(transport.ErrClosed), wantReset: codeProtocol},
		{name: "frames for unknown streams ignored",
			reply: cat(msgFrame(2, "even"), msgFrame(99, "never opened"), ctrlFrame(frameReset, 5, 1), ctrlFrame(frameWindow, 0, 9), msgFrame(1, "ok")),
			check: func(t *testing.T, tr *httpTransport, addr string, s transport.Socket, err error) {
				if err != nil {
					t.Fatalf("Recv = %v, want the message on stream 1", err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan uint32, 16)
			addr := rawServer(t, func(nc net.Conn, fr *frameReader) {
				h, _, err := fr.readFrame()
				if err != nil || h.typ != frameData || h.id != 1 {
					return
				}
				if _, err := nc.Write(tc.reply); err != nil {
					return
				}
				if tc.after != nil {
					tc.after(nc)
				}
				for {
					h, p, err := fr.readFrame()
					if err != nil {
						return
					}
					if h.typ == frameReset && h.id == 1 {
						got <- binary.BigEndian.Uint32(p)
					}
				}
			})
			tr := newHTTP(t, transport.MaxMessageSize(1<<10))
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			s, err := tr.Dial(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Send(ctx, &transport.Message{Body: []byte("hello")}); err != nil {
				t.Fatal(err)
			}
			var m transport.Message
			err = s.Recv(ctx, &m)
			if ctx.Err() != nil {
				t.Fatal("Recv hung on a broken reply")
			}
			tc.check(t, tr, addr, s, err)
			if tc.wantReset != 0 {
				select {
				case code := <-got:
					if code != tc.wantReset {
						t.Fatalf("server got RESET code %d, want %d", code, tc.wantReset)
					}
				case <-time.After(wait):
					t.Fatalf("the client did not reset the stream")
				}
			}
		})
	}
}

// TestWindowOverflowFromServer: credit beyond what a window can hold
// resets the stream instead of wrapping around.
func TestWindowOverflowFromServer(t *testing.T) {
	noLeaks(t)
	got := make(chan uint32, 1)
	addr := rawServer(t, func(nc net.Conn, fr *frameReader) {
		if _, _, err := fr.readFrame(); err != nil {
			return
		}
		for range 3 {
			if _, err := nc.Write(ctrlFrame(frameWindow, 1, 1<<31)); err != nil {
				return
			}
		}
		for {
			h, p, err := fr.readFrame()
			if err != nil {
				return
			}
			if h.typ == frameReset {
				got <- binary.BigEndian.Uint32(p)
				return
			}
		}
	})
	tr := newHTTP(t)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	s, err := tr.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sendErr error
	for sendErr == nil && ctx.Err() == nil {
		sendErr = s.Send(ctx, &transport.Message{Body: []byte("x")})
	}
	if !errors.Is(sendErr, transport.ErrClosed) || ctx.Err() != nil {
		t.Fatalf("Send after an overflowing WINDOW = %v, want a flow-control reset", sendErr)
	}
	select {
	case code := <-got:
		if code != codeFlowControl {
			t.Fatalf("RESET code %d, want %d", code, codeFlowControl)
		}
	case <-time.After(wait):
		t.Fatal("the client did not reset the stream")
	}
}
