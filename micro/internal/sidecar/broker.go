package sidecar

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/openmicro/go-micro/broker"
	merrors "github.com/openmicro/go-micro/errors"
)

// Socket modes, the mode query parameter of /broker.
const (
	// ModePubSub publishes the app's frames and writes the topic's events
	// to it. The default.
	ModePubSub = "pubsub"
	// ModePub only publishes the app's frames; the socket subscribes to
	// nothing.
	ModePub = "pub"
	// ModeSub only writes the topic's events to the app; a frame from the
	// app closes the socket.
	ModeSub = "sub"
)

// Close codes the sidecar closes /broker sockets with, besides those of
// the websocket library (1009 for a frame over the size limit).
const (
	// CloseSlowConsumer (1008, policy violation) closes a socket whose
	// app does not read its events fast enough; the reason starts with
	// "sidecar: slow consumer".
	CloseSlowConsumer = websocket.ClosePolicyViolation
	// CloseStopping (1001, going away) closes every socket when the
	// sidecar stops.
	CloseStopping = websocket.CloseGoingAway
)

const (
	// writeWait bounds writing one frame to a socket.
	writeWait = 10 * time.Second
	// closeGrace is how long a closing socket waits for the app's answer
	// to its close frame before it drops the connection.
	closeGrace = time.Second
	// unsubscribeTimeout bounds unsubscribing a closed socket.
	unsubscribeTimeout = 5 * time.Second
	// defaultPublishTimeout bounds one publish without RequestTimeout.
	defaultPublishTimeout = 10 * time.Second
	// idleTicks is how many keep-alive ticks in a row may pass without
	// anything received before a socket is closed.
	idleTicks = 2
)

// errSocketClosed nacks events that a queue group socket did not write.
var errSocketClosed = errors.New("sidecar: socket closed before the event was written")

// States of a delivery to a queue group socket.
const (
	pending   int32 = iota // in the buffer
	writing                // taken by the writer, which reports the outcome
	withdrawn              // never to be written: the event is nacked
)

// delivery is one event waiting in a socket's buffer.
type delivery struct {
	msg  *broker.Message
	size int64
	// For a queue group socket, whose broker handler waits for the
	// outcome: state, and res, which gets nil once the frame is written
	// and an error when it is not. nil for other sockets.
	state atomic.Int32
	res   chan error
}

// socket is one /broker websocket.
type socket struct {
	topic, queue, mode string

	conn     atomic.Pointer[websocket.Conn] // set once upgraded
	sub      broker.Subscriber              // nil for mode=pub; set before the upgrade
	out      chan *delivery                 // events waiting to be written
	buffered atomic.Int64                   // bytes of the events in out
	seen     atomic.Int64                   // frames, pings and pongs received
	done     chan struct{}                  // closed by close

	once   sync.Once
	code   int    // close code, set by close
	reason string // close reason, set by close

	releaseOnce sync.Once
	released    chan struct{} // closed once unsubscribed and the buffer drained
}

// close starts closing the socket with code and reason; the first call
// wins. The writer sends the close frame.
func (ss *socket) close(code int, reason string) {
	ss.once.Do(func() {
		ss.code, ss.reason = code, shorten(reason, maxCloseReason)
		close(ss.done)
	})
}

// push puts d in the buffer without waiting; it reports false when the
// buffer holds its number of events, or would hold more than limit bytes
// (a lone event is taken whatever its size).
func (ss *socket) push(d *delivery, limit int64) bool {
	if n := ss.buffered.Add(d.size); n > limit && n != d.size {
		ss.buffered.Add(-d.size)
		return false
	}
	select {
	case ss.out <- d:
		return true
	default:
		ss.buffered.Add(-d.size)
		return false
	}
}

// take accounts for d leaving the buffer to be written; it reports false
// when d was withdrawn and must not be written.
func (ss *socket) take(d *delivery) bool {
	ss.buffered.Add(-d.size)
	return d.res == nil || d.state.CompareAndSwap(pending, writing)
}

