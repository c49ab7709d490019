package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/openmicro/go-micro/transport"
)

var errNilMessage = errors.New("transport/http: nil message")

// resetError reports a stream ended by a RESET, ours or the peer's. It
// matches transport.ErrClosed, and transport.ErrMessageTooLarge for a
// message over the limit.
type resetError struct {
	code  uint32
	local bool // we reset the stream (the message arrived here)
	size  int  // local too-large: the declared size
	limit int
}

func (e *resetError) Error() string {
	switch {
	case e.local && e.code == codeTooLarge:
		return fmt.Sprintf("transport: stream reset: received a %d-byte message over the %d-byte limit", e.size, e.limit)
	case e.local:
		return "transport: stream reset: " + codeText(e.code)
	default:
		return "transport: stream reset by peer: " + codeText(e.code)
	}
}

func (e *resetError) Is(target error) bool {
	return target == transport.ErrClosed ||
		(e.code == codeTooLarge && target == transport.ErrMessageTooLarge)
}

func codeText(code uint32) string {
	switch code {
	case codeClosed:
		return "closed"
	case codeRefused:
		return "refused (server going away)"
	case codeTooLarge:
		return "message too large"
	case codeProtocol:
		return "malformed message"
	case codeFlowControl:
		return "flow control violated"
	}
	return fmt.Sprintf("code %d", code)
}

// stream is one transport.Socket multiplexed on a conn.
type stream struct {
	c  *conn
	id atomic.Uint32 // 0 until a client stream sends its first frame

	sendMu sem // serialises Send and CloseSend
	recvMu sem // serialises Recv

	mu      sync.Mutex
	queue   [][]byte // received DATA payloads from qhead on
	qhead   int
	qbuf    [2][]byte // initial backing for queue
	queued  int       // cost of queued messages
	unacked int       // consumed cost not yet returned as credit
	credit  int64     // send credit left; below 0 after a large message
	recvErr error     // after the queue drains: io.EOF or why
	sendErr error
	sentEnd bool
	gone    bool // peer reset the stream
	closed  bool

	recvCh   chan struct{} // signalled when queue or recvErr change
	creditCh chan struct{} // signalled when credit or sendErr change
}

