// Package gatewaybench measures HTTP JSON through the API gateway: a POST
// of {"name": ...} to `micro api` (a process of its own), which resolves
// the path to the greeter example (another process) and calls it with
// go-micro RPC, against a bare net/http handler (a process of its own too)
// answering the same JSON.
package gatewaybench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/openmicro/benchmarks/internal/rpcbench"
)

// Name is what each request greets; Msg is the reply both sides send.
const (
	Name = "benchmark-0001"
	Msg  = "Hello " + Name
)

// Path is where both are called: through the gateway it resolves to the
// service go.micro.api.greeter, endpoint Say.Hello.
const Path = "/greeter/say/hello"

// Service is the name the greeter registers under, so that Path reaches it.
const Service = "go.micro.api.greeter"

var body = []byte(`{"name":"` + Name + `"}`)

// BuildMicro builds the micro binary from microDir (the micro module's
// folder) into dir and returns its path.
func BuildMicro(ctx context.Context, microDir, dir string) (string, error) {
	bin := filepath.Join(dir, "micro")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = microDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("gatewaybench: building micro: %w\n%s", err, out)
	}
	return bin, nil
}

// Proc is a process of the benchmark, stopped with SIGTERM.
type Proc struct {
	cmd   *exec.Cmd
	stdin io.Closer // held open until Stop: the bench binary's servers stop at its end
	done  chan struct{}
	out   *lines
}

// Stop stops the process: SIGTERM, then SIGKILL after 10 s.
func (p *Proc) Stop() {
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// lines collects a process's output and finds a line in it.
type lines struct {
	found chan []string
	re    *regexp.Regexp
	tail  bytes.Buffer
}

// start runs bin and waits for ready to match a line of its standard
// output, or of its standard error too when withStderr. Otherwise its
// standard error, where the gateway logs a line per request, goes to
// /dev/null: reading it here would load the load generator's process on
// one side of the comparison only.
func start(bin string, ready *regexp.Regexp, withStderr bool, args ...string) (*Proc, []string, error) {
	cmd := exec.Command(bin, args...)
	r, w := io.Pipe()
	cmd.Stdout = w
	if withStderr {
		cmd.Stderr = w
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	p := &Proc{cmd: cmd, stdin: stdin, done: make(chan struct{}), out: &lines{found: make(chan []string, 1), re: ready}}
	go func() { _ = cmd.Wait(); _ = w.Close(); close(p.done) }()
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if p.out.tail.Len() < 64<<10 {
				p.out.tail.WriteString(line + "\n")
			}
			if m := ready.FindStringSubmatch(line); m != nil {
				p.out.found <- m
				break
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case m := <-p.out.found:
		return p, m, nil
	case <-scanned:
		p.Stop()
		return nil, nil, fmt.Errorf("gatewaybench: %s ended before it was ready:\n%s", filepath.Base(bin), p.out.tail.String())
	case <-time.After(30 * time.Second):
		p.Stop()
		<-scanned
		return nil, nil, fmt.Errorf("gatewaybench: %s not ready after 30s:\n%s", filepath.Base(bin), p.out.tail.String())
	}
}

var (
	serviceStarted = regexp.MustCompile(`service started`)
	apiListening   = regexp.MustCompile(`micro api listening on (\S+);`)
)

// StartGreeter starts the greeter binary registered as [Service] in the
// registry service at regAddr.
func StartGreeter(bin, regAddr string) (*Proc, error) {
	p, _, err := start(bin, serviceStarted, true, "--server_name="+Service, "--registry=micro", "--registry_address="+regAddr,
		"--server_address=127.0.0.1:0", "--broker_address=127.0.0.1:0")
	return p, err
}

// StartAPI starts `micro api` on a free loopback port over the registry
// service at regAddr and returns it with its base URL.
func StartAPI(microBin, regAddr string) (*Proc, string, error) {
	p, m, err := start(microBin, apiListening, false, "--registry=micro", "--registry_address="+regAddr,
		"--broker_address=127.0.0.1:0", "api", "--address=127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + m[1], nil
}

// Handler is the bare net/http peer: it decodes {"name"} and answers
// {"msg"} as the greeter does.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if r.Method != http.MethodPost {
			http.Error(w, `{"detail":"method not allowed"}`, http.StatusMethodNotAllowed)
			return
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Name == "" {
			http.Error(w, `{"detail":"bad request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Msg string `json:"msg"`
		}{"Hello " + req.Name})
	})
}

// System is the name the bench binary serves the bare handler under
// ("bench serve http-json"), beside rpcbench's systems.
const System = "http-json"

// Bare is the bare net/http peer, serving [Handler].
type Bare struct {
	lis net.Listener
	srv *http.Server
}

// ServeBare serves [Handler] on addr (host:port, port 0 for a free one).
func ServeBare(addr string) (*Bare, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Bare{lis: lis, srv: &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = b.srv.Serve(lis) }()
	return b, nil
}

// Addr is where it listens, host:port.
func (b *Bare) Addr() string { return b.lis.Addr().String() }

// Stop shuts it down gracefully within ctx.
func (b *Bare) Stop(ctx context.Context) error { return b.srv.Shutdown(ctx) }

// Conn posts the request to base+[Path] over one keep-alive client, for
// rpcbench's closed loop.
type Conn struct {
	url    string
	client *http.Client
}

var _ rpcbench.Conn = (*Conn)(nil)

// Dial returns a Conn to base (http://host:port) that keeps up to
// concurrency connections alive.
func Dial(base string, concurrency int) *Conn {
	tr := &http.Transport{
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &Conn{url: base + Path, client: &http.Client{Transport: tr}}
}

// Echo posts one request and checks the reply.
func (c *Conn) Echo(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	rsp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(rsp.Body, 1<<20))
	if err != nil {
		return err
	}
	if rsp.StatusCode != http.StatusOK {
		return fmt.Errorf("gatewaybench: %s: %s: %s", c.url, rsp.Status, strings.TrimSpace(string(b)))
	}
	var reply struct {
		Msg string `json:"msg"`
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		return fmt.Errorf("gatewaybench: %s: reply %q: %w", c.url, b, err)
	}
	if reply.Msg != Msg {
		return fmt.Errorf("gatewaybench: %s: reply %q, want msg %q", c.url, b, Msg)
	}
	return nil
}

// Chat is not part of this benchmark.
func (c *Conn) Chat(context.Context) (rpcbench.Chat, error) {
	return nil, errors.New("gatewaybench: no streams over the gateway benchmark")
}

// Close closes the idle connections.
func (c *Conn) Close() error {
	c.client.CloseIdleConnections()
	return nil
}
