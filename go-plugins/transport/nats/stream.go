package nats

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

// inbound is one received message, still encoded.
type inbound struct {
	raw  []byte
	cost int64 // the credit its frames used
}

// stream is one end of a stream: the transport.Socket.
//
// Locks are taken in the order pubMu, then mu; the transport's and the
// listener's locks are never held while taking either.
type stream struct {
	t      *natsTransport
	l      *listener // the listener that accepted it; nil when dialled
	id     string    // the last token of local
	local  string    // the subject frames to this end go to
	maxMsg int
	window int64 // the credit this end grants its peer

	laddr, raddr string // what Local and Remote return

	sendSem, recvSem sem // serialise Sends and Recvs

	// pubMu is held while a frame that must stay in order takes its
	// sequence number and is published, and across the frames of one
	// message.
	pubMu   sync.Mutex
	sendSeq uint64 // guarded by pubMu

	mu          sync.Mutex
	remote      string // the subject frames to the peer go to
	established bool   // ACCEPT received (dialled) or sent (accepted)
	recvSeq     uint64 // the sequence number of the next frame expected
	queue       []inbound
	partial     []byte // the message being reassembled
	partialLen  int    // its length, as its first chunk announced
	partialCost int64
	inflight    int64 // credit the peer used and this end has not granted back
	unacked     int64 // of inflight, what the application has read
	recvEnded   bool  // END or CLOSE received
	peerClosed  bool  // CLOSE received: the peer reads no more
	credit      int64 // what this end may still send
	sendEnded   bool  // CloseSend called
	closed      bool  // Close called
	err         error // why the stream failed
	lastRecv    time.Time
	pingOut     bool
	pingAt      time.Time

	readable, writable chan struct{} // signalled on news for Recv and Send
	dead               chan struct{} // closed once closed, failed or closed by the peer: see Done
	isDead             bool
	accepted           chan struct{} // closed when Dial's handshake ends
	isAccepted         bool
}

// signal wakes the goroutine waiting on ch, if any.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// killLocked wakes everything waiting on the stream for good.
func (s *stream) killLocked() {
	if !s.isDead {
		s.isDead = true
		close(s.dead)
	}
	s.acceptLocked()
}

func (s *stream) acceptLocked() {
	if !s.isAccepted {
		s.isAccepted = true
		close(s.accepted)
	}
}

// publish sends one frame to subject with this stream's subject as reply,
// so that the NATS server tells this end when nobody subscribes there.
func (s *stream) publish(subject string, b []byte) error {
	return s.t.nc.PublishRequest(subject, s.local, b)
}

// sendOpen sends OPEN (sequence 0) to the listener at addr.
func (s *stream) sendOpen(addr string) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	b := appendFrame(make([]byte, 0, 16), frameOpen, protocolVersion, s.sendSeq, uint64(s.window), "")
	s.sendSeq++
	return s.publish(addr, b)
}

// sendAccept answers OPEN with ACCEPT (sequence 0).
func (s *stream) sendAccept() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	b := appendFrame(make([]byte, 0, 16), frameAccept, protocolVersion, s.sendSeq, uint64(s.window), "")
	s.sendSeq++
	return s.publish(s.remote, b)
}

// control sends a frame without a body (WINDOW, PING, PONG), unless the
// stream is over.
func (s *stream) control(typ byte, n uint64) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	ok := s.established && !s.closed && s.err == nil && !s.peerClosed
	remote := s.remote
	s.mu.Unlock()
	if !ok {
		return
	}
	b := appendFrame(make([]byte, 0, 24), typ, 0, s.sendSeq, n, "")
	s.sendSeq++
	if err := s.publish(remote, b); err != nil {
		s.fail(closedError(ErrConnectionLost, "publish: "+err.Error()), codeProtocol, "the sender failed to publish")
	}
}

