package rabbitmq

import (
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ctlQueue bounds the control frames waiting to be published; beyond it
// they are dropped (they are resets and probes, which later traffic
// repeats).
const ctlQueue = 1024

type ctlFrame struct {
	key string
	p   amqp.Publishing
}

// ctlPublisher publishes control frames (resets answering frames of
// unknown streams, probes) for a dispatcher, which must never wait on the
// network itself.
type ctlPublisher struct {
	ch   *amqp.Channel
	q    chan ctlFrame
	stop chan struct{}
	done chan struct{}
	once sync.Once
	log  *slog.Logger
}

func startCtl(wg *sync.WaitGroup, ch *amqp.Channel, log *slog.Logger) *ctlPublisher {
	p := &ctlPublisher{
		log:  log,
		ch:   ch,
		q:    make(chan ctlFrame, ctlQueue),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	wg.Go(p.run)
	return p
}

func (p *ctlPublisher) run() {
	defer close(p.done)
	for {
		select {
		case <-p.stop:
			return
		case f := <-p.q:
			select {
			case <-p.stop:
				return
			default:
			}
			// Probes are mandatory: a probe RabbitMQ cannot route comes
			// back and fails the streams to that queue.
			mandatory := f.p.Type == typeProbe
			if err := p.ch.Publish("", f.key, mandatory, false, f.p); err != nil {
				p.log.Debug("transport/rabbitmq: control frame not published", "type", f.p.Type, "queue", f.key, "error", err)
			}
		}
	}
}

// send queues f without waiting.
func (p *ctlPublisher) send(key string, pub amqp.Publishing) {
	select {
	case p.q <- ctlFrame{key: key, p: pub}:
	default:
		p.log.Debug("transport/rabbitmq: control frame dropped: queue full", "type", pub.Type, "queue", key)
	}
}

func (p *ctlPublisher) reset(key, id, local string, code byte) {
	p.send(key, amqp.Publishing{Type: typeReset, CorrelationId: id, ReplyTo: local, Body: []byte{code}})
}

// probe queues probes listing ids to the queue key.
func (p *ctlPublisher) probe(key, local string, ids []string) {
	for _, b := range encodeProbes(ids) {
		p.send(key, amqp.Publishing{Type: typeProbe, ReplyTo: local, Body: b, Expiration: "0"})
	}
}

// close stops the publisher, dropping what is queued; it is idempotent.
func (p *ctlPublisher) close() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}
