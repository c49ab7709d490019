package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/testenv"
)

// connected returns a broker on addr, connected, disconnected at cleanup.
func connected(t *testing.T, addr string, opts ...broker.Option) broker.Broker {
	t.Helper()
	b := newTestBroker(t, addr, opts...)
	if err := b.Connect(t.Context()); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.Disconnect(ctx); err != nil {
			t.Errorf("Disconnect: %v", err)
		}
	})
	return b
}

// uniqueTopic returns a topic of its own for one test run.
func uniqueTopic(t *testing.T) string {
	t.Helper()
	return "mqtttest." + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// inbox records the Id header of what its handler receives.
type inbox struct {
	mu  sync.Mutex
	ids []string
}

func (in *inbox) handle(_ context.Context, e broker.Event) error {
	in.mu.Lock()
	in.ids = append(in.ids, e.Message().Header["Id"])
	in.mu.Unlock()
	return nil
}

func (in *inbox) got() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.ids...)
}

func (in *inbox) count() int { return len(in.got()) }

// has reports how many times id arrived.
func (in *inbox) has(id string) int {
	n := 0
	for _, g := range in.got() {
		if g == id {
			n++
		}
	}
	return n
}

func publish(t *testing.T, b broker.Broker, topic string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := b.Publish(t.Context(), topic, &broker.Message{Header: map[string]string{"Id": id}, Body: []byte(id)}); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// expectOnce checks that every id arrived exactly once.
func expectOnce(t *testing.T, name string, in *inbox, want []string) {
	t.Helper()
	for _, id := range want {
		if k := in.has(id); k != 1 {
			t.Errorf("%s: %s arrived %d times, want 1", name, id, k)
		}
	}
}

// logRecorder is a slog handler that keeps the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count reports how many messages logged so far start with prefix.
func (r *logRecorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// mosquitto is a Mosquitto process of one test, on a loopback port of its
// own, killed at cleanup.
type mosquitto struct {
	t    *testing.T
	bin  string
	conf string
	port int
	addr string // host:port

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *bytes.Buffer
}

// startMosquitto starts Mosquitto with extra configuration lines ({{dir}}
// is replaced by a temporary folder of the test), or skips the test when
// the binary is missing.
func startMosquitto(t *testing.T, extra string) *mosquitto {
	t.Helper()
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("mosquitto")
		if lerr != nil {
			testenv.Missing(t, "mqtt", "no mosquitto binary at "+bin+" or on PATH to run a server of the test's own")
			return nil
		}
		bin = p
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n%s\n",
		port, strings.ReplaceAll(extra, "{{dir}}", dir))
	if os.Geteuid() == 0 {
		// Run as root stays root, so it can read the test's 0700 folders
		// (by default Mosquitto drops to the user "mosquitto").
		text += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, bin: bin, conf: conf, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	t.Cleanup(m.kill)
	m.start()
	return m
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs the server and waits until it accepts connections.
func (m *mosquitto) start() {
	m.t.Helper()
	m.mu.Lock()
	cmd := exec.Command(m.bin, "-c", m.conf)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &syncWriter{w: out}, &syncWriter{w: out}
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		m.t.Fatalf("start mosquitto: %v", err)
	}
	exited := make(chan struct{})
	go func() { // ends when the process does; kill waits for it
		_ = cmd.Wait()
		close(exited)
	}()
	m.cmd, m.exited, m.out = cmd, exited, out
	m.mu.Unlock()

	deadline := time.Now().Add(testenv.Patience)
	for {
		c, err := net.DialTimeout("tcp", m.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited at start: %s", m.output())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not accept on %s: %v; output: %s", m.addr, err, m.output())
		}
	}
}

// kill stops the server abruptly (SIGKILL) and waits for it to exit.
func (m *mosquitto) kill() {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

func (m *mosquitto) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.out == nil {
		return ""
	}
	return m.out.String()
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func newSlog(h slog.Handler) *slog.Logger { return slog.New(h) }
