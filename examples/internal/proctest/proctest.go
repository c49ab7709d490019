// Package proctest runs the examples for real in their tests: micro and
// the example built with go build, started as processes on free loopback
// ports and awaited on the lines they print. examples/api, examples/rest
// and examples/sidecar use it.
//
// Each helper takes the test's *testing.T and fails it on error; a
// process started with [Start] gets SIGTERM when its test ends and must
// exit 0. Values are safe for use by the goroutines of one test.
package proctest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openmicro/go-micro/testenv"
	"go.uber.org/goleak"
)

// Patience bounds each wait of these tests: far above what a step takes
// under -race on a loaded 2-core machine, so that a failure means the
// awaited thing never happened.
const Patience = 3 * testenv.Patience

// binDir holds the binaries the tests build; TestMain makes and removes it.
var binDir string

// Main is TestMain's body for a package that uses proctest: it makes the
// folder the binaries are built into, runs the tests, checks for leaked
// goroutines and removes the folder.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildMu sync.Mutex
	builds  = map[string]error{} // by output path: what building it returned
)

// Build builds the main package pkg of the module in dir (relative to this
// package) into binDir as name, once per test binary, with the race
// detector when the tests run with it, and returns the binary's path.
func Build(t *testing.T, name, dir, pkg string) string {
	t.Helper()
	out := filepath.Join(binDir, name)
	buildMu.Lock()
	defer buildMu.Unlock()
	err, done := builds[out]
	if !done {
		args := []string{"build", "-o", out}
		if raceEnabled() {
			args = append(args, "-race")
		}
		c := exec.Command("go", append(args, pkg)...)
		c.Dir = dir
		var text []byte
		if text, err = c.CombinedOutput(); err != nil {
			err = fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, text)
		}
		builds[out] = err
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// Proc is a process the test started, its output kept as it comes.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	changed chan struct{} // gets a value when output arrives

	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr, interleaved as written
	stdout bytes.Buffer

	done chan struct{} // closed once the process exited and its output was read
	err  error         // Wait's, set before done is closed
}

// procWriter appends to the proc's buffers.
type procWriter struct {
	p      *Proc
	stdout bool
}

func (w procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.out.Write(b)
	if w.stdout {
		w.p.stdout.Write(b)
	}
	w.p.mu.Unlock()
	select {
	case w.p.changed <- struct{}{}:
	default:
	}
	return len(b), nil
}

// Start runs bin with args. When the test ends the process gets SIGTERM
// and must exit 0 within Patience (else it is killed and the test fails);
// its output is logged when the test failed.
func Start(t *testing.T, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{name: name, cmd: exec.Command(bin, args...), changed: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd.Stdout = procWriter{p: p, stdout: true}
	p.cmd.Stderr = procWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Stdout is what the process printed to its standard output so far.
func (p *Proc) Stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String()
}

// Await waits until re matches the process's output and returns the
// submatches; it fails when the process exits first or after Patience.
func (p *Proc) Await(t *testing.T, what string, re *regexp.Regexp) []string {
	t.Helper()
	timer := time.NewTimer(Patience)
	defer timer.Stop()
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.changed:
		case <-p.done:
			if m := re.FindStringSubmatch(p.Output()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%v) before %s:\n%s", p.name, p.err, what, p.Output())
		case <-timer.C:
			t.Fatalf("%s: no %s within %v:\n%s", p.name, what, Patience, p.Output())
		}
	}
}

// Stop sends sig unless the process exited, and waits for it to exit; it
// returns an error when it does not exit 0 within Patience (it is then
// killed).
func (p *Proc) Stop(sig os.Signal) error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		timer := time.NewTimer(Patience)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("did not exit within %v of %v", Patience, sig)
		}
	}
	if p.err != nil {
		return fmt.Errorf("exited with %w", p.err)
	}
	return nil
}

// MicroServer is a running `micro server`.
type MicroServer struct {
	*Proc
	Registry string // the registry service's address, for --registry_address
	API      string // the API gateway's URL, "" when it is off
	Sidecar  string // the sidecar's URL, "" when it is off
}

var (
	serverReady   = regexp.MustCompile(`(?m)^ready: .*--registry_address (\S+);`)
	serverAPI     = regexp.MustCompile(`(?m)^api\s+API gateway at (\S+)`)
	serverSidecar = regexp.MustCompile(`(?m)^sidecar\s+sidecar at (\S+)`)
)

// StartServer runs `micro server` with its registry service on a free
// loopback port and the extra args, and waits until it is ready.
func StartServer(t *testing.T, micro string, args ...string) *MicroServer {
	t.Helper()
	p := Start(t, "micro server", micro, append([]string{"server", "--address", "127.0.0.1:0"}, args...)...)
	s := &MicroServer{Proc: p, Registry: p.Await(t, "micro server to be ready", serverReady)[1]}
	if m := serverAPI.FindStringSubmatch(p.Stdout()); m != nil {
		s.API = m[1]
	}
	if m := serverSidecar.FindStringSubmatch(p.Stdout()); m != nil {
		s.Sidecar = m[1]
	}
	return s
}
