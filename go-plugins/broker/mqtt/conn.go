package mqtt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/openmicro/go-micro/broker"
)

// restoreTimeout bounds the wait for the SUBACK of the subscriptions sent
// again after a reconnection; a connection lost meanwhile tries again on
// the next one.
const restoreTimeout = 30 * time.Second

// conn is one MQTT client connection of a session: the main one, which
// publishes and carries plain subscriptions, or that of one queue group,
// whose subscriptions are all shared ones of that group. A group has a
// connection of its own because an MQTT 3.1.1 PUBLISH does not say which
// subscription it matched, so a client subscribed both to t and to
// $share/g/t could not tell a plain copy from the group's.
type conn struct {
	s      *session
	group  string
	client paho.Client

	// wire is held from a change of filters until the SUBSCRIBE or
	// UNSUBSCRIBE it calls for is queued, so the server sees them in the
	// order the table changed. It is never taken by receive, so paho's
	// router goroutine never waits for a paho call.
	wire sync.Mutex
	// mu guards filters, stale and orphans.
	mu      sync.Mutex
	filters map[string]*filter // by MQTT topic name
	// stale holds filters unsubscribed locally while the connection was
	// down; they are unsubscribed at the server on reconnection (it keeps
	// them with CleanSession(false)).
	stale map[string]struct{}
	// orphans are messages received for no filter, held with
	// CleanSession(false) until a Subscribe takes them or they expire.
	orphans []orphan

	// up is closed while the connection is open, and replaced by an open
	// one when it is lost; upMu guards the field.
	upMu sync.Mutex
	up   chan struct{}

	connects atomic.Int64  // successful connections so far
	restore  chan struct{} // signalled by paho's OnConnect
	stop     chan struct{} // closed by close
	done     chan struct{} // closed when run returns
	once     sync.Once
}

// orphan is a message received before anything subscribed to its topic.
type orphan struct {
	m  paho.Message
	at time.Time
}

// filter is one MQTT subscription of a connection and its local
// subscribers.
type filter struct {
	topic  string // broker topic
	name   string // MQTT topic name
	filter string // what is subscribed: name, or $share/<group>/<name>
	subs   []*subscriber
	// shared is the queue the local members of a group take from; nil for
	// plain subscriptions, where each subscriber has its own.
	shared *queue
}

// dial connects a new connection for group ("" for the main one).
func (s *session) dial(ctx context.Context, group string) (*conn, error) {
	b := s.b
	c := &conn{
		s:       s,
		group:   group,
		filters: make(map[string]*filter),
		stale:   make(map[string]struct{}),
		up:      make(chan struct{}),
		restore: make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	po := paho.NewClientOptions()
	for _, srv := range b.servers {
		po.AddBroker(srv)
	}
	po.SetClientID(clientID(b.cfg.clientID, group))
	po.SetProtocolVersion(4) // 3.1.1; never fall back to 3.1, which lacks $share
	po.SetCleanSession(b.cfg.cleanSession)
	po.SetOrderMatters(true) // receive runs on paho's router goroutine and never blocks
	po.SetAutoAckDisabled(true)
	po.SetAutoReconnect(true)
	po.SetConnectRetry(false)
	po.SetMaxReconnectInterval(b.cfg.maxReconnect)
	po.SetConnectTimeout(b.cfg.connectTimeout)
	po.SetKeepAlive(b.cfg.keepAlive)
	po.SetPingTimeout(min(10*time.Second, b.cfg.keepAlive))
	po.SetWriteTimeout(b.cfg.connectTimeout)
	if b.opts.TLS != nil {
		po.SetTLSConfig(b.opts.TLS.Clone())
	}
	if b.cfg.hasCredentials {
		po.SetUsername(b.cfg.username)
		po.SetPassword(b.cfg.password)
	}
	po.SetDefaultPublishHandler(c.receive)
	po.SetOnConnectHandler(func(paho.Client) {
		c.setUp(true)
		c.connects.Add(1)
		select {
		case c.restore <- struct{}{}:
		default:
		}
	})
	po.SetConnectionLostHandler(func(_ paho.Client, err error) {
		c.setUp(false)
		b.opts.Logger.Warn("broker/mqtt: connection lost; reconnecting", "queue", group, "err", err)
	})
	po.SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
		b.opts.Logger.Debug("broker/mqtt: trying to reconnect", "queue", group, "server", b.address)
	})
	c.client = paho.NewClient(po)

	t := c.client.Connect()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			c.client.Disconnect(0)
			return nil, fmt.Errorf("broker/mqtt: connect to %s: %w", b.address, err)
		}
	case <-ctx.Done():
		c.client.Disconnect(0)
		return nil, fmt.Errorf("broker/mqtt: connect to %s: %w", b.address, ctx.Err())
	}
	go c.run()
	return c, nil
}

