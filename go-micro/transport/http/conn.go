package http

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/transport"
)

const (
	// bufSize is the read buffer and the initial write batch.
	bufSize = 32 << 10
	// maxPending is how many bytes writers queue before they wait for
	// writeLoop to take the batch; maxKeptBuf is the largest batch buffer
	// kept for reuse.
	maxPending = 256 << 10
	maxKeptBuf = 2 * maxPending

	// streamWindow is the credit, in bytes, each stream grants its peer:
	// a sender may start a message while it has credit left, so a
	// receiver buffers at most streamWindow plus one message per stream.
	streamWindow = 1 << 20
	// windowUpdate is how much consumed credit a receiver collects before
	// returning it in one WINDOW frame.
	windowUpdate = streamWindow / 4

	// maxStreamsPerConn is how many open streams Dial puts on one pooled
	// connection before it dials another to the same address.
	maxStreamsPerConn = 1024
	// maxStreamID bounds client stream ids; a connection that runs out
	// takes no new streams.
	maxStreamID = 1<<31 - 1

	defaultIdleTimeout = 90 * time.Second

	// defaultWriteStall is how long one batch may take to write before the
	// connection is declared dead: the peer stopped reading.
	defaultWriteStall = 30 * time.Second

	// defaultMaxServerStreams is how many streams a server connection
	// keeps open at once; a stream beyond it is refused. It is well above
	// maxStreamsPerConn, so a pooling client never meets it, even while
	// handlers finish streams that the client already closed.
	defaultMaxServerStreams = 4 * maxStreamsPerConn

	// maxMessageSize caps Options.MaxMessageSize: a frame's length is 32
	// bits, and int is 32 bits on some platforms.
	maxMessageSize = 1<<31 - 1 - 2*streamWindow
	// maxCredit is the most send credit a stream may hold; a WINDOW frame
	// that takes it higher is a flow-control error.
	maxCredit = 1<<31 - 1

	// maxCtrlQueue bounds the control frames the reader may queue for a
	// peer that does not read them.
	maxCtrlQueue = 64 << 10
)

// conn is one upgraded TCP (or TLS) connection carrying many streams.
type conn struct {
	nc      net.Conn
	br      *bufio.Reader
	client  bool
	maxMsg  int
	local   string
	remote  string
	stall   time.Duration // write deadline of one batch
	maxOpen int           // server: open streams allowed

	t *httpTransport // client side
	l *listener      // server side

	// Writers append whole frames to wbuf under wmu and never touch the
	// network; writeLoop takes the batch and writes it, so frames queued
	// while a write is in progress share the next system call.
	wmu      sync.Mutex
	wbuf     []byte        // frames writeLoop has not taken yet
	wspare   []byte        // the buffer writeLoop hands back for reuse
	wroom    chan struct{} // closed when writeLoop takes wbuf; nil until a writer waits
	lastData int           // offset in wbuf of the newest DATA frame, or -1
	lastID   uint32        // its stream id
	nextID   uint32        // client: next stream id
	werr     error         // sticky: nothing more can be written
	wkick    chan struct{} // signalled when wbuf or ctrl become non-empty

	// Control frames the reader (or Shutdown) wants sent. They have their
	// own queue and lock because the reader queues them while holding c.mu,
	// which writers take under wmu.
	cmu      sync.Mutex
	ctrl     []byte
	shut     bool        // half-close once everything queued is written; guarded by cmu
	ctrlFull atomic.Bool // the peer left maxCtrlQueue bytes unread

	mu        sync.Mutex
	streams   map[uint32]*stream
	lastPeer  uint32 // server: highest stream id the peer opened
	open      int    // server: accepted streams not yet closed
	active    int    // client: streams reserved by Dial and not closed
	goaway    bool   // no new streams: GOAWAY sent (server) or received (client)
	goawayID  uint32 // client: last stream id the server accepts
	closing   bool   // client: idle, being closed
	exhausted bool   // client: out of stream ids
	idle      *time.Timer

	done      chan struct{} // closed when the connection is gone
	err       error         // why; set before done is closed
	closeOnce sync.Once
}

func newConn(nc net.Conn, br *bufio.Reader, client bool, maxMsg int, stall time.Duration) *conn {
	c := &conn{
		nc:       nc,
		br:       br,
		client:   client,
		maxMsg:   maxMsg,
		stall:    stall,
		local:    nc.LocalAddr().String(),
		remote:   nc.RemoteAddr().String(),
		lastData: -1,
		wbuf:     make([]byte, 0, bufSize),
		wkick:    make(chan struct{}, 1),
		streams:  make(map[uint32]*stream),
		done:     make(chan struct{}),
	}
	if client {
		c.nextID = 1
	}
	return c
}

