package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/transport"
	"github.com/openmicro/go-micro/transport/transporttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newT(t *testing.T) transport.Transport {
	t.Helper()
	tr, err := NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, newT)
}

func TestConformanceSmallLimit(t *testing.T) {
	transporttest.RunConfig(t, func(t *testing.T) transport.Transport {
		tr, err := NewTransport(transport.MaxMessageSize(64 << 10))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}, transporttest.Config{MaxMessageSize: 64 << 10, ListenAddr: "service.local:0"})
}

func TestAddresses(t *testing.T) {
	a, b := newT(t), newT(t)
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	ctx := t.Context()
	tests := []struct {
		name    string
		addr    string
		wantErr error
	}{
		{"port zero", "127.0.0.1:0", nil},
		{"port zero again", "127.0.0.1:0", nil},
		{"empty", "", nil},
		{"fixed", "127.0.0.1:9999", nil},
		{"fixed taken", "127.0.0.1:9999", ErrAddrInUse},
		{"name", "greeter", nil},
	}
	seen := map[string]bool{}
	parent := t
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := a.Listen(ctx, tc.addr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Listen(%q) = %v, want %v", tc.addr, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			parent.Cleanup(func() { _ = l.Close() })
			if seen[l.Addr()] {
				t.Errorf("Addr %q handed out twice", l.Addr())
			}
			seen[l.Addr()] = true
			// Another Transport value does not see a's listeners.
			if _, err := b.Dial(ctx, l.Addr()); !errors.Is(err, ErrNoListener) {
				t.Errorf("Dial through another Transport = %v, want ErrNoListener", err)
			}
		})
	}
}

func ExampleNewTransport() {
	tr, _ := NewTransport()
	defer tr.Close()
	ctx := context.Background()
	l, _ := tr.Listen(ctx, "127.0.0.1:0")
	defer l.Close()
	go l.Accept(func(s transport.Socket) {
		defer s.Close()
		var m transport.Message
		for s.Recv(ctx, &m) == nil {
			m.Body = append([]byte("echo: "), m.Body...)
			_ = s.Send(ctx, &m)
		}
	})
	s, _ := tr.Dial(ctx, l.Addr())
	defer s.Close()
	_ = s.Send(ctx, &transport.Message{Body: []byte("hello")})
	var m transport.Message
	_ = s.Recv(ctx, &m)
	fmt.Println(string(m.Body))
	// Output: echo: hello
}
