// Package startbench measures a real service process: the time from
// starting the greeter example's binary to its node appearing in the
// registry service (go-micro's default registry), and its resident memory
// once idle.
package startbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro/handler"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// Result is one start of the greeter.
type Result struct {
	StartToRegistered time.Duration // from exec to the node in the registry
	IdleRSS           int64         // bytes resident after Idle
}

// Idle is how long the greeter runs registered before its memory is read.
const Idle = 2 * time.Second

// BuildGreeter builds examples/greeter/srv into dir and returns the
// binary's path. examplesDir is the examples module's folder.
func BuildGreeter(ctx context.Context, examplesDir, dir string) (string, error) {
	bin := filepath.Join(dir, "greeter")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./greeter/srv")
	cmd.Dir = examplesDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("startbench: building the greeter: %w\n%s", err, out)
	}
	return bin, nil
}

// Registry is a registry service as micro server hosts it: the handler of
// registry/micro over a memory registry, on a free loopback port.
type Registry struct {
	Addr    string
	Backend registry.Registry
	srv     server.Server
	h       *handler.Registry
}

// StartRegistry starts the registry service.
func StartRegistry(ctx context.Context) (*Registry, error) {
	tr, err := httptransport.NewTransport()
	if err != nil {
		return nil, err
	}
	backend := memory.New()
	srv, err := server.New(server.Name("go.micro.registry"), server.Address("127.0.0.1:0"), server.Registry(backend), server.Transport(tr))
	if err != nil {
		return nil, err
	}
	h := handler.New(backend)
	if err := srv.Handle(srv.NewHandler(h)); err != nil {
		return nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return &Registry{Addr: srv.Options().Address, Backend: backend, srv: srv, h: h}, nil
}

// Stop stops the registry service.
func (r *Registry) Stop(ctx context.Context) error {
	return errors.Join(handler.Close(r.h), r.srv.Stop(ctx))
}

// Measure starts the greeter binary against r, waits for its node, lets it
// idle for idle, reads its resident memory and stops it with SIGTERM.
func Measure(ctx context.Context, r *Registry, bin string, idle time.Duration) (Result, error) {
	name := "greeter-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// The watch ends, and Next with it, after 30s without the node.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := r.Backend.Watch(wctx, registry.WatchService(name))
	if err != nil {
		return Result{}, err
	}
	defer w.Stop()
	cmd := exec.Command(bin, "--server_name="+name, "--registry=micro", "--registry_address="+r.Addr,
		"--server_address=127.0.0.1:0", "--broker_address=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	for {
		ev, err := w.Next()
		if err != nil {
			return Result{}, fmt.Errorf("startbench: the greeter did not register: %w", err)
		}
		if ev.Service != nil && len(ev.Service.Nodes) > 0 && ev.Action != registry.Delete {
			break
		}
	}
	took := time.Since(start)
	t := time.NewTimer(idle)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return Result{}, ctx.Err()
	}
	rss, err := residentBytes(cmd.Process.Pid)
	if err != nil {
		return Result{}, err
	}
	return Result{StartToRegistered: took, IdleRSS: rss}, nil
}

// residentBytes reads VmRSS of a process from /proc.
func residentBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("startbench: reading resident memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("startbench: VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("startbench: no VmRSS in /proc status")
}