// close tears the connection down once; err is what its streams report.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		if c.idle != nil {
			c.idle.Stop()
		}
		c.mu.Unlock()
		_ = c.nc.Close()
		close(c.done)
		c.mu.Lock()
		streams := make([]*stream, 0, len(c.streams))
		for _, s := range c.streams {
			streams = append(streams, s)
		}
		c.mu.Unlock()
		for _, s := range streams {
			s.mu.Lock()
			s.end()
			s.mu.Unlock()
		}
		if c.t != nil {
			c.t.removeConn(c)
		}
		if c.l != nil {
			c.l.removeConn(c)
		}
	})
}

// closed reports whether the connection is gone.
func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// readLoop demultiplexes frames into streams until the connection fails.
// It never blocks on a stream: messages are queued, bounded by the credit
// window.
func (c *conn) readLoop() {
	fr := frameReader{r: c.br, max: c.maxMsg}
	for {
		h, p, err := fr.readFrame()
		switch {
		case errors.Is(err, errFrameTooLarge):
			c.onTooLarge(h)
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			c.close(fmt.Errorf("%w: connection to %s lost: %w", transport.ErrClosed, c.remote, err))
			return
		case h.typ == frameData:
			c.onData(h, p)
		case h.typ == frameReset:
			c.onReset(h.id, binary.BigEndian.Uint32(p))
		case h.typ == frameWindow:
			c.onWindow(h.id, binary.BigEndian.Uint32(p))
		case h.typ == frameGoAway:
			c.onGoAway(binary.BigEndian.Uint32(p))
		}
		if c.ctrlFull.Load() {
			c.close(fmt.Errorf("%w: %s does not read its control frames", transport.ErrClosed, c.remote))
			return
		}
	}
}

// lookup finds the stream for a frame; on the server a frame for a new id
// opens a stream, which is returned with accepted set.
func (c *conn) lookup(id uint32) (s *stream, accepted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.streams[id]; s != nil || c.client {
		return s, false
	}
	if id <= c.lastPeer || id%2 == 0 {
		return nil, false // a stream already gone
	}
	c.lastPeer = id
	if c.goaway || c.open >= c.maxOpen || !c.l.reserve() {
		c.queueCtrl(frameReset, id, codeRefused)
		return nil, false
	}
	c.open++
	s = newStream(c, id)
	c.streams[id] = s
	return s, true
}

func (c *conn) onData(h frameHeader, p []byte) {
	s, accepted := c.lookup(h.id)
	if s == nil {
		return
	}
	if code := s.deliver(p, h.flags&flagEnd != 0); code != 0 {
		c.forget(s)
		c.queueCtrl(frameReset, h.id, code)
	}
	if accepted {
		c.l.dispatch(s)
	}
}

func (c *conn) onTooLarge(h frameHeader) {
	c.mu.Lock()
	s := c.streams[h.id]
	if s == nil && !c.client && h.id > c.lastPeer && h.id%2 == 1 {
		c.lastPeer = h.id // the id is used up; never accepted
	}
	c.mu.Unlock()
	if s != nil {
		c.forget(s)
		s.reset(&resetError{code: codeTooLarge, local: true, size: int(h.size), limit: c.maxMsg})
	}
	c.queueCtrl(frameReset, h.id, codeTooLarge)
}

func (c *conn) onReset(id, code uint32) {
	c.mu.Lock()
	s := c.streams[id]
	c.mu.Unlock()
	if s != nil {
		c.forget(s)
		if code == codeClosed {
			s.reset(errPeerClosed) // the common case, without allocating
		} else {
			s.reset(&resetError{code: code})
		}
	}
}

func (c *conn) onWindow(id, inc uint32) {
	c.mu.Lock()
	s := c.streams[id]
	c.mu.Unlock()
	if s != nil && !s.addCredit(inc) {
		c.forget(s)
		c.queueCtrl(frameReset, id, codeFlowControl)
	}
}

func (c *conn) onGoAway(last uint32) {
	if !c.client {
		return
	}
	c.mu.Lock()
	c.goaway = true
	c.goawayID = last
	var refused []*stream
	for id, s := range c.streams {
		if id > last {
			refused = append(refused, s)
			delete(c.streams, id)
		}
	}
	idle := c.active == 0
	c.mu.Unlock()
	c.t.removeConn(c)
	for _, s := range refused {
		s.reset(&resetError{code: codeRefused})
	}
	if idle {
		c.close(transport.ErrClosed)
	}
}