// receive handles one NATS message sent to this stream. It runs on the
// transport's subscription goroutine and never waits for the application.
func (s *stream) receive(m *natsgo.Msg) {
	if len(m.Header) > 0 {
		// Frames carry no NATS headers: this is a status message.
		if m.Header.Get("Status") == "503" {
			s.noResponders()
		}
		return
	}
	f, err := parseFrame(m.Data)
	if err != nil {
		s.fail(closedError(ErrProtocol, err.Error()), codeProtocol, "malformed frame")
		return
	}
	s.mu.Lock()
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return
	}
	if !s.established {
		s.handshakeLocked(f, m.Reply)
		s.mu.Unlock()
		return
	}
	if f.typ == frameReset {
		// A RESET after the peer finished with the stream (the answer of
		// a transport that already forgot it) changes nothing.
		over := s.peerClosed || (s.recvEnded && s.sendEnded)
		s.mu.Unlock()
		if !over {
			s.fail(resetError(f), 0, "")
		}
		return
	}
	if f.seq != s.recvSeq {
		want := s.recvSeq
		s.mu.Unlock()
		s.fail(closedError(ErrProtocol, fmt.Sprintf("frame %d arrived when %d was due: frames were lost", f.seq, want)), codeProtocol, "frames lost")
		return
	}
	s.recvSeq++
	s.lastRecv, s.pingOut = time.Now(), false
	var (
		failErr error
		code    byte
		reason  string
		pong    bool
	)
	switch {
	case s.peerClosed:
		failErr, code, reason = closedError(ErrProtocol, "a frame after CLOSE"), codeProtocol, "frame after CLOSE"
	case f.typ == frameData:
		code, reason, failErr = s.dataLocked(f)
	case f.typ == frameEnd:
		if s.recvEnded || s.partial != nil {
			failErr, code, reason = closedError(ErrProtocol, "END after END or inside a message"), codeProtocol, "unexpected END"
			break
		}
		s.recvEnded = true
		signal(s.readable)
	case f.typ == frameClose:
		s.recvEnded, s.peerClosed, s.partial = true, true, nil
		// Nothing more can travel either way: Done closes, and Recv and
		// Send, waking, return what is left and then io.EOF, or fail.
		s.killLocked()
	case f.typ == frameWindow:
		s.credit += int64(f.n)
		if s.credit > 2*maxCredit {
			failErr, code, reason = closedError(ErrProtocol, "the peer granted too much credit"), codeFlow, "credit overflow"
			break
		}
		signal(s.writable)
	case f.typ == framePing:
		pong = true
	case f.typ == framePong:
		s.t.pongs.Add(1)
	default:
		failErr, code, reason = closedError(ErrProtocol, fmt.Sprintf("unexpected frame type %d", f.typ)), codeProtocol, "unexpected frame"
	}
	s.mu.Unlock()
	if failErr != nil {
		s.fail(failErr, code, reason)
		return
	}
	if pong {
		s.control(framePong, 0)
	}
}

// dataLocked takes one DATA frame.
func (s *stream) dataLocked(f frame) (byte, string, error) {
	if s.recvEnded {
		return codeProtocol, "DATA after END", closedError(ErrProtocol, "DATA after END")
	}
	cost := int64(len(f.data)) + frameCost
	s.inflight += cost
	if s.inflight > s.window+2*int64(s.maxMsg)+64*frameCost {
		return codeFlow, "sent past the credit", closedError(ErrProtocol, "the peer sent past its credit")
	}
	first, last := f.flags&flagFirst != 0, f.flags&flagLast != 0
	if s.partial == nil {
		if !first {
			return codeProtocol, "missing first chunk", closedError(ErrProtocol, "a message without its first chunk")
		}
		if f.n > uint64(s.maxMsg) {
			err := fmt.Errorf("%w: %w: a message of %d bytes, over the limit of %d (%w)",
				ErrProtocol, transport.ErrMessageTooLarge, f.n, s.maxMsg, transport.ErrClosed)
			return codeTooLarge, fmt.Sprintf("message of %d bytes over the receiver's limit of %d", f.n, s.maxMsg), err
		}
		if uint64(len(f.data)) > f.n || (last && uint64(len(f.data)) != f.n) {
			return codeProtocol, "bad chunk length", closedError(ErrProtocol, "a chunk does not match its message's length")
		}
		if last {
			s.queue = append(s.queue, inbound{raw: f.data, cost: cost})
			signal(s.readable)
			return 0, "", nil
		}
		// The buffer grows with the chunks that arrive: the announced
		// length costs nothing until its bytes do.
		s.partial = appendChunk(make([]byte, 0, len(f.data)), f.data, int(f.n))
		s.partialLen = int(f.n)
		s.partialCost = cost
		return 0, "", nil
	}
	if first || len(s.partial)+len(f.data) > s.partialLen || (last && len(s.partial)+len(f.data) != s.partialLen) {
		return codeProtocol, "bad chunk length", closedError(ErrProtocol, "a chunk does not match its message's length")
	}
	s.partial = appendChunk(s.partial, f.data, s.partialLen)
	s.partialCost += cost
	if last {
		s.queue = append(s.queue, inbound{raw: s.partial, cost: s.partialCost})
		s.partial, s.partialCost = nil, 0
		signal(s.readable)
	}
	return 0, "", nil
}

