package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/openmicro/go-micro/transport"
)

const (
	// window is the credit, in bytes, each side of a stream grants its
	// peer at the start; it is part of the protocol, the same at both
	// ends. A receiver returns credit as its application reads.
	window = 1 << 20
	// maxCredit bounds a stream's credit, so that it fits 32 bits.
	maxCredit = 1<<31 - 1
)

var (
	errNilMessage   = errors.New("transport/rabbitmq: nil message")
	errPeerClosed   = fmt.Errorf("%w: the peer closed the stream", transport.ErrClosed)
	errRefused      = fmt.Errorf("%w: refused: the listener is shutting down, closed, or holds too many streams", transport.ErrClosed)
	errPeerTooLarge = fmt.Errorf("%w: the peer reset the stream: %w", transport.ErrClosed, transport.ErrMessageTooLarge)
	errTooLargeIn   = fmt.Errorf("%w: a message from the peer was over the limit: %w", transport.ErrClosed, transport.ErrMessageTooLarge)
	errFlow         = fmt.Errorf("%w: flow control: the peer sent beyond its credit", transport.ErrClosed)
	errPeerFlow     = fmt.Errorf("%w: the peer reset the stream for a flow control error", transport.ErrClosed)
	errBadFrame     = fmt.Errorf("%w: the peer sent a malformed frame", transport.ErrClosed)
	errPeerBadFrame = fmt.Errorf("%w: the peer reset the stream for a malformed frame", transport.ErrClosed)
	errUnknown      = fmt.Errorf("%w: the peer does not know the stream (it closed it, or restarted)", transport.ErrClosed)
)

// owner is the AMQP channel a stream publishes on: the transport's client
// channel for dialled streams, a listener's channel for accepted ones.
type owner interface {
	// publish sends p to the queue key, mandatory, and returns once it is
	// written to the connection.
	publish(key string, p amqp.Publishing) error
	// writable waits, within ctx, while RabbitMQ blocks publishing.
	writable(ctx context.Context) error
	// release forgets a closed stream; it may be called more than once.
	release(s *stream)
}

// queued is a received message waiting for Recv.
type queued struct {
	header map[string]string
	body   []byte
	cost   int
}

// stream is one transport.Socket, dialled or accepted. Frames from the
// peer arrive through the on* methods, called by the owner's dispatcher,
// which never block.
type stream struct {
	own    owner
	id     string // AMQP correlation id
	local  string // our queue: the peer publishes there
	remote string // the peer's queue: we publish there
	max    int    // MaxMessageSize

	sendSem  chan struct{} // held by the Send (or CloseSend) in progress
	recvSem  chan struct{} // held by the Recv in progress
	sendWake chan struct{} // credit came or the state changed
	recvWake chan struct{} // a message came or the state changed
	done     chan struct{} // closed when gone becomes true: see Done

	mu         sync.Mutex
	queue      []queued
	recvDone   bool  // the peer half-closed: EOF once queue is read
	recvErr    error // Recv fails with it once queue is read
	sendErr    error // Send fails with it
	sentEnd    bool  // CloseSend or Close was called
	closed     bool  // Close was called (or the transport closed)
	gone       bool  // the peer no longer has the stream
	opened     bool  // the peer has (or will have) the stream: probes list it
	noRoute    bool  // a frame to remote came back unroutable
	sendCredit int64 // bytes we may still send
	peerCredit int64 // bytes the peer may still send us
	unacked    int64 // bytes read since the last window frame
}

