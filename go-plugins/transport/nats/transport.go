package nats

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

func init() {
	transport.Register("nats", NewTransport)
}

var (
	// ErrPeerGone is matched by the errors of a stream whose peer
	// vanished: the NATS server reported that nothing subscribes to the
	// peer's subject any more, or the peer did not answer a keepalive PING
	// in time. Such errors match transport.ErrClosed as well.
	ErrPeerGone = errors.New("transport/nats: peer gone")
	// ErrConnectionLost is matched by the errors of the streams that were
	// open when the connection to the NATS server broke (frames sent to
	// them meanwhile are lost, so they cannot go on). They match
	// transport.ErrClosed as well. Dial and Listen work again once the
	// client has reconnected.
	ErrConnectionLost = errors.New("transport/nats: connection to the nats server lost")
	// ErrRefused is matched by the error of a Dial that a listener
	// refused because it is shutting down, and by the errors of streams it
	// had accepted but not yet handed to Accept. It matches
	// transport.ErrClosed as well.
	ErrRefused = errors.New("transport/nats: stream refused by the listener")
	// ErrReset is matched by the errors of a stream that its peer reset
	// (closed with an error); they match transport.ErrClosed as well.
	ErrReset = errors.New("transport/nats: stream reset by the peer")
	// ErrProtocol is matched by the errors of a stream that received a
	// malformed or unexpected frame, or found frames missing; the stream
	// is reset. They match transport.ErrClosed as well.
	ErrProtocol = errors.New("transport/nats: protocol error")
	// ErrInvalidSubject is returned by Dial and Listen for an address that
	// is not a NATS subject one can publish to.
	ErrInvalidSubject = errors.New("transport/nats: invalid subject")

	errNilMessage  = errors.New("transport/nats: nil message")
	errAcceptTwice = errors.New("transport/nats: Accept called twice")
)

// closedError builds an error that matches kind and transport.ErrClosed.
func closedError(kind error, detail string) error {
	return fmt.Errorf("%w: %s (%w)", kind, detail, transport.ErrClosed)
}

// queueGroup is the queue group of every listener subscription: two
// listeners on one subject share its streams instead of both answering.
const queueGroup = "micro-transport"

// NewTransport connects to NATS and returns the transport. It reads
// Options.Addrs (default [DefaultAddr]), Options.TLS, Options.Timeout (the
// connect timeout, and the bound of a Dial's handshake),
// Options.MaxMessageSize and the plugin's own options ([ConnOptions],
// [SubjectPrefix], [Window], [Keepalive], [Logger]). It fails when no
// server in Addrs answers.
func NewTransport(opts ...transport.Option) (transport.Transport, error) {
	t, err := newTransport(opts...)
	if err != nil {
		return nil, err
	}
	return t, nil
}

type natsTransport struct {
	s     settings
	nc    *natsgo.Conn
	inbox string // prefix of this transport's stream subjects, ending in "."
	sub   *natsgo.Subscription

	pongs atomic.Int64 // PONGs received: keepalive answers (tests watch it)

	mu        sync.RWMutex
	streams   map[string]*stream // by id: the subject's last token
	listeners map[*listener]struct{}
	up        chan struct{} // closed while connected
	closed    bool
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup
}

func newTransport(opts ...transport.Option) (*natsTransport, error) {
	s, err := newSettings(opts...)
	if err != nil {
		return nil, fmt.Errorf("transport/nats: %w", err)
	}
	t := &natsTransport{
		s:         s,
		streams:   make(map[string]*stream),
		listeners: make(map[*listener]struct{}),
		up:        make(chan struct{}),
		done:      make(chan struct{}),
	}
	close(t.up)

	no := natsgo.GetDefaultOptions()
	no.Name = "micro transport"
	no.Timeout = s.timeout
	no.MaxReconnect = -1
	if s.tls != nil {
		no.Secure = true
		no.TLSConfig = s.tls.Clone()
	}
	for _, opt := range s.conn {
		if err := opt(&no); err != nil {
			return nil, fmt.Errorf("transport/nats: %w", err)
		}
	}
	no.Url = ""
	no.Servers = s.addrs
	disconnected, reconnected, closed, asyncErr := no.DisconnectedErrCB, no.ReconnectedCB, no.ClosedCB, no.AsyncErrorCB
	no.DisconnectedErrCB = func(nc *natsgo.Conn, err error) {
		t.onDisconnect(err)
		if disconnected != nil {
			disconnected(nc, err)
		}
	}
	no.ReconnectedCB = func(nc *natsgo.Conn) {
		t.onReconnect(nc)
		if reconnected != nil {
			reconnected(nc)
		}
	}
	no.ClosedCB = func(nc *natsgo.Conn) {
		t.onClosed(nc)
		if closed != nil {
			closed(nc)
		}
	}
	no.AsyncErrorCB = func(nc *natsgo.Conn, sub *natsgo.Subscription, err error) {
		subject := ""
		if sub != nil {
			subject = sub.Subject
		}
		t.s.log.Warn("transport/nats: error from the nats client", "subject", subject, "error", err)
		if asyncErr != nil {
			asyncErr(nc, sub, err)
		}
	}
	nc, err := no.Connect()
	if err != nil {
		return nil, fmt.Errorf("transport/nats: connect to %s: %w", strings.Join(s.addrs, ","), err)
	}
	t.nc = nc
	t.inbox = nc.NewInbox() + "."
	sub, err := nc.Subscribe(t.inbox+"*", t.onInbox)
	if err == nil {
		// Streams bound what is in flight; the client must never drop.
		err = sub.SetPendingLimits(-1, -1)
	}
	if err != nil {
		t.mu.Lock()
		t.closed = true // the handlers have nothing to report
		close(t.done)
		t.mu.Unlock()
		nc.Close()
		return nil, fmt.Errorf("transport/nats: subscribe to %s*: %w", t.inbox, err)
	}
	t.sub = sub
	if s.keepalive > 0 {
		t.wg.Go(t.keepaliveLoop)
	}
	return t, nil
}