func newStream(c *conn, id uint32) *stream {
	s := &stream{
		c:        c,
		sendMu:   make(sem, 1),
		recvMu:   make(sem, 1),
		credit:   streamWindow,
		recvCh:   make(chan struct{}, 1),
		creditCh: make(chan struct{}, 1),
	}
	s.queue = s.qbuf[:0]
	s.id.Store(id)
	return s
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// cost is what a DATA payload of n bytes charges against the window.
func cost(n int) int { return n + frameHeaderLen }

// deliver queues a received payload; it returns a reset code when the peer
// broke the protocol.
func (s *stream) deliver(p []byte, end bool) uint32 {
	s.mu.Lock()
	if s.closed || s.recvErr != nil {
		s.mu.Unlock()
		return 0
	}
	var code uint32
	if len(p) > 0 {
		s.queued += cost(len(p))
		if s.queued > streamWindow+cost(s.c.maxMsg) {
			code = codeFlowControl
			s.recvErr = &resetError{code: code, local: true}
			s.sendErr = s.recvErr
			s.gone = true
		} else {
			s.queue = append(s.queue, p)
		}
	}
	if end && s.recvErr == nil {
		s.recvErr = io.EOF
	}
	s.mu.Unlock()
	signal(s.recvCh)
	if code != 0 {
		signal(s.creditCh)
	}
	return code
}

// reset ends the stream because of a RESET.
func (s *stream) reset(err *resetError) {
	s.mu.Lock()
	s.gone = true
	if s.recvErr == nil {
		if err.code == codeClosed {
			s.recvErr = io.EOF
		} else {
			s.recvErr = err
		}
	}
	if s.sendErr == nil {
		s.sendErr = err
	}
	s.mu.Unlock()
	signal(s.recvCh)
	signal(s.creditCh)
}

// addCredit adds the credit of a WINDOW frame. It reports false, and
// resets the stream, when the peer granted more than a window can hold;
// the caller then forgets the stream and tells the peer.
func (s *stream) addCredit(n uint32) bool {
	s.mu.Lock()
	if s.credit+int64(n) > maxCredit {
		err := &resetError{code: codeFlowControl, local: true}
		s.gone = true
		if s.recvErr == nil {
			s.recvErr = err
		}
		if s.sendErr == nil {
			s.sendErr = err
		}
		s.mu.Unlock()
		signal(s.recvCh)
		signal(s.creditCh)
		return false
	}
	s.credit += int64(n)
	s.mu.Unlock()
	signal(s.creditCh)
	return true
}

// Send writes m as one DATA frame. See the package doc for the errors.
func (s *stream) Send(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	hl := headerLen(m.Header)
	size := messageLen(hl, len(m.Body))
	if size > s.c.maxMsg {
		return transport.ErrMessageTooLarge
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.sendMu.lock(ctx); err != nil {
		return err
	}
	defer s.sendMu.unlock()
	for {
		s.mu.Lock()
		if s.sendErr != nil {
			err := s.sendErr
			s.mu.Unlock()
			return err
		}
		if s.credit > 0 {
			s.credit -= int64(cost(size))
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		select {
		case <-s.creditCh:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.done:
			return s.c.err
		}
	}
	return s.c.writeData(s, m, hl, size, 0)
}

// Recv reads the next message; its Body is freshly allocated.
func (s *stream) Recv(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	if err := s.recvMu.lock(ctx); err != nil {
		return err
	}
	defer s.recvMu.unlock()
	for {
		s.mu.Lock()
		if s.qhead < len(s.queue) {
			p := s.pop()
			var inc int
			if s.recvErr == nil {
				s.unacked += cost(len(p))
				if s.unacked >= windowUpdate {
					inc, s.unacked = s.unacked, 0
				}
			}
			s.mu.Unlock()
			if inc > 0 {
				s.c.writeCtrl(frameWindow, s.id.Load(), uint32(inc))
			}
			h, body, err := decodeMessage(p)
			if err != nil {
				return fmt.Errorf("%w: %w", s.abort(codeProtocol), err)
			}
			m.Header, m.Body = h, body
			return nil
		}
		if err := s.recvErr; err != nil {
			s.mu.Unlock()
			return err
		}
		s.mu.Unlock()
		select {
		case <-s.recvCh:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.done:
			s.mu.Lock()
			if s.recvErr == nil {
				s.recvErr = s.c.err
			}
			s.mu.Unlock()
		}
	}
}

// pop takes the oldest queued payload; s.mu is held.
func (s *stream) pop() []byte {
	p := s.queue[s.qhead]
	s.queue[s.qhead] = nil
	s.qhead++
	switch {
	case s.qhead == len(s.queue):
		s.queue, s.qhead = s.queue[:0], 0
	case s.qhead >= 32 && s.qhead*2 >= len(s.queue):
		n := copy(s.queue, s.queue[s.qhead:])
		clear(s.queue[n:])
		s.queue, s.qhead = s.queue[:n], 0
	}
	s.queued -= cost(len(p))
	return p
}

// abort resets the stream from our side with code, dropping what is
// queued, and returns the reset error.
func (s *stream) abort(code uint32) error {
	err := &resetError{code: code, local: true}
	s.mu.Lock()
	wasGone := s.gone
	s.gone = true
	if s.recvErr == nil || s.recvErr == io.EOF {
		s.recvErr = err
	}
	if s.sendErr == nil {
		s.sendErr = err
	}
	clear(s.queue)
	s.queue, s.qhead, s.queued = s.queue[:0], 0, 0
	s.mu.Unlock()
	signal(s.creditCh)
	if id := s.id.Load(); id != 0 && !wasGone {
		s.c.forget(s)
		s.c.writeCtrl(frameReset, id, code)
	}
	return err
}

// CloseSend half-closes the stream.
func (s *stream) CloseSend() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return transport.ErrClosed
	}
	if s.sendErr != nil {
		s.mu.Unlock()
		return nil // already half-closed, or the peer is gone
	}
	s.sendErr = transport.ErrClosed
	s.mu.Unlock()
	signal(s.creditCh)

	_ = s.sendMu.lock(context.Background())
	err := s.c.writeData(s, nil, 0, 0, flagEnd)
	s.sendMu.unlock()
	if err == nil {
		s.mu.Lock()
		s.sentEnd = true
		s.mu.Unlock()
	}
	return err
}

// Close ends the stream both ways; the peer's Recv reads io.EOF after what
// was sent, and its Send fails with transport.ErrClosed.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	done := s.gone || (s.sentEnd && s.recvErr == io.EOF)
	if s.sendErr == nil {
		s.sendErr = transport.ErrClosed
	}
	s.recvErr = transport.ErrClosed
	s.queue, s.qhead, s.queued = nil, 0, 0
	id := s.id.Load()
	s.mu.Unlock()
	signal(s.recvCh)
	signal(s.creditCh)
	if !done && id != 0 {
		s.c.writeCtrl(frameReset, id, codeClosed)
	}
	s.c.release(s)
	return nil
}

func (s *stream) Local() string  { return s.c.local }
func (s *stream) Remote() string { return s.c.remote }

var _ transport.Socket = (*stream)(nil)

// sem is a one-slot lock that a waiter gives up on when its ctx ends, so
// that a call queued behind a blocked one still honours its ctx.
type sem chan struct{}

func (s sem) lock(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s sem) unlock() { <-s }