// appendChunk appends chunk to a message being reassembled, whose length
// is total: the buffer at most doubles, and never grows past total.
func appendChunk(b, chunk []byte, total int) []byte {
	if need := len(b) + len(chunk); need > cap(b) {
		nb := make([]byte, len(b), min(total, max(need, 2*cap(b))))
		copy(nb, b)
		b = nb
	}
	return append(b, chunk...)
}

// handshakeLocked takes the answer to a dialled stream's OPEN.
func (s *stream) handshakeLocked(f frame, reply string) {
	switch {
	case f.typ == frameAccept && f.seq == 0 && f.flags == protocolVersion && validSubject(reply) == nil:
		s.established = true
		s.remote = reply
		s.credit = int64(f.n)
		s.recvSeq = 1
		s.lastRecv = time.Now()
		s.acceptLocked()
	case f.typ == frameAccept && f.flags != protocolVersion:
		s.err = closedError(ErrProtocol, fmt.Sprintf("the listener speaks protocol version %d, not %d", f.flags, protocolVersion))
		s.killLocked()
	case f.typ == frameReset:
		s.err = resetError(f)
		s.killLocked()
	default:
		s.err = closedError(ErrProtocol, fmt.Sprintf("frame type %d in answer to OPEN", f.typ))
		s.killLocked()
	}
}

// noResponders handles the NATS server's report that a frame this end
// sent found no subscriber.
func (s *stream) noResponders() {
	s.mu.Lock()
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return
	}
	if !s.established {
		// Dial reports it with its address.
		s.err = natsgo.ErrNoResponders
		s.killLocked()
		s.mu.Unlock()
		return
	}
	over := s.peerClosed || (s.recvEnded && s.sendEnded)
	s.mu.Unlock()
	if !over {
		s.fail(fmt.Errorf("%w: nothing subscribes to its subject any more: %w (%w)",
			ErrPeerGone, natsgo.ErrNoResponders, transport.ErrClosed), 0, "")
	}
}

// resetError is the error for a RESET received.
func resetError(f frame) error {
	reason := printable(f.data)
	switch f.n {
	case codeRefused:
		return closedError(ErrRefused, reason)
	case codeTooLarge:
		return fmt.Errorf("%w: %w: %s (%w)", ErrReset, transport.ErrMessageTooLarge, reason, transport.ErrClosed)
	case codeUnknown:
		return closedError(ErrReset, "the peer does not know the stream")
	}
	return closedError(ErrReset, reason)
}

// printable returns b with anything but printable ASCII replaced by '?'.
func printable(b []byte) string {
	r := make([]byte, len(b))
	for i, c := range b {
		if c < ' ' || c > '~' {
			c = '?'
		}
		r[i] = c
	}
	return string(r)
}

// fail ends the stream with err; with a non-zero code it tells the peer
// with RESET. Send and Recv return err from then on (Recv once it has
// returned what had arrived), until Close.
func (s *stream) fail(err error, code byte, reason string) {
	s.mu.Lock()
	if s.closed || s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.partial = nil
	notify := code != 0 && s.established && !s.peerClosed
	remote := s.remote
	s.killLocked()
	s.mu.Unlock()
	s.t.unregister(s)
	if notify {
		// RESET needs no order: the peer takes it whatever its sequence.
		_ = s.publish(remote, appendFrame(nil, frameReset, 0, 0, uint64(code), reason))
	}
}