// forget drops s from the stream table: the peer will send no more for it.
func (c *conn) forget(s *stream) {
	id := s.id.Load()
	c.mu.Lock()
	if c.streams[id] == s {
		delete(c.streams, id)
	}
	c.mu.Unlock()
}

// release is called once per stream on its Close.
func (c *conn) release(s *stream) {
	c.forget(s)
	if !c.client {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
		c.l.release()
		return
	}
	c.mu.Lock()
	c.active--
	idle := c.active == 0
	goaway := c.goaway
	if idle && !goaway {
		if c.idle == nil {
			c.idle = time.AfterFunc(c.t.idleTimeout, func() { c.t.closeIdle(c) })
		} else {
			c.idle.Reset(c.t.idleTimeout)
		}
	}
	c.mu.Unlock()
	if idle && goaway {
		c.close(transport.ErrClosed)
	}
}

// reserve claims a stream slot for Dial.
func (c *conn) reserve() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goaway || c.closing || c.exhausted || c.err != nil || c.active >= maxStreamsPerConn {
		return false
	}
	c.active++
	if c.idle != nil {
		c.idle.Stop()
	}
	return true
}

// queueCtrl queues a control frame for writeLoop; it never blocks. When
// the peer has left maxCtrlQueue bytes of them unread it sets ctrlFull
// instead, and the reader closes the connection.
func (c *conn) queueCtrl(typ uint8, id, v uint32) {
	c.cmu.Lock()
	if len(c.ctrl) >= maxCtrlQueue {
		c.ctrlFull.Store(true)
	} else {
		c.ctrl = appendCtrlFrame(c.ctrl, typ, id, v)
	}
	c.cmu.Unlock()
	signal(c.wkick)
}

// writeLoop writes what the writers queued, one batch per system call,
// until the connection closes.
func (c *conn) writeLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.wkick:
		}
		// Let the goroutines that are ready run first: what they queue
		// joins this batch.
		runtime.Gosched()
		for {
			b, shut, ok := c.takeBatch()
			if !ok {
				break
			}
			var err error
			if len(b) > 0 {
				err = c.write(b)
			}
			c.wmu.Lock()
			if cap(b) <= maxKeptBuf {
				c.wspare = b[:0]
			}
			if err != nil && c.werr == nil {
				c.werr = err
			}
			c.wmu.Unlock()
			if err != nil {
				c.close(err)
				return
			}
			if shut {
				c.halfClose()
				break
			}
		}
	}
}

// write writes one batch. A batch not written within c.stall means the
// peer stopped reading: the connection is dead even though TCP keeps it.
func (c *conn) write(b []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.stall))
	_, err := c.nc.Write(b)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %s stopped reading: %d bytes not written in %v", transport.ErrClosed, c.remote, len(b), c.stall)
	default:
		return fmt.Errorf("%w: connection to %s lost: %w", transport.ErrClosed, c.remote, err)
	}
}

// takeBatch takes the queued frames, control frames last, with a fresh
// buffer left for the writers. It reports false when there is nothing to
// do. After a shut request the connection takes no more frames.
func (c *conn) takeBatch() (b []byte, shut, ok bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.cmu.Lock()
	ctrl, shut := c.ctrl, c.shut
	c.ctrl, c.shut = c.ctrl[:0], false
	if c.werr != nil {
		c.cmu.Unlock()
		return nil, false, false // broken or already half-closed
	}
	// Copied while cmu is held: the control queue is reused.
	c.wbuf = append(c.wbuf, ctrl...)
	c.cmu.Unlock()
	if len(c.wbuf) == 0 && !shut {
		return nil, false, false
	}
	b = c.wbuf
	c.wbuf = c.wspare
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, bufSize)
	}
	c.wspare = nil
	c.lastData = -1
	if c.wroom != nil {
		close(c.wroom)
		c.wroom = nil
	}
	if shut {
		c.werr = transport.ErrClosed
	}
	return b, shut, true
}

// halfClose half-closes the connection after the last batch; run by
// writeLoop on a graceful Shutdown.
func (c *conn) halfClose() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		c.close(transport.ErrClosed)
	}
}

