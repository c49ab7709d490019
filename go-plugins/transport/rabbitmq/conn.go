package rabbitmq

import (
	"context"
	"log/slog"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// brokerConn is the transport's AMQP connection and whether RabbitMQ
// currently blocks it from publishing (a memory or disk alarm, announced
// with connection.blocked). A Send waits for the block to lift, within
// its ctx, instead of stalling inside a write that no ctx can interrupt.
type brokerConn struct {
	*amqp.Connection

	mu   sync.Mutex
	open chan struct{} // closed while publishing is allowed
	log  *slog.Logger
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// newBrokerConn wraps c and follows its blocked notifications until it
// closes, in a goroutine counted by wg.
func newBrokerConn(c *amqp.Connection, wg *sync.WaitGroup, log *slog.Logger) *brokerConn {
	b := &brokerConn{Connection: c, open: closedChan(), log: log}
	if c == nil {
		return b
	}
	blocks := c.NotifyBlocked(make(chan amqp.Blocking, 1))
	wg.Go(func() {
		for bl := range blocks {
			b.setBlocked(bl.Active, bl.Reason)
		}
		b.setBlocked(false, "") // closed: publishing fails fast now
	})
	return b
}

func (b *brokerConn) setBlocked(blocked bool, reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.open:
		if blocked {
			b.open = make(chan struct{})
			b.log.Warn("transport/rabbitmq: RabbitMQ blocks publishing on this connection; Send waits", "reason", reason)
		}
	default:
		if !blocked {
			close(b.open)
			b.log.Info("transport/rabbitmq: RabbitMQ lets this connection publish again")
		}
	}
}

// writable waits until the connection may publish or ctx ends.
func (b *brokerConn) writable(ctx context.Context) error {
	b.mu.Lock()
	open := b.open
	b.mu.Unlock()
	select {
	case <-open:
		return nil
	default:
	}
	select {
	case <-open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