func (t *natsTransport) String() string { return "nats" }

// Dial opens a stream to the listener at the subject addr: it sends OPEN
// and waits for the listener's ACCEPT, at most Options.Timeout.
func (t *natsTransport) Dial(ctx context.Context, addr string, _ ...transport.DialOption) (transport.Socket, error) {
	if err := validSubject(addr); err != nil {
		return nil, fmt.Errorf("transport/nats: dial: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, t.s.timeout)
	defer cancel()
	if err := t.waitUp(hctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("transport/nats: dial %s: not connected to the nats server within %v", addr, t.s.timeout)
		}
		return nil, err
	}
	s := t.newStream(addr)
	s.remote = addr
	if !t.register(s) {
		return nil, transport.ErrClosed
	}
	if err := s.sendOpen(addr); err != nil {
		s.forget()
		return nil, fmt.Errorf("transport/nats: dial %s: %w", addr, err)
	}
	select {
	case <-s.accepted:
	case <-hctx.Done():
		s.forget()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("transport/nats: dial %s: no answer within %v", addr, t.s.timeout)
	case <-t.done:
		s.forget()
		return nil, transport.ErrClosed
	}
	s.mu.Lock()
	err := s.err
	s.mu.Unlock()
	if err != nil {
		s.forget()
		if errors.Is(err, natsgo.ErrNoResponders) {
			hint := ""
			if isHostPort(addr) {
				hint = " (the nats transport dials subjects, not host:port: does the service use the nats transport too?)"
			}
			return nil, fmt.Errorf("transport/nats: dial %s: nothing listens on that subject%s: %w", addr, hint, natsgo.ErrNoResponders)
		}
		return nil, fmt.Errorf("transport/nats: dial %s: %w", addr, err)
	}
	return s, nil
}

// waitUp waits until the client is connected (it may be reconnecting).
func (t *natsTransport) waitUp(ctx context.Context) error {
	t.mu.RLock()
	closed, up := t.closed, t.up
	t.mu.RUnlock()
	if closed {
		return transport.ErrClosed
	}
	select {
	case <-up:
		return nil
	case <-t.done:
		return transport.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Listen subscribes to a subject and returns its listener. A host:port
// address (such as the server's default "127.0.0.1:0") or an empty one
// gets a fresh subject, [SubjectPrefix] + "." + a random id; any other
// address is the subject. Listeners on one subject share its streams
// (a queue group).
func (t *natsTransport) Listen(ctx context.Context, addr string, _ ...transport.ListenOption) (transport.Listener, error) {
	subject := addr
	if addr == "" || isHostPort(addr) {
		subject = t.s.prefix + "." + randomID()
	}
	if err := validSubject(subject); err != nil {
		return nil, fmt.Errorf("transport/nats: listen: %w", err)
	}
	l := newListener(t, subject)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, transport.ErrClosed
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	sub, err := t.nc.QueueSubscribe(subject, queueGroup, l.onOpen)
	if err == nil {
		err = sub.SetPendingLimits(-1, -1)
	}
	if err == nil {
		l.mu.Lock()
		l.sub = sub
		l.mu.Unlock()
		// The subscription must reach the server before the subject is
		// advertised, or the first Dials would find nobody.
		fctx, cancel := context.WithTimeout(ctx, t.s.timeout)
		err = t.nc.FlushWithContext(fctx)
		cancel()
	}
	if err != nil {
		_ = l.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("transport/nats: listen on %s: %w", subject, err)
	}
	return l, nil
}

// Close closes every listener and stream of the transport, resetting the
// streams so that their peers learn at once, and then the connection.
func (t *natsTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	close(t.done)
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	ss := make([]*stream, 0, len(t.streams))
	for _, s := range t.streams {
		ss = append(ss, s)
	}
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}
	for _, s := range ss {
		s.close(codeClosed, "transport closed")
	}
	t.wg.Wait()
	t.nc.Close() // writes what is buffered (the RESETs) first
	return nil
}

// newStream returns a stream with a fresh subject of this transport;
// remote, credit and the handshake state are the caller's to set.
func (t *natsTransport) newStream(remoteAddr string) *stream {
	id := streamID()
	s := &stream{
		t:        t,
		id:       id,
		local:    t.inbox + id,
		maxMsg:   t.s.maxMsg,
		window:   t.s.window,
		lastRecv: time.Now(),
		sendSem:  make(sem, 1),
		recvSem:  make(sem, 1),
		readable: make(chan struct{}, 1),
		writable: make(chan struct{}, 1),
		dead:     make(chan struct{}),
		accepted: make(chan struct{}),
	}
	s.laddr, s.raddr = s.local, remoteAddr
	return s
}

// register adds s to the streams that onInbox serves; false once closed.
func (t *natsTransport) register(s *stream) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.streams[s.id] = s
	return true
}

func (t *natsTransport) unregister(s *stream) {
	t.mu.Lock()
	if t.streams[s.id] == s {
		delete(t.streams, s.id)
	}
	t.mu.Unlock()
}

func (t *natsTransport) removeListener(l *listener) {
	t.mu.Lock()
	delete(t.listeners, l)
	t.mu.Unlock()
}

// onInbox receives every frame sent to this transport's streams.
func (t *natsTransport) onInbox(m *natsgo.Msg) {
	id := strings.TrimPrefix(m.Subject, t.inbox)
	t.mu.RLock()
	s := t.streams[id]
	t.mu.RUnlock()
	if s != nil {
		s.receive(m)
		return
	}
	if len(m.Header) > 0 {
		return // a status message (no responders) for a stream now gone
	}
	// A frame for a stream that is gone: tell the sender, unless the
	// frame itself says the stream is over or asks for nothing.
	f, err := parseFrame(m.Data)
	if err != nil {
		return
	}
	switch f.typ {
	case frameAccept, frameData, frameEnd, framePing:
		t.replyReset(m.Reply, codeUnknown, "no such stream")
	}
}

// replyReset answers a frame outside any stream with RESET.
func (t *natsTransport) replyReset(reply string, code byte, reason string) {
	if validSubject(reply) != nil {
		return
	}
	_ = t.nc.Publish(reply, appendFrame(nil, frameReset, 0, 0, uint64(code), reason))
}

// onDisconnect fails every stream: what their peers sent while the
// connection was down is lost.
func (t *natsTransport) onDisconnect(err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	select {
	case <-t.up:
		t.up = make(chan struct{})
	default:
	}
	ss := make([]*stream, 0, len(t.streams))
	for _, s := range t.streams {
		ss = append(ss, s)
	}
	t.mu.Unlock()
	detail := "disconnected"
	if err != nil {
		detail = err.Error()
	}
	t.s.log.Warn("transport/nats: lost the connection to the nats server; failing open streams", "streams", len(ss), "error", err)
	lost := closedError(ErrConnectionLost, detail)
	for _, s := range ss {
		s.fail(lost, 0, "")
	}
}

func (t *natsTransport) onReconnect(nc *natsgo.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	select {
	case <-t.up:
	default:
		close(t.up)
	}
	t.s.log.Info("transport/nats: reconnected to the nats server", "server", nc.ConnectedUrlRedacted())
}

// onClosed handles the client giving up on its connection, which it does
// only on Close or on errors that reconnecting cannot mend.
func (t *natsTransport) onClosed(nc *natsgo.Conn) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	ss := make([]*stream, 0, len(t.streams))
	for _, s := range t.streams {
		ss = append(ss, s)
	}
	ls := make([]*listener, 0, len(t.listeners))
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	err := closedError(ErrConnectionLost, "the nats client closed the connection")
	if last := nc.LastError(); last != nil {
		err = closedError(ErrConnectionLost, "the nats client closed the connection: "+last.Error())
	}
	t.s.log.Error("transport/nats: the nats client closed its connection; the transport is unusable", "error", err)
	for _, s := range ss {
		s.fail(err, 0, "")
	}
	for _, l := range ls {
		l.stopWith(err)
	}
}

// keepaliveLoop pings the streams that have been silent too long and fails
// those whose PING went unanswered.
func (t *natsTransport) keepaliveLoop() {
	tick := time.NewTicker(max(t.s.keepalive/2, time.Millisecond))
	defer tick.Stop()
	var ss []*stream
	for {
		select {
		case <-t.done:
			return
		case now := <-tick.C:
			t.mu.RLock()
			ss = ss[:0]
			for _, s := range t.streams {
				ss = append(ss, s)
			}
			t.mu.RUnlock()
			for _, s := range ss {
				s.keepalive(now, t.s.keepalive)
			}
			clear(ss)
		}
	}
}

// isHostPort reports whether addr is host:port (with a numeric port),
// which Listen replaces with a subject.
func isHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// streamID returns a stream's id, the last token of its subject: 20
// random characters. Anyone who can publish to a stream's subject can
// disrupt the stream (a RESET needs no sequence number), so ids must not be
// guessable from another stream's: a client learns the subject of its own
// stream at the service's end, and with it the service's inbox prefix.
func streamID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// randomID returns 26 random characters that are valid in a subject.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

var _ transport.Transport = (*natsTransport)(nil)