// maxCloseReason is the longest close reason a close frame carries.
const maxCloseReason = 123

// shorten cuts s to at most n bytes, on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// abort drops the connection at once.
func (ss *socket) abort() {
	ss.close(CloseStopping, "sidecar: stopping")
	if c := ss.conn.Load(); c != nil {
		_ = c.Close()
	}
}

// handleBroker serves /broker?topic=T[&queue=G][&mode=M]: it checks the
// request, subscribes, upgrades to a websocket and serves it until either
// side closes it.
func (s *Server) handleBroker(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, r, merrors.MethodNotAllowed(errorID, "sidecar: %s /broker: open a websocket with GET", r.Method))
		return
	}
	ss, err := parseSocket(r.URL.Query())
	if err != nil {
		writeError(w, r, merrors.BadRequest(errorID, "sidecar: /broker: %v", err))
		return
	}
	if s.opts.broker == nil {
		writeError(w, r, merrors.ServiceUnavailable(errorID, "sidecar: /broker: no broker is configured"))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, r, merrors.BadRequest(errorID,
			"sidecar: /broker speaks websocket only: open it with a websocket client (GET with Upgrade: websocket)"))
		return
	}
	if err := s.enter(ss); err != nil {
		writeError(w, r, merrors.ServiceUnavailable(errorID, "sidecar: /broker: %v", err))
		return
	}
	defer s.leave(ss)

	if ss.mode != ModePub {
		ss.out = make(chan *delivery, s.opts.socketBuffer)
		var sopts []broker.SubscribeOption
		if ss.queue != "" {
			sopts = append(sopts, broker.Queue(ss.queue))
		}
		// The subscription is made for the request, or until Stop gives up.
		ctx, cancel := context.WithCancel(r.Context())
		stop := context.AfterFunc(s.ctx, cancel)
		ss.sub, err = s.opts.broker.Subscribe(ctx, ss.topic, s.deliverer(ss), sopts...)
		stop()
		cancel()
		if err != nil {
			code := int32(http.StatusServiceUnavailable)
			if errors.Is(err, broker.ErrInvalidTopic) {
				code = http.StatusBadRequest
			}
			writeError(w, r, merrors.New(errorID, fmt.Sprintf("sidecar: /broker: subscribing to %q: %v", ss.topic, err), code))
			return
		}
	}
	defer s.release(ss)
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with the error
	}
	ss.conn.Store(conn)
	s.opts.logger.Debug("sidecar: socket open", "topic", ss.topic, "queue", ss.queue, "mode", ss.mode, "remote", r.RemoteAddr)
	readerDone := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.writeLoop(ss, conn, readerDone)
	}()
	s.readLoop(ss, conn)
	close(readerDone)
	<-writerDone
	s.opts.logger.Debug("sidecar: socket closed", "topic", ss.topic, "queue", ss.queue, "code", ss.code, "reason", ss.reason)
}

// release ends the socket's subscription and then settles the events
// still buffered: those of a queue group socket are nacked, so that a
// broker that redelivers gives them to another member, and the rest are
// dropped. Unsubscribing first keeps the closing socket from taking the
// redelivered events again. It is called once nothing more is written to
// the socket; later calls do nothing.
func (s *Server) release(ss *socket) {
	ss.releaseOnce.Do(func() {
		ss.close(websocket.CloseAbnormalClosure, "") // no more events are taken
		if ss.sub != nil {
			ctx, cancel := context.WithTimeout(s.ctx, unsubscribeTimeout)
			if err := ss.sub.Unsubscribe(ctx); err != nil {
				s.opts.logger.Warn("sidecar: unsubscribing a closed socket", "topic", ss.topic, "queue", ss.queue, "error", err)
			}
			cancel()
		}
		for drained := false; !drained; {
			select {
			case d := <-ss.out:
				ss.buffered.Add(-d.size)
				if d.res != nil && d.state.CompareAndSwap(pending, withdrawn) {
					d.res <- errSocketClosed
				}
			default:
				drained = true
			}
		}
		close(ss.released)
	})
}