// forget drops a dialled stream whose handshake did not complete.
func (s *stream) forget() {
	s.mu.Lock()
	s.closed = true
	s.killLocked()
	s.mu.Unlock()
	s.t.unregister(s)
}

// close closes the stream. With code 0 it is the application's Close: the
// peer reads io.EOF after what was sent and its Sends fail. Otherwise the
// stream is cut (its listener or transport closed) and the peer gets RESET.
func (s *stream) close(code byte, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	live := s.err == nil && s.established && !s.peerClosed
	sendClose := live && code == 0 && !(s.sendEnded && s.recvEnded)
	sendReset := live && code != 0
	s.queue, s.partial = nil, nil
	remote := s.remote
	s.killLocked()
	s.mu.Unlock()
	s.t.unregister(s)
	if sendClose {
		s.pubMu.Lock()
		_ = s.publish(remote, appendFrame(make([]byte, 0, 16), frameClose, 0, s.sendSeq, 0, ""))
		s.sendSeq++
		s.pubMu.Unlock()
	}
	if sendReset {
		_ = s.publish(remote, appendFrame(nil, frameReset, 0, 0, uint64(code), reason))
	}
	if s.l != nil {
		s.l.release(s)
	}
}

// sendErrLocked is why Send cannot send now, or nil.
func (s *stream) sendErrLocked() error {
	switch {
	case s.closed || s.sendEnded:
		return transport.ErrClosed
	case s.err != nil:
		return s.err
	case s.peerClosed:
		return fmt.Errorf("transport/nats: the peer closed the stream: %w", transport.ErrClosed)
	}
	return nil
}

