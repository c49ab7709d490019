package plugins

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/examples/greeter"
	pb "github.com/openmicro/examples/greeter/proto"
	micro "github.com/openmicro/go-micro"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engine is how a plugin finds its server: the engine's name for
// testenv.Addr, its default address, and the URL scheme of the flag value.
type engine struct{ name, def, scheme string }

var (
	nats     = engine{"nats", "127.0.0.1:4222", "nats://"}
	rabbitmq = engine{"rabbitmq", "127.0.0.1:5672", "amqp://guest:guest@"}
	mqtt     = engine{"mqtt", "127.0.0.1:1883", "tcp://"}
)

// flags returns --NAME=PLUGIN and, for a plugin on an engine, its address.
func flags(t *testing.T, kind, plugin string, e *engine) []string {
	args := []string{"--" + kind + "=" + plugin}
	if e != nil {
		args = append(args, "--"+kind+"_address="+e.scheme+testenv.Addr(t, e.name, e.def))
	}
	return args
}

func TestGreeterOverEveryPair(t *testing.T) {
	transports := []struct {
		name string
		e    *engine
	}{{"http", nil}, {"nats", &nats}, {"rabbitmq", &rabbitmq}}
	brokers := []struct {
		name string
		e    *engine
	}{{"http", nil}, {"nats", &nats}, {"rabbitmq", &rabbitmq}, {"mqtt", &mqtt}}
	for _, tr := range transports {
		for _, br := range brokers {
			t.Run(tr.name+"/"+br.name, func(t *testing.T) {
				args := append(flags(t, "transport", tr.name, tr.e), flags(t, "broker", br.name, br.e)...)
				run(t, "greeter-"+tr.name+"-"+br.name, args)
			})
		}
	}
}

// run starts the greeter as name (unique per pair, which keeps the pairs
// apart on the shared engines) with args, calls it from a second service
// built with the same args, and publishes an event it must log.
func run(t *testing.T, name string, args []string) {
	reg := memory.New()
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))

	ctx, cancel := context.WithCancel(t.Context())
	srv, err := greeter.NewService(
		micro.Args(append([]string{"greeter", "--server_name=" + name}, args...)),
		micro.Registry(reg), micro.Logger(logger), micro.Context(ctx),
	)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run() }()
	t.Cleanup(func() {
		cancel()
		if err := testenv.Recv(t, "the greeter to stop", done); err != nil {
			t.Errorf("greeter Run: %v", err)
		}
	})
	testenv.WaitFor(t, "the greeter registered", func() bool {
		ss, _ := reg.GetService(t.Context(), name)
		return len(ss) > 0 && len(ss[0].Nodes) > 0
	})

	cli := micro.NewService(micro.Name(name+"-client"), micro.Args(append([]string{"client"}, args...)), micro.Registry(reg), micro.Logger(logger))
	if err := cli.Init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cli.Close(ctx); err != nil {
			t.Errorf("client service Close: %v", err)
		}
	})
	b := cli.Options().Broker
	if err := b.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Disconnect(ctx)
	})

	// RPC: Say.Hello and Say.Stream through the generated client.
	var out bytes.Buffer
	say := pb.NewSayService(name, cli.Client())
	rsp, err := say.Hello(t.Context(), &pb.HelloRequest{Name: "Alice"})
	if err != nil {
		t.Fatalf("Say.Hello: %v", err)
	}
	fmt.Fprintln(&out, rsp.GetMsg())
	stream, err := say.Stream(t.Context(), &pb.StreamRequest{Name: "Bob", Count: 3})
	if err != nil {
		t.Fatalf("Say.Stream: %v", err)
	}
	defer stream.Close()
	for i := range 3 {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("Say.Stream message %d: %v", i, err)
		}
		fmt.Fprintln(&out, m.GetMsg())
	}
	t.Logf("args %v: greetings:\n%s", args, out.String())
	if !strings.Contains(out.String(), "Alice") || strings.Count(out.String(), "Bob") != 3 {
		t.Fatalf("greetings:\n%s", out.String())
	}

	// Pub/sub: an event on the greeter's topic reaches its subscriber,
	// which logs it. A subscription may take a moment to be seen by a
	// publisher on another connection (the http broker through the
	// registry), so publish until it is logged.
	marker := "event-" + name
	testenv.WaitFor(t, "the greeter's subscriber to log the event", func() bool {
		if logs.contains(marker) {
			return true
		}
		msg := cli.Client().NewMessage(greeter.Topic, &pb.Event{Name: marker, Message: "hi"})
		if err := cli.Client().Publish(t.Context(), msg); err != nil {
			t.Logf("publish: %v", err)
		}
		return logs.contains(marker)
	})
}

// logBuffer is an io.Writer safe for the concurrent writes of a logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}