// parseSocket reads the query of /broker.
func parseSocket(q url.Values) (*socket, error) {
	if !q.Has("topic") {
		return nil, errors.New("no topic: open /broker?topic=NAME")
	}
	ss := &socket{topic: q.Get("topic"), queue: q.Get("queue"), mode: q.Get("mode"),
		done: make(chan struct{}), released: make(chan struct{})}
	if err := broker.ValidateTopic(ss.topic); err != nil {
		return nil, err
	}
	if ss.queue != "" && (!utf8.ValidString(ss.queue) || strings.ContainsFunc(ss.queue, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	})) {
		return nil, fmt.Errorf("queue %q: holds white space, a control character or invalid UTF-8", ss.queue)
	}
	switch ss.mode {
	case "":
		ss.mode = ModePubSub
	case ModePubSub, ModeSub:
	case ModePub:
		if ss.queue != "" {
			return nil, fmt.Errorf("queue %q with mode=pub: a socket that only publishes has no queue group", ss.queue)
		}
	default:
		return nil, fmt.Errorf("mode %q: want pubsub (the default), pub or sub", ss.mode)
	}
	return ss, nil
}

// deliverer returns the broker handler of ss: it puts each event in the
// socket's buffer without waiting, and closes the socket as a slow
// consumer when the buffer is full. For a plain socket the event is acked
// once buffered. For a queue group socket the handler waits until the
// writer wrote the frame (ack) or the socket closed without writing it
// (nack, after unsubscribing, so that a broker that redelivers gives it
// to another member): a member holds one event per running handler, and
// none is acked before the app was sent it.
func (s *Server) deliverer(ss *socket) broker.Handler {
	refuse := func(ctx context.Context) error {
		if ss.queue == "" {
			return nil // dropped: redelivering it here would fail again
		}
		select {
		case <-ss.released:
		case <-ctx.Done():
		}
		return errSocketClosed
	}
	return func(ctx context.Context, e broker.Event) error {
		select {
		case <-ss.done:
			return refuse(ctx)
		default:
		}
		m := e.Message()
		d := &delivery{msg: m, size: int64(len(m.Body))}
		if ss.queue != "" {
			d.res = make(chan error, 1)
		}
		if !ss.push(d, s.opts.socketBufferBytes) {
			s.slowConsumers.Add(1)
			unread, bytes := len(ss.out), ss.buffered.Load()
			s.opts.logger.Warn("sidecar: closing a socket whose app does not read its events",
				"topic", ss.topic, "queue", ss.queue, "unread", unread, "bytes", bytes)
			ss.close(CloseSlowConsumer, fmt.Sprintf("sidecar: slow consumer: %d events (%d bytes) unread", unread, bytes))
			return refuse(ctx)
		}
		if d.res == nil {
			return nil
		}
		select {
		case err := <-d.res:
			return err
		case <-ss.released:
		case <-ctx.Done():
		}
		if d.state.CompareAndSwap(pending, withdrawn) {
			return errSocketClosed
		}
		return <-d.res // the writer has it: wait for the outcome
	}
}

// readLoop publishes the app's frames until the connection fails or
// closes. Everything it receives, pings and pongs too, counts as a sign
// of life for the keep-alive.
func (s *Server) readLoop(ss *socket, conn *websocket.Conn) {
	conn.SetReadLimit(s.opts.maxBody)
	conn.SetPongHandler(func(string) error {
		ss.seen.Add(1)
		return nil
	})
	conn.SetPingHandler(func(data string) error {
		ss.seen.Add(1)
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if _, ok := errors.AsType[net.Error](err); ok || errors.Is(err, websocket.ErrCloseSent) {
			return nil // the writer notices a broken connection
		}
		return err
	})
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce):
				ss.close(websocket.CloseNormalClosure, "")
			case errors.Is(err, websocket.ErrReadLimit):
				ss.close(websocket.CloseMessageTooBig, fmt.Sprintf("sidecar: frame over %d bytes", s.opts.maxBody))
			default:
				ss.close(websocket.CloseAbnormalClosure, "")
			}
			return
		}
		ss.seen.Add(1)
		if ss.mode == ModeSub {
			ss.close(websocket.ClosePolicyViolation, "sidecar: this socket only subscribes (mode=sub); open one with mode=pub or pubsub to publish")
			continue // read on until the app answers the close frame
		}
		s.publish(ss, data)
	}
}