// Send sends m as one or more DATA frames. It waits, respecting ctx, while
// the peer's credit is used up. m is copied before Send returns.
func (s *stream) Send(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	size := encodedSize(m)
	if size > s.maxMsg {
		return fmt.Errorf("%w: %d bytes encoded, the limit is %d", transport.ErrMessageTooLarge, size, s.maxMsg)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.sendSem.lock(ctx); err != nil {
		return err
	}
	defer s.sendSem.unlock()
	for {
		s.mu.Lock()
		err, ready := s.sendErrLocked(), s.credit > 0
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if ready {
			break
		}
		select {
		case <-s.writable:
		case <-s.dead:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.sendData(m, size)
}

// minChunk is the smallest chunk the server's max_payload must allow.
const minChunk = 256

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooled = 64 << 10

// sendData publishes m's DATA frames; size is its encoded size.
func (s *stream) sendData(m *transport.Message, size int) error {
	chunk := int(s.t.nc.MaxPayload()) - maxFrameHeader
	if chunk < minChunk {
		return fmt.Errorf("transport/nats: the nats server's max_payload (%d bytes) is too small", s.t.nc.MaxPayload())
	}
	chunks := max(1, (size+chunk-1)/chunk)
	cost := int64(size) + int64(chunks)*frameCost

	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	err := s.sendErrLocked()
	if err == nil {
		s.credit -= cost
	}
	remote := s.remote
	s.mu.Unlock()
	if err != nil {
		return err
	}

	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooled {
			*bp = (*bp)[:0]
			bufPool.Put(bp)
		}
	}()
	if chunks == 1 {
		b := appendDataHeader((*bp)[:0], flagFirst|flagLast, s.sendSeq, size)
		b = appendHeaderBlock(b, m.Header)
		b = append(b, m.Body...)
		*bp = b
		s.sendSeq++
		return s.published(s.publish(remote, b))
	}
	enc := make([]byte, 0, size)
	enc = appendHeaderBlock(enc, m.Header)
	enc = append(enc, m.Body...)
	for off := 0; off < len(enc); off += chunk {
		piece := enc[off:min(off+chunk, len(enc))]
		var flags byte
		if off == 0 {
			flags |= flagFirst
		}
		if off+len(piece) == len(enc) {
			flags |= flagLast
		}
		b := appendDataHeader((*bp)[:0], flags, s.sendSeq, size)
		b = append(b, piece...)
		*bp = b
		s.sendSeq++
		if err := s.published(s.publish(remote, b)); err != nil {
			return err
		}
	}
	return nil
}

// published fails the stream when a publish failed: its frames are out of
// step with the peer from then on.
func (s *stream) published(err error) error {
	if err == nil {
		return nil
	}
	err = closedError(ErrConnectionLost, "publish: "+err.Error())
	s.fail(err, codeProtocol, "the sender failed to publish")
	return err
}

// Recv returns the next message. It grants the peer credit back once the
// application has read half a window.
func (s *stream) Recv(ctx context.Context, m *transport.Message) error {
	if m == nil {
		return errNilMessage
	}
	if err := s.recvSem.lock(ctx); err != nil {
		return err
	}
	defer s.recvSem.unlock()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return transport.ErrClosed
		}
		if len(s.queue) > 0 {
			in := s.queue[0]
			s.queue[0] = inbound{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			var grant int64
			if !s.recvEnded && s.err == nil {
				s.unacked += in.cost
				if s.unacked >= s.window/2 {
					grant = s.unacked
					s.inflight -= grant
					s.unacked = 0
				}
			}
			s.mu.Unlock()
			if grant > 0 {
				s.control(frameWindow, uint64(grant))
			}
			h, body, err := decodeMessage(in.raw)
			if err != nil {
				err = closedError(ErrProtocol, err.Error())
				s.fail(err, codeProtocol, "malformed message")
				return err
			}
			*m = transport.Message{Header: h, Body: body}
			return nil
		}
		if s.err != nil {
			err := s.err
			s.mu.Unlock()
			return err
		}
		if s.recvEnded {
			s.mu.Unlock()
			return io.EOF
		}
		s.mu.Unlock()
		select {
		case <-s.readable:
		case <-s.dead:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CloseSend sends END: the peer reads io.EOF after what was sent.
func (s *stream) CloseSend() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return transport.ErrClosed
	}
	if s.sendEnded {
		s.mu.Unlock()
		return nil
	}
	s.sendEnded = true
	send := s.err == nil && !s.peerClosed
	remote := s.remote
	s.mu.Unlock()
	signal(s.writable)
	if !send {
		return nil
	}
	b := appendFrame(make([]byte, 0, 16), frameEnd, 0, s.sendSeq, 0, "")
	s.sendSeq++
	return s.published(s.publish(remote, b))
}

// Close ends the stream both ways and forgets it: the peer reads io.EOF
// after what was sent, and its Sends fail. It is idempotent.
func (s *stream) Close() error {
	s.close(0, "")
	return nil
}

// keepalive pings a stream that still expects something from its peer and
// has heard nothing for d, and fails it when a PING went unanswered for d.
func (s *stream) keepalive(now time.Time, d time.Duration) {
	s.mu.Lock()
	if !s.established || s.closed || s.err != nil || s.peerClosed || (s.recvEnded && s.sendEnded) {
		s.pingOut = false
		s.mu.Unlock()
		return
	}
	if s.pingOut {
		late := now.Sub(s.pingAt) >= d
		s.mu.Unlock()
		if late {
			s.fail(closedError(ErrPeerGone, "no answer to a keepalive within "+d.String()), codeClosed, "no answer to a keepalive")
		}
		return
	}
	if now.Sub(s.lastRecv) < d {
		s.mu.Unlock()
		return
	}
	s.pingOut, s.pingAt = true, now
	s.mu.Unlock()
	s.control(framePing, 0)
}

func (s *stream) Local() string  { return s.laddr }
func (s *stream) Remote() string { return s.raddr }

// Done returns a channel closed once the stream can carry nothing more
// either way: closed here, closed or reset by the peer, failed (peer gone,
// connection lost, protocol error) or cut by its listener or transport. A
// half-close by the peer does not close it. The go-micro server uses it to
// end a stream handler's ctx when the client goes away.
func (s *stream) Done() <-chan struct{} { return s.dead }

var _ transport.DoneSocket = (*stream)(nil)

// sem is a one-slot lock whose waiters give up when their ctx ends, so
// that a call queued behind a blocked one still honours its own ctx.
type sem chan struct{}

func (m sem) lock(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	default:
	}
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m sem) unlock() { <-m }