// clientID returns the configured id (suffixed for a group's connection)
// or a random one of MQTT 3.1.1's guaranteed 23 characters.
func clientID(base, group string) string {
	if base == "" {
		return "micro-" + rand.Text()[:17]
	}
	if group != "" {
		return base + "-q-" + group
	}
	return base
}

// setUp records whether the connection is open.
func (c *conn) setUp(open bool) {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	select {
	case <-c.up:
		if !open {
			c.up = make(chan struct{})
		}
	default:
		if open {
			close(c.up)
		}
	}
}

// waitUp waits, within ctx, while the connection is lost and being
// re-established. It fails with ErrNotConnected once the session ends and
// with an error wrapping ErrReconnecting and ctx's error when ctx ends
// first.
func (c *conn) waitUp(ctx context.Context) error {
	c.upMu.Lock()
	up := c.up
	c.upMu.Unlock()
	select {
	case <-up:
		return nil
	default:
	}
	select {
	case <-up:
		return nil
	case <-c.s.ctx.Done():
		return broker.ErrNotConnected
	case <-c.stop:
		return broker.ErrNotConnected
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrReconnecting, ctx.Err())
	}
}

// run subscribes again after every reconnection until close.
func (c *conn) run() {
	defer close(c.done)
	var tick <-chan time.Time
	if !c.s.b.cfg.cleanSession {
		t := time.NewTicker(orphanGrace / 4)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-c.stop:
			return
		case <-tick:
			c.expire()
		case <-c.restore:
			if c.connects.Load() > 1 {
				c.resubscribe()
			}
		}
	}
}

// resubscribe sends every filter again, for a server that lost them, and
// unsubscribes those that went while the connection was down.
func (c *conn) resubscribe() {
	log := c.s.b.opts.Logger
	c.wire.Lock()
	c.mu.Lock()
	filters := make(map[string]byte, len(c.filters))
	for _, f := range c.filters {
		filters[f.filter] = c.s.b.cfg.qos
	}
	var stale []string
	for f := range c.stale {
		stale = append(stale, f)
	}
	clear(c.stale)
	c.mu.Unlock()
	var st, ut paho.Token
	if len(filters) > 0 {
		st = c.client.SubscribeMultiple(filters, nil)
	}
	if len(stale) > 0 {
		ut = c.client.Unsubscribe(stale...)
	}
	c.wire.Unlock()
	if ut != nil {
		if err := c.wait(ut); err != nil {
			log.Warn("broker/mqtt: unsubscribing after reconnection failed", "queue", c.group, "filters", stale, "err", err)
		}
	}
	if st == nil {
		log.Info("broker/mqtt: reconnected", "queue", c.group)
		return
	}
	if err := c.wait(st); err != nil {
		log.Warn("broker/mqtt: subscribing again after reconnection failed; will retry on the next one",
			"queue", c.group, "filters", len(filters), "err", err)
		return
	}
	for name, code := range st.(*paho.SubscribeToken).Result() {
		if code == 0x80 {
			log.Error("broker/mqtt: server refused a subscription after reconnection", "queue", c.group, "topic", name)
		}
	}
	log.Info("broker/mqtt: reconnected; subscriptions restored", "queue", c.group, "filters", len(filters))
}

// wait waits for t until close or restoreTimeout.
func (c *conn) wait(t paho.Token) error {
	timer := time.NewTimer(restoreTimeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-c.stop:
		return errors.New("connection closed")
	case <-timer.C:
		return errors.New("timed out")
	}
}

// close stops run and disconnects, waiting up to quiesce for the
// DISCONNECT to be sent; it is idempotent.
func (c *conn) close(quiesce time.Duration) {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.client.Disconnect(uint(max(quiesce/time.Millisecond, 1)))
	})
}

