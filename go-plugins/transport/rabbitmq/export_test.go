package rabbitmq

import (
	"testing"

	"github.com/openmicro/go-micro/transport"
)

// KillableTransport returns a transport on the test broker and a function
// that cuts its broker connection for good, as a crash would.
func KillableTransport(t *testing.T, name string) (transport.Transport, func()) {
	c := &cutter{}
	tr := newTestTransport(t, withDialer(c.dial), ConnectionName("micro-transport-test-"+name))
	return tr, func() { c.cut(true) }
}
