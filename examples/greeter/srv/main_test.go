package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/openmicro/examples/greeter"
	pb "github.com/openmicro/examples/greeter/proto"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var startedLine = regexp.MustCompile(`micro: service started.* address=(\S+)`)

// TestSIGTERM runs the built greeter, opens a stream that takes a while,
// and sends the process SIGTERM while the stream is in flight: the stream
// still delivers every greeting, the process exits 0 and, stopped, it
// accepts no more calls.
func TestSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "greeter")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The memory registry: the test needs no registry server, and the
	// client calls the address the greeter logs.
	cmd := exec.Command(bin, "--registry=memory", "--server_address=127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		for range lines {
		}
	})

	var addr string
	for addr == "" {
		line, ok := <-lines
		if !ok {
			t.Fatal("the greeter exited before it started")
		}
		if m := startedLine.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}

	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := client.New(client.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	say := pb.NewSayService(greeter.Name, c)
	ctx, cancel := context.WithTimeout(t.Context(), 4*testenv.Patience)
	defer cancel()
	const count = 5
	stream, err := say.Stream(ctx, &pb.StreamRequest{Name: "Ann", Count: count, Interval: int64(100 * time.Millisecond)},
		client.WithAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := stream.Recv(); err != nil {
		t.Fatalf("first greeting: %v", err)
	}
	// The stream is in flight: stop the service.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	got := 1
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("greeting %d after SIGTERM: %v", got+1, err)
		}
		got++
	}
	if got != count {
		t.Fatalf("got %d greetings, want %d", got, count)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the greeter exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(4 * testenv.Patience):
		t.Fatal("the greeter did not exit after SIGTERM")
	}
	if _, err := say.Hello(t.Context(), &pb.HelloRequest{Name: "Bob"}, client.WithAddress(addr), client.WithRetries(0)); err == nil {
		t.Fatal("the stopped greeter still answers")
	}
}

// TestHelp prints the flags and exits cleanly.
func TestHelp(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stdout := os.Stdout
	os.Stdout = w
	err = run([]string{"greeter", "--help"})
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if err != nil {
		t.Fatalf("run --help: %v", err)
	}
	if !regexp.MustCompile(`MICRO_REGISTRY`).Match(out) {
		t.Errorf("--help does not list the env vars:\n%s", out)
	}
	fmt.Fprint(io.Discard, string(out))
}