// publish publishes one frame as an event on the socket's topic. A
// failure is logged and the socket stays open, but for a broker that is
// not connected, which closes it (1011).
func (s *Server) publish(ss *socket, data []byte) {
	select {
	case <-ss.done:
		return // closing: publish nothing more
	default:
	}
	ct := "application/octet-stream"
	if json.Valid(data) {
		ct = "application/json"
	}
	msg := &broker.Message{
		Header: map[string]string{
			"Content-Type": ct,
			"Micro-Topic":  ss.topic,
			"Micro-Id":     rand.Text(),
		},
		Body: data,
	}
	timeout := s.opts.requestTimeout
	if timeout == 0 {
		timeout = defaultPublishTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	err := s.opts.broker.Publish(ctx, ss.topic, msg)
	switch {
	case err == nil:
	case errors.Is(err, broker.ErrNotConnected):
		ss.close(websocket.CloseInternalServerErr, "sidecar: the broker is not connected")
	default:
		s.opts.logger.Warn("sidecar: publishing a frame failed", "topic", ss.topic, "bytes", len(data), "error", err)
	}
}

// writeLoop is the only writer of conn's frames (the reader's pongs go
// through WriteControl, which may run beside it). It writes the socket's
// events and the keep-alive pings until the socket closes, then releases
// the subscription, sends the close frame, waits briefly for the app's
// answer (the reader ending) and drops the connection.
func (s *Server) writeLoop(ss *socket, conn *websocket.Conn, readerDone <-chan struct{}) {
	defer func() { _ = conn.Close() }()
	ticks, stop := s.opts.pingTicker(s.opts.keepAlive)
	defer stop()
	last, missed := int64(-1), 0 // the open counts as a sign of life
	for {
		select {
		case <-ss.done:
			s.release(ss)
			s.sendClose(ss, conn, readerDone)
			return
		default:
		}
		select {
		case <-ss.done:
		case <-readerDone:
		case d := <-ss.out:
			if !ss.take(d) {
				continue // withdrawn: its handler nacked it
			}
			typ := websocket.TextMessage
			if !utf8.Valid(d.msg.Body) {
				typ = websocket.BinaryMessage
			}
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			err := conn.WriteMessage(typ, d.msg.Body)
			if err != nil {
				ss.close(websocket.CloseAbnormalClosure, "")
			}
			if d.res != nil {
				if err != nil {
					d.res <- errSocketClosed
				} else {
					d.res <- nil
				}
			}
			if err != nil {
				return
			}
		case <-ticks:
			if n := ss.seen.Load(); n != last {
				last, missed = n, 0
			} else if missed++; missed >= idleTicks {
				ss.close(websocket.ClosePolicyViolation, fmt.Sprintf(
					"sidecar: nothing received for %d keep-alive intervals of %v, not even a pong", idleTicks, s.opts.keepAlive))
				continue
			}
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				ss.close(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}

// sendClose sends the close frame of ss and waits up to closeGrace for the
// reader to end.
func (s *Server) sendClose(ss *socket, conn *websocket.Conn, readerDone <-chan struct{}) {
	if ss.code != websocket.CloseAbnormalClosure { // 1006 is never sent
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ss.code, ss.reason), time.Now().Add(writeWait))
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-readerDone:
	case <-t.C:
	}
}
