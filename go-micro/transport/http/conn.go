package http

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/transport"
)

const (
	bufSize = 32 << 10

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
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	client bool
	maxMsg int
	local  string
	remote string

	t *httpTransport // client side
	l *listener      // server side

	// Writers hold wmu; the last one in line flushes, so concurrent
	// senders share one write system call.
	wmu     sync.Mutex
	waiting atomic.Int32
	whdr    [frameHeaderLen]byte
	nextID  uint32 // client: next stream id; guarded by wmu
	werr    error  // sticky write error; guarded by wmu

	// Control frames the reader (or Shutdown) wants sent; written by
	// ctrlLoop so that neither ever blocks on the network.
	cmu      sync.Mutex
	ctrl     []byte
	shut     bool        // half-close once ctrl is written; guarded by cmu
	ctrlFull atomic.Bool // the peer left maxCtrlQueue bytes unread
	ctrlCh   chan struct{}

	mu        sync.Mutex
	streams   map[uint32]*stream
	lastPeer  uint32 // server: highest stream id the peer opened
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

func newConn(nc net.Conn, br *bufio.Reader, bw *bufio.Writer, client bool, maxMsg int) *conn {
	c := &conn{
		nc:      nc,
		br:      br,
		bw:      bw,
		client:  client,
		maxMsg:  maxMsg,
		local:   nc.LocalAddr().String(),
		remote:  nc.RemoteAddr().String(),
		ctrlCh:  make(chan struct{}, 1),
		streams: make(map[uint32]*stream),
		done:    make(chan struct{}),
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
	if c.goaway || !c.l.reserve() {
		c.queueCtrl(frameReset, id, codeRefused)
		return nil, false
	}
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
		go c.l.fn(s)
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
		s.reset(&resetError{code: code})
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

// queueCtrl queues a control frame for ctrlLoop; it never blocks. When the
// peer has left maxCtrlQueue bytes of them unread it sets ctrlFull instead,
// and the reader closes the connection.
func (c *conn) queueCtrl(typ uint8, id, v uint32) {
	c.cmu.Lock()
	if len(c.ctrl) >= maxCtrlQueue {
		c.ctrlFull.Store(true)
	} else {
		c.ctrl = appendCtrlFrame(c.ctrl, typ, id, v)
	}
	c.cmu.Unlock()
	select {
	case c.ctrlCh <- struct{}{}:
	default:
	}
}

// ctrlLoop writes queued control frames until the connection closes.
func (c *conn) ctrlLoop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.ctrlCh:
		}
		c.cmu.Lock()
		b, shut := c.ctrl, c.shut
		c.ctrl, c.shut = nil, false
		c.cmu.Unlock()
		if shut {
			c.halfClose(b)
			continue
		}
		if len(b) == 0 {
			continue
		}
		c.lockWrite()
		if c.werr == nil {
			_, _ = c.bw.Write(b)
		}
		c.unlockWrite()
	}
}

// lockWrite and unlockWrite bracket every frame write. unlockWrite flushes
// unless another writer is waiting, who will then flush for both.
func (c *conn) lockWrite() {
	c.waiting.Add(1)
	c.wmu.Lock()
	c.waiting.Add(-1)
}

func (c *conn) unlockWrite() {
	var err error
	if c.werr == nil && c.waiting.Load() == 0 {
		if err = c.bw.Flush(); err != nil {
			c.werr = err
		}
	}
	c.wmu.Unlock()
	if err != nil {
		c.close(fmt.Errorf("%w: connection to %s lost: %w", transport.ErrClosed, c.remote, err))
	}
}

// writeErr is the error a writer reports once the connection is unusable.
func (c *conn) writeErr() error {
	if c.closed() {
		return c.err
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

func (c *conn) putHeader(typ, flags uint8, id uint32, size int) {
	c.whdr[0] = typ
	c.whdr[1] = flags
	binary.BigEndian.PutUint32(c.whdr[2:6], id)
	binary.BigEndian.PutUint32(c.whdr[6:10], uint32(size))
	_, _ = c.bw.Write(c.whdr[:])
}

// writeData writes one DATA frame (m may be nil for a bare half-close).
func (c *conn) writeData(s *stream, m *transport.Message, hl, size int, flags uint8) error {
	c.lockWrite()
	if c.werr != nil || c.closed() {
		err := c.writeErr()
		c.unlockWrite()
		return err
	}
	if err := c.announce(s); err != nil {
		c.unlockWrite()
		return err
	}
	c.putHeader(frameData, flags, s.id.Load(), size)
	if m != nil {
		writeMessagePayload(c.bw, m.Header, hl, m.Body)
	}
	c.unlockWrite()
	return nil
}

// writeCtrl writes a control frame from an application goroutine.
func (c *conn) writeCtrl(typ uint8, id, v uint32) {
	c.lockWrite()
	if c.werr == nil && !c.closed() {
		c.putHeader(typ, 0, id, ctrlPayloadLen)
		binary.BigEndian.PutUint32(c.whdr[:4], v)
		_, _ = c.bw.Write(c.whdr[:4])
	}
	c.unlockWrite()
}

// goAway stops new streams on a server connection and tells the client.
// It never blocks: the frame goes through ctrlLoop, so a client that does
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

// closeWrite asks ctrlLoop to flush and half-close the connection so the
// client sees EOF after everything written; used by a graceful Shutdown.
// It never blocks.
func (c *conn) closeWrite() {
	c.cmu.Lock()
	c.shut = true
	c.cmu.Unlock()
	signal(c.ctrlCh)
}

// halfClose writes b, flushes and half-closes; run by ctrlLoop.
func (c *conn) halfClose(b []byte) {
	c.lockWrite()
	if c.werr == nil {
		_, _ = c.bw.Write(b)
		if err := c.bw.Flush(); err != nil {
			c.werr = err
		}
	}
	c.werr = transport.ErrClosed
	c.wmu.Unlock()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		c.close(transport.ErrClosed)
	}
}
