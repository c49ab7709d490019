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
		return "refused (server going away or at its stream limit)"
	case codeTooLarge:
		return "message too large"
	case codeProtocol:
		return "malformed message"
	case codeFlowControl:
		return "flow control violated"
	}
	return fmt.Sprintf("code %d", code)
}

// errPeerClosed is the reset of a stream the peer closed normally; it is
// never modified.
var errPeerClosed = &resetError{code: codeClosed}

// errConnGone is what wait reports when the connection went away.
var errConnGone = errors.New("transport/http: connection gone")

// stream is one transport.Socket multiplexed on a conn. It is a single
// allocation: goroutines that must wait borrow a channel from waitPool.
type stream struct {
	c  *conn
	id atomic.Uint32 // 0 until a client stream sends its first frame

	mu        sync.Mutex
	sending   bool // a Send or CloseSend is under way
	receiving bool // a Recv is under way
	waiters   []chan struct{}
	wbuf      [2]chan struct{} // initial backing for waiters
	queue     [][]byte         // received DATA payloads from qhead on
	qhead     int
	qbuf      [2][]byte // initial backing for queue
	queued    int       // cost of queued messages
	unacked   int       // consumed cost not yet returned as credit
	credit    int64     // send credit left; below 0 after a large message
	recvErr   error     // after the queue drains: io.EOF or why
	sendErr   error
	sentEnd   bool
	gone      bool // peer reset the stream
	closed    bool
	ended     bool          // closed, reset or its connection lost: see Done
	doneCh    chan struct{} // made by the first Done; closed when ended
}

// Done returns a channel closed once the stream can carry nothing more
// either way: closed here, reset or closed by the peer, or its connection
// lost (transport.DoneSocket). A half-close by the peer does not close it.
func (s *stream) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.doneCh == nil {
		s.doneCh = make(chan struct{})
		if s.ended {
			close(s.doneCh)
		}
	}
	return s.doneCh
}

// end marks the stream ended and closes its Done channel; s.mu must be
// held.
func (s *stream) end() {
	if s.ended {
		return
	}
	s.ended = true
	if s.doneCh != nil {
		close(s.doneCh)
	}
}