// publish sends payload on the MQTT topic name and waits, within ctx, for
// the server to take it (PUBACK at QoS 1, PUBCOMP at QoS 2, the write at
// QoS 0).
func (c *conn) publish(ctx context.Context, topic, name string, payload []byte) error {
	qos := c.s.b.cfg.qos
	if qos == 0 && !c.client.IsConnectionOpen() {
		return fmt.Errorf("broker/mqtt: publish to %q: %w", topic, ErrReconnecting)
	}
	t := c.client.Publish(name, qos, false, payload)
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("broker/mqtt: publish to %q: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker/mqtt: publish to %q: %w", topic, ctx.Err())
	}
}

// subscribe adds sub to its filter, subscribing at the server, and waits
// within ctx for the SUBACK. A server that refuses the filter fails it
// with ErrRefused (and ErrQueueUnsupported for a shared subscription).
func (c *conn) subscribe(ctx context.Context, sub *subscriber) (*subscriber, error) {
	// paho refuses a SUBSCRIBE while the connection is down: wait for it.
	if err := c.waitUp(ctx); err != nil {
		return nil, fmt.Errorf("broker/mqtt: subscribe to %q: %w", sub.topic, err)
	}
	sub.ctx, sub.cancel = context.WithCancel(c.s.ctx)
	if c.group == "" { // set before the session knows sub: halt reads it
		sub.q = newQueue(c.s.b.cfg.maxPending)
	}
	if !c.s.add(sub) {
		sub.cancel()
		return nil, broker.ErrNotConnected
	}
	c.wire.Lock()
	c.mu.Lock()
	f := c.filters[sub.name]
	isNew := f == nil
	if isNew {
		f = &filter{topic: sub.topic, name: sub.name, filter: sub.filter}
		if c.group != "" {
			f.shared = newQueue(c.s.b.cfg.maxPending)
		}
		c.filters[sub.name] = f
	}
	delete(c.stale, f.filter)
	if f.shared != nil {
		sub.q = f.shared
	}
	f.subs = append(f.subs, sub)
	var errs []*DeliveryError
	if isNew {
		errs = c.adopt(f)
	}
	c.mu.Unlock()
	t := c.client.Subscribe(f.filter, c.s.b.cfg.qos, nil)
	c.wire.Unlock()
	go sub.run()
	for _, err := range errs {
		c.s.b.report(err)
	}

	var err error
	select {
	case <-t.Done():
		err = t.Error()
		if err == nil {
			for _, code := range t.(*paho.SubscribeToken).Result() {
				if code == 0x80 {
					err = ErrRefused
				}
			}
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		return sub, nil
	}
	sub.abort()
	switch {
	case errors.Is(err, ErrRefused) && c.group != "":
		return nil, fmt.Errorf("%w: subscribe to %q in queue group %q: %w: %q (does the server support shared subscriptions, or does an ACL deny it?)",
			ErrQueueUnsupported, sub.topic, c.group, ErrRefused, f.filter)
	case errors.Is(err, ErrRefused):
		return nil, fmt.Errorf("broker/mqtt: subscribe to %q: %w: %q", sub.topic, ErrRefused, f.filter)
	}
	return nil, fmt.Errorf("broker/mqtt: subscribe to %q: %w", sub.topic, err)
}

// drop removes sub from its filter. When it was the filter's last
// subscriber the filter is unsubscribed at the server and, with wait, the
// UNSUBACK awaited within ctx, so that no later message of the topic (for
// a group: none the other members should get) comes to this client.
func (c *conn) drop(ctx context.Context, sub *subscriber, wait bool) error {
	c.wire.Lock()
	t := c.dropFilter(sub)
	c.wire.Unlock()
	if t == nil || !wait {
		return nil
	}
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("broker/mqtt: unsubscribe from %q: %w", sub.topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker/mqtt: unsubscribe from %q: %w", sub.topic, ctx.Err())
	}
}

// dropFilter does drop's work under c.wire: it returns the token of the
// UNSUBSCRIBE sent, or nil when none was (other subscribers remain, or the
// connection is down and it is left for the next reconnection).
func (c *conn) dropFilter(sub *subscriber) paho.Token {
	c.mu.Lock()
	f := c.filters[sub.name]
	if f == nil {
		c.mu.Unlock()
		return nil
	}
	f.subs = slices.DeleteFunc(f.subs, func(s *subscriber) bool { return s == sub })
	if len(f.subs) > 0 {
		c.mu.Unlock()
		return nil
	}
	delete(c.filters, sub.name)
	if f.shared != nil {
		for _, it := range f.shared.close() {
			it.settle()
		}
	}
	if !c.client.IsConnectionOpen() {
		c.stale[f.filter] = struct{}{}
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	return c.client.Unsubscribe(f.filter)
}

// receive is paho's handler for every incoming PUBLISH. It runs on paho's
// router goroutine, so it only decodes the envelope and queues the message
// for the local subscribers of its topic; it never blocks. A message for no
// subscriber is acked at once, or with CleanSession(false) held for a
// while (see orphan).
func (c *conn) receive(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	f := c.filters[m.Topic()]
	if f == nil {
		held := c.orphan(m)
		c.mu.Unlock()
		if !held {
			m.Ack()
			c.s.b.opts.Logger.Debug("broker/mqtt: message for no subscriber dropped", "topic", brokerTopic(m.Topic()), "queue", c.group)
		}
		return
	}
	errs := c.dispatch(f, m)
	c.mu.Unlock()
	for _, err := range errs {
		c.s.b.report(err)
	}
}

// dispatch decodes m and queues a copy for each local subscriber of f (one
// for a group). Errors are for report, outside c.mu. The caller holds c.mu.
func (c *conn) dispatch(f *filter, m paho.Message) []*DeliveryError {
	msg, err := DecodeEnvelope(m.Payload())
	if err != nil {
		m.Ack()
		return []*DeliveryError{{Topic: f.topic, Queue: c.group, Err: err}}
	}
	n := len(f.subs)
	if f.shared != nil {
		n = 1
	}
	d := &delivery{topic: f.topic, ack: m.Ack}
	d.pending.Store(int32(n))
	var errs []*DeliveryError
	for i := range n {
		q := f.shared
		if q == nil {
			q = f.subs[i].q
		}
		it := &item{d: d, header: msg.Header, body: msg.Body}
		if i < n-1 { // the last one takes the decoded message itself
			it.header, it.body = cloneMessage(msg.Header, msg.Body)
		}
		switch q.push(it) {
		case nil:
		case errOverflow:
			it.settle()
			errs = append(errs, &DeliveryError{Topic: f.topic, Queue: c.group, Err: ErrOverflow})
		default: // the subscriber is leaving
			it.settle()
		}
	}
	return errs
}

// orphanGrace is how long, with CleanSession(false), a message for a topic
// nobody subscribes to is held unacknowledged: a persistent session gets
// the messages queued for it right after CONNECT, before the program had a
// chance to Subscribe again.
const orphanGrace = 10 * time.Second

// orphan holds m for a Subscribe to come, reporting whether it did. The
// caller holds c.mu.
func (c *conn) orphan(m paho.Message) bool {
	if c.s.b.cfg.cleanSession || len(c.orphans) >= c.s.b.cfg.maxPending {
		return false
	}
	c.orphans = append(c.orphans, orphan{m: m, at: time.Now()})
	return true
}

// adopt hands the held messages of f's topic to f, the filter a Subscribe
// just made. The caller holds c.mu.
func (c *conn) adopt(f *filter) []*DeliveryError {
	var errs []*DeliveryError
	kept := c.orphans[:0]
	for _, o := range c.orphans {
		if o.m.Topic() == f.name {
			errs = append(errs, c.dispatch(f, o.m)...)
		} else {
			kept = append(kept, o)
		}
	}
	clear(c.orphans[len(kept):])
	c.orphans = kept
	return errs
}

// expire acks and drops the held messages older than orphanGrace.
func (c *conn) expire() {
	c.mu.Lock()
	var old []orphan
	kept := c.orphans[:0]
	for _, o := range c.orphans {
		if time.Since(o.at) >= orphanGrace {
			old = append(old, o)
		} else {
			kept = append(kept, o)
		}
	}
	clear(c.orphans[len(kept):])
	c.orphans = kept
	c.mu.Unlock()
	for _, o := range old {
		o.m.Ack()
		c.s.b.opts.Logger.Warn("broker/mqtt: message of the persistent session dropped: nothing subscribed to its topic",
			"topic", brokerTopic(o.m.Topic()), "queue", c.group, "held", orphanGrace)
	}
}
