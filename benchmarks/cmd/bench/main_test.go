package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/testenv"
)

// TestQuick builds the bench binary and runs it in quick mode, as CI does,
// so that the benchmark keeps working. It checks that every row is printed
// with numbers; it asserts no timing.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the benchmark binary")
	}
	bin := filepath.Join(t.TempDir(), "bench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	nats := testenv.Addr(t, "nats", "127.0.0.1:4222")
	cmd := exec.CommandContext(t.Context(), bin, "-quick", "-nats", "nats://"+nats, "-examples", "../../../examples", "-micro", "../../../micro")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, row := range []string{"unary c=1 req/s", "unary c=64 req/s", "unary c=64 p99 µs", "bidi stream msgs/s", "allocs/call (client+server)", "nats publish 100 B msgs/s", "gateway HTTP JSON c=64 req/s", "greeter start to registered ms", "greeter idle RSS MB"} {
		line := ""
		for l := range strings.Lines(out) {
			if strings.Contains(l, row) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("no %q row in:\n%s", row, out)
			continue
		}
		if strings.Contains(row, "greeter") {
			continue // no peer, so no ratio
		}
		if !strings.Contains(line, "×") {
			t.Errorf("row %q has no ratio: %q", row, line)
		}
	}
	if !strings.Contains(out, "QUICK MODE") {
		t.Errorf("quick mode not said in the output:\n%s", out)
	}
}

func TestBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-runs", "0"}, &stdout, &stderr); code != 2 {
		t.Errorf("-runs 0: exit %d, want 2", code)
	}
	if code := run([]string{"-rows", "rpc,bogus"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown row group: exit %d, want 2", code)
	}
	if code := run([]string{"-nope"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
}