func newStream(c *conn, id uint32) *stream {
	s := &stream{c: c, credit: streamWindow}
	s.queue = s.qbuf[:0]
	s.waiters = s.wbuf[:0]
	s.id.Store(id)
	return s
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitPool holds the one-slot channels that goroutines waiting on a stream
// borrow; a channel goes back empty and unreferenced.
var waitPool = sync.Pool{New: func() any { return make(chan struct{}, 1) }}

// wait releases s.mu until the stream's state changes (wake), ctx ends, or,
// with conn set, the connection goes away (errConnGone); it holds s.mu
// again on return. Callers loop on their condition: a wake-up may be for
// another waiter.
func (s *stream) wait(ctx context.Context, conn bool) error {
	ch := waitPool.Get().(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	var done <-chan struct{}
	if conn {
		done = s.c.done
	}
	var err error
	select {
	case <-ch:
	case <-ctx.Done():
		err = ctx.Err()
	case <-done:
		err = errConnGone
	}
	s.mu.Lock()
	if err != nil {
		// Still listed unless a wake-up raced with ctx or the connection.
		for i, w := range s.waiters {
			if w == ch {
				last := len(s.waiters) - 1
				s.waiters[i] = s.waiters[last]
				s.waiters[last] = nil
				s.waiters = s.waiters[:last]
				break
			}
		}
		select {
		case <-ch:
		default:
		}
	}
	waitPool.Put(ch)
	return err
}

// wake wakes every waiter; s.mu is held.
func (s *stream) wake() {
	for i, w := range s.waiters {
		signal(w)
		s.waiters[i] = nil
	}
	s.waiters = s.waiters[:0]
}

// lock waits, under s.mu, while *busy, then sets it: Send and CloseSend
// take one turn at a time, and so do Recvs. A waiter gives up when its ctx
// ends.
func (s *stream) lock(ctx context.Context, busy *bool) error {
	for *busy {
		if err := s.wait(ctx, false); err != nil {
			return err
		}
	}
	*busy = true
	return nil
}

// unlock clears *busy and wakes the next in line; s.mu is held.
func (s *stream) unlock(busy *bool) {
	*busy = false
	s.wake()
}

// cost is what a DATA payload of n bytes charges against the window.
func cost(n int) int { return n + frameHeaderLen }

// deliver queues a received payload; it returns a reset code when the peer
// broke the protocol.
func (s *stream) deliver(p []byte, end bool) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.recvErr != nil {
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
	s.wake()
	return code
}

// reset ends the stream because of a RESET.
func (s *stream) reset(err *resetError) {
	s.mu.Lock()
	s.gone = true
	s.end()
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
	s.wake()
	s.mu.Unlock()
}

// addCredit adds the credit of a WINDOW frame. It reports false, and
// resets the stream, when the peer granted more than a window can hold;
// the caller then forgets the stream and tells the peer.
func (s *stream) addCredit(n uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.credit+int64(n) > maxCredit {
		err := &resetError{code: codeFlowControl, local: true}
		s.gone = true
		if s.recvErr == nil {
			s.recvErr = err
		}
		if s.sendErr == nil {
			s.sendErr = err
		}
		s.wake()
		return false
	}
	s.credit += int64(n)
	s.wake()
	return true
}

// Send queues m as one DATA frame. See the package doc for the errors.
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
	s.mu.Lock()
	if err := s.lock(ctx, &s.sending); err != nil {
		s.mu.Unlock()
		return err
	}
	for s.sendErr == nil && s.credit <= 0 {
		if err := s.wait(ctx, true); err != nil {
			if err == errConnGone {
				err = s.c.err
			}
			s.unlock(&s.sending)
			s.mu.Unlock()
			return err
		}
	}
	if err := s.sendErr; err != nil {
		s.unlock(&s.sending)
		s.mu.Unlock()
		return err
	}
	s.credit -= int64(cost(size))
	s.mu.Unlock()

	err := s.c.writeData(ctx, s, m, hl, size)

	s.mu.Lock()
	if err != nil {
		s.credit += int64(cost(size)) // nothing was queued
	}
	s.unlock(&s.sending)
	s.mu.Unlock()
	return err
}

// Recv reads the next message; its Body is freshly allocated.
func (s *stream) Recv(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	s.mu.Lock()
	if err := s.lock(ctx, &s.receiving); err != nil {
		s.mu.Unlock()
		return err
	}
	for s.qhead == len(s.queue) {
		if err := s.recvErr; err != nil {
			s.unlock(&s.receiving)
			s.mu.Unlock()
			return err
		}
		switch err := s.wait(ctx, true); err {
		case nil:
		case errConnGone:
			if s.recvErr == nil {
				s.recvErr = s.c.err
			}
		default:
			s.unlock(&s.receiving)
			s.mu.Unlock()
			return err
		}
	}
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
		err = fmt.Errorf("%w: %w", s.abort(codeProtocol), err)
	} else {
		m.Header, m.Body = h, body
	}
	s.mu.Lock()
	s.unlock(&s.receiving)
	s.mu.Unlock()
	return err
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
	s.wake()
	s.mu.Unlock()
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
	s.wake()
	_ = s.lock(context.Background(), &s.sending)
	s.mu.Unlock()

	err := s.c.writeEnd(s)

	s.mu.Lock()
	if err == nil {
		s.sentEnd = true
	}
	s.unlock(&s.sending)
	s.mu.Unlock()
	return err
}

// Close ends the stream both ways; the peer's Recv reads io.EOF after what
// was sent, and its Send fails with transport.ErrClosed. A stream that the
// peer half-closed is finished with an End flag, set on our last DATA
// frame when that is still queued; otherwise the peer is told with a
// RESET.
func (s *stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.end()
	done := s.gone || (s.sentEnd && s.recvErr == io.EOF)
	end := !done && !s.sentEnd && s.recvErr == io.EOF
	if s.sendErr == nil {
		s.sendErr = transport.ErrClosed
	}
	s.recvErr = transport.ErrClosed
	s.queue, s.qhead, s.queued = nil, 0, 0
	id := s.id.Load()
	s.wake()
	s.mu.Unlock()
	switch {
	case done || id == 0:
	case end:
		_ = s.c.writeEnd(s)
	default:
		s.c.writeCtrl(frameReset, id, codeClosed)
	}
	s.c.release(s)
	return nil
}

func (s *stream) Local() string  { return s.c.local }
func (s *stream) Remote() string { return s.c.remote }

var _ transport.Socket = (*stream)(nil)