// lockWrite takes wmu to append frames. With room set it first waits,
// while ctx allows, for writeLoop to take a full batch; a frame without a
// body does not wait. It fails once nothing more can be written.
func (c *conn) lockWrite(ctx context.Context, room bool) error {
	c.wmu.Lock()
	for room && len(c.wbuf) >= maxPending && c.werr == nil {
		ch := c.wroom
		if ch == nil {
			ch = make(chan struct{})
			c.wroom = ch
		}
		c.wmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.err
		}
		c.wmu.Lock()
	}
	if c.werr != nil || c.closed() {
		err := c.writeErr()
		c.wmu.Unlock()
		return err
	}
	return nil
}

// unlockWrite releases wmu, waking writeLoop if the batch was empty
// before; kick is len(c.wbuf) == 0 taken before appending.
func (c *conn) unlockWrite(kick bool) {
	c.wmu.Unlock()
	if kick {
		signal(c.wkick)
	}
}

// writeErr is the error a writer reports once the connection is unusable;
// wmu is held.
func (c *conn) writeErr() error {
	if c.closed() {
		return c.err
	}
	if c.werr != transport.ErrClosed {
		return c.werr // from write, which names the cause
	}
	return fmt.Errorf("%w: connection to %s lost: %w", transport.ErrClosed, c.remote, c.werr)
}

// announce gives a client stream its id on its first frame; the caller
// holds wmu, so ids reach the wire in increasing order.
func (c *conn) announce(s *stream) error {
	if s.id.Load() != 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return transport.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.goaway {
		return &resetError{code: codeRefused}
	}
	if c.nextID > maxStreamID {
		c.exhausted = true
		return &resetError{code: codeRefused}
	}
	id := c.nextID
	c.nextID += 2
	c.streams[id] = s
	s.id.Store(id)
	return nil
}

// writeData queues one DATA frame carrying m; ctx bounds the wait for room
// in the batch.
func (c *conn) writeData(ctx context.Context, s *stream, m *transport.Message, hl, size int) error {
	if err := c.lockWrite(ctx, true); err != nil {
		return err
	}
	if err := c.announce(s); err != nil {
		c.wmu.Unlock()
		return err
	}
	kick := len(c.wbuf) == 0
	id := s.id.Load()
	c.lastData, c.lastID = len(c.wbuf), id
	c.wbuf = appendFrameHeader(c.wbuf, frameData, 0, id, size)
	c.wbuf = appendMessage(c.wbuf, m.Header, hl, m.Body)
	c.unlockWrite(kick)
	return nil
}

// writeEnd half-closes s: it sets the End flag on s's DATA frame when that
// is the newest frame still queued, and queues a bare End frame otherwise.
func (c *conn) writeEnd(s *stream) error {
	if err := c.lockWrite(context.Background(), false); err != nil {
		return err
	}
	if err := c.announce(s); err != nil {
		c.wmu.Unlock()
		return err
	}
	id := s.id.Load()
	if c.lastData >= 0 && c.lastID == id {
		c.wbuf[c.lastData+1] |= flagEnd
		c.wmu.Unlock()
		return nil
	}
	kick := len(c.wbuf) == 0
	c.lastData = -1
	c.wbuf = appendFrameHeader(c.wbuf, frameData, flagEnd, id, 0)
	c.unlockWrite(kick)
	return nil
}

// writeCtrl queues a control frame from an application goroutine. It never
// waits: control frames are small, and a stream closing must not block.
func (c *conn) writeCtrl(typ uint8, id, v uint32) {
	c.wmu.Lock()
	if c.werr != nil || c.closed() {
		c.wmu.Unlock()
		return
	}
	kick := len(c.wbuf) == 0
	c.wbuf = appendCtrlFrame(c.wbuf, typ, id, v)
	c.unlockWrite(kick)
}

// goAway stops new streams on a server connection and tells the client.
// It never blocks: the frame goes through writeLoop, so a client that does
// not read cannot hold up Shutdown.
func (c *conn) goAway() {
	c.mu.Lock()
	if c.goaway {
		c.mu.Unlock()
		return
	}
	c.goaway = true
	last := c.lastPeer
	// Queued under c.mu so that RESETs refusing later streams follow it.
	c.queueCtrl(frameGoAway, 0, last)
	c.mu.Unlock()
}

// closeWrite asks writeLoop to write what is queued and half-close the
// connection so the client sees EOF after everything written; used by a
// graceful Shutdown. It never blocks.
func (c *conn) closeWrite() {
	c.cmu.Lock()
	c.shut = true
	c.cmu.Unlock()
	signal(c.wkick)
}