func newStream(own owner, id, local, remote string, max int) *stream {
	return &stream{
		own:        own,
		id:         id,
		local:      local,
		remote:     remote,
		max:        max,
		sendSem:    make(chan struct{}, 1),
		recvSem:    make(chan struct{}, 1),
		sendWake:   make(chan struct{}, 1),
		recvWake:   make(chan struct{}, 1),
		done:       make(chan struct{}),
		sendCredit: window,
		peerCredit: window,
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// wakeAll must be called with s.mu held or after a state change.
func (s *stream) wakeAll() {
	wake(s.sendWake)
	wake(s.recvWake)
}

func (s *stream) Local() string  { return s.local }
func (s *stream) Remote() string { return s.remote }

func acquire(ctx context.Context, sem chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send publishes m once the peer has credit left. It returns once m is
// written to the broker connection; the caller may reuse m at once.
func (s *stream) Send(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	size := messageSize(m)
	if size > s.max {
		return fmt.Errorf("%w: %d bytes, limit %d", transport.ErrMessageTooLarge, size, s.max)
	}
	if err := acquire(ctx, s.sendSem); err != nil {
		return err
	}
	defer func() { <-s.sendSem }()
	if err := s.own.writable(ctx); err != nil {
		return err
	}
	cost := int64(size + frameOverhead)
	for {
		s.mu.Lock()
		switch {
		case s.closed || s.sentEnd:
			s.mu.Unlock()
			return transport.ErrClosed
		case s.sendErr != nil:
			err := s.sendErr
			s.mu.Unlock()
			return err
		case s.sendCredit > 0:
			s.sendCredit -= cost
			s.mu.Unlock()
			return s.publish(amqp.Publishing{Type: typeData, Headers: encodeHeaders(m.Header), Body: m.Body})
		}
		s.mu.Unlock()
		select {
		case <-s.sendWake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// publish sends one frame of this stream; a failure fails the stream.
func (s *stream) publish(p amqp.Publishing) error {
	p.CorrelationId = s.id
	p.ReplyTo = s.local
	if err := s.own.publish(s.remote, p); err != nil {
		s.fail(err)
		return err
	}
	return nil
}

// Recv returns the next message, io.EOF once the peer half-closed and
// everything was read, or the error that ended the stream.
func (s *stream) Recv(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	if err := acquire(ctx, s.recvSem); err != nil {
		return err
	}
	defer func() { <-s.recvSem }()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return transport.ErrClosed
		}
		if len(s.queue) > 0 {
			q := s.queue[0]
			s.queue[0] = queued{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			var grant int64
			if !s.recvDone && !s.gone {
				s.unacked += int64(q.cost)
				if s.unacked >= window/4 {
					grant = s.unacked
					s.unacked = 0
					s.peerCredit += grant
				}
			}
			s.mu.Unlock()
			m.Header, m.Body = q.header, q.body
			if grant > 0 {
				_ = s.publish(amqp.Publishing{Type: typeWindow, Body: windowBody(uint32(grant))})
			}
			return nil
		}
		if s.recvErr != nil {
			err := s.recvErr
			s.mu.Unlock()
			return err
		}
		if s.recvDone {
			s.mu.Unlock()
			return io.EOF
		}
		s.mu.Unlock()
		select {
		case <-s.recvWake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CloseSend half-closes: it sends an end frame after every message that
// Send has published.
func (s *stream) CloseSend() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return transport.ErrClosed
	}
	if s.sentEnd {
		s.mu.Unlock()
		return nil
	}
	s.sentEnd = true
	quiet := s.gone || s.sendErr != nil
	s.wakeAll()
	s.mu.Unlock()
	if quiet {
		return nil
	}
	// A Send in progress has either taken credit, and then publishes
	// before it lets go, or sees sentEnd and gives up: the end frame
	// follows every published message.
	s.sendSem <- struct{}{}
	defer func() { <-s.sendSem }()
	if err := s.publish(amqp.Publishing{Type: typeEnd}); err != nil {
		return err
	}
	return nil
}

// Close ends the stream both ways. The peer is told with a reset frame
// unless both sides had already half-closed.
func (s *stream) Close() error {
	s.closeStream(false)
	return nil
}

// closeStream closes the stream and tells the peer; opening says that
// the peer may be about to learn of the stream.
func (s *stream) closeStream(opening bool) {
	if s.shutOpening(transport.ErrClosed, opening) {
		_ = s.own.publish(s.remote, amqp.Publishing{
			Type: typeReset, CorrelationId: s.id, ReplyTo: s.local, Body: []byte{codeClosed},
		})
	}
	s.own.release(s)
}

// shut closes the stream locally and reports whether the peer should be
// sent a reset frame. It is idempotent.
func (s *stream) shut(err error) (reset bool) { return s.shutOpening(err, false) }

func (s *stream) shutOpening(err error, opening bool) (reset bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	reset = (s.opened || opening) && !s.gone && !(s.sentEnd && s.recvDone)
	s.closed = true
	s.sentEnd = true
	s.goneLocked()
	s.queue = nil
	if s.recvErr == nil {
		s.recvErr = err
	}
	s.wakeAll()
	return reset
}

// fail ends the stream with err: Send fails with it at once and Recv
// once the messages already received are read. The peer is not told.
func (s *stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(err)
}

// goneLocked records that nothing more can travel either way.
func (s *stream) goneLocked() {
	if !s.gone {
		s.gone = true
		close(s.done)
	}
}

// Done returns a channel closed once the stream can carry nothing more
// either way: closed here, closed or reset by the peer, its peer or
// connection lost, or cut by its listener or transport. A half-close by
// the peer does not close it. The go-micro server uses it to end a stream
// handler's ctx when the client goes away.
func (s *stream) Done() <-chan struct{} { return s.done }

func (s *stream) failLocked(err error) {
	s.goneLocked()
	if s.sendErr == nil {
		s.sendErr = err
	}
	if s.recvErr == nil && !s.recvDone {
		s.recvErr = err
	}
	s.wakeAll()
}

// onData queues a message from the peer. It returns a reset code and
// true when the stream must be reset because of it.
func (s *stream) onData(f *frame) (byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.gone {
		return 0, false
	}
	switch {
	case s.recvDone:
		s.failLocked(errBadFrame)
		return codeMalformed, true
	case f.size > s.max:
		s.failLocked(errTooLargeIn)
		return codeTooLarge, true
	case s.peerCredit <= 0:
		s.failLocked(errFlow)
		return codeFlow, true
	}
	cost := f.size + frameOverhead
	s.peerCredit -= int64(cost)
	s.queue = append(s.queue, queued{header: f.msg.Header, body: f.msg.Body, cost: cost})
	wake(s.recvWake)
	return 0, false
}

// onEnd records the peer's half-close.
func (s *stream) onEnd() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recvDone = true
	wake(s.recvWake)
}

// onReset records that the peer ended the stream.
func (s *stream) onReset(code byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	switch code {
	case codeClosed:
		s.recvDone = true
		err = errPeerClosed
	case codeRefused:
		err = errRefused
	case codeTooLarge:
		err = errPeerTooLarge
	case codeFlow:
		err = errPeerFlow
	case codeMalformed:
		err = errPeerBadFrame
	case codeUnknown:
		err = errUnknown
	default:
		err = fmt.Errorf("%w: the peer reset the stream with code %d", transport.ErrClosed, code)
	}
	s.failLocked(err)
}

// onWindow adds credit from the peer. It returns true when the credit
// overflows, a protocol error that resets the stream.
func (s *stream) onWindow(credit uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.gone {
		return false
	}
	if s.sendCredit+int64(credit) > maxCredit {
		s.failLocked(errBadFrame)
		return true
	}
	s.sendCredit += int64(credit)
	wake(s.sendWake)
	return false
}

// probeable reports whether probes should list the stream: the peer has
// it and it is not over.
func (s *stream) probeable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened && !s.gone
}

var _ transport.DoneSocket = (*stream)(nil)
