// Command bench runs go-micro beside its peers on this machine and prints
// one table with each ratio (see docs/benchmarks.md).
//
//	bench            the full run: 1 s warm-up, 5 s measured, 3 runs, median
//	bench -quick     one short run, to check that everything still works
//
// Each RPC server runs in a process of its own (this binary, re-executed as
// "bench serve SYSTEM"); the load generator shares one client per system
// and runs a closed loop at concurrency 1 and 64. Allocations per call are
// counted in one process, client and server together, with
// testing.Benchmark.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/openmicro/benchmarks/internal/gatewaybench"
	"github.com/openmicro/benchmarks/internal/natsbench"
	"github.com/openmicro/benchmarks/internal/rpcbench"
	"github.com/openmicro/benchmarks/internal/startbench"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	warmup, duration time.Duration
	runs             int
	concurrency      []int
	natsAddr         string
	natsMessages     int
	examples         string
	micro            string
	idle             time.Duration
}

// startRows starts the greeter example's binary against a registry
// service, cfg.runs times: the median time to registered, and the largest
// idle resident memory.
func startRows(ctx context.Context, cfg config, t *table) error {
	dir, err := os.MkdirTemp("", "bench-greeter-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := startbench.BuildGreeter(ctx, cfg.examples, dir)
	if err != nil {
		return err
	}
	reg, err := startbench.StartRegistry(ctx)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Stop(sctx)
	}()
	var starts []time.Duration
	var rss int64
	for range max(cfg.runs, 3) {
		r, err := startbench.Measure(ctx, reg, bin, cfg.idle)
		if err != nil {
			return err
		}
		starts = append(starts, r.StartToRegistered)
		rss = max(rss, r.IdleRSS)
	}
	slices.Sort(starts)
	t.add("greeter start to registered ms", float64(starts[len(starts)/2])/float64(time.Millisecond), math.NaN(), "%.1f", false, "≤ 100")
	t.add("greeter idle RSS MB", float64(rss)/(1<<20), math.NaN(), "%.1f", false, "≤ 15")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// natsRows publishes 100-byte messages through the NATS broker plugin and
// through raw nats.go, alternating within each run.
func natsRows(ctx context.Context, cfg config, t *table) error {
	results := make(map[string][]natsbench.Result)
	for range cfg.runs {
		for _, sys := range natsbench.Systems {
			r, err := natsbench.Run(ctx, sys, cfg.natsAddr, cfg.natsMessages, 100, time.Minute)
			if err != nil {
				return fmt.Errorf("%s at %s: %w", sys, cfg.natsAddr, err)
			}
			results[sys] = append(results[sys], r)
		}
	}
	rate := func(sys string) float64 {
		rs := results[sys]
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = r.PerSecond()
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	t.add(fmt.Sprintf("nats publish 100 B msgs/s (%d, all delivered)", cfg.natsMessages), rate(natsbench.Systems[0]), rate(natsbench.Systems[1]), "%.0f", true, "≥ 0.8×")
	return nil
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "one short run of everything (for CI: checks that it works, measures nothing)")
	warmup := fs.Duration("warmup", time.Second, "warm-up before each measured window")
	duration := fs.Duration("duration", 5*time.Second, "measured window of each run")
	runs := fs.Int("runs", 3, "runs of each measurement; the median is shown")
	examples := fs.String("examples", "../examples", "the examples module, whose greeter is started for the start-up, memory and gateway rows")
	microDir := fs.String("micro", "../micro", "the micro module, whose binary runs the API gateway for the gateway row")
	only := fs.String("rows", "rpc,nats,gateway,start", "the groups of rows to run, comma-separated: rpc (unary, stream, allocations), nats, gateway, start (greeter start-up and memory)")
	natsAddr := fs.String("nats", envOr("MICRO_TEST_NATS_ADDR", "nats://127.0.0.1:4222"), "NATS server for the broker rows")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config{warmup: *warmup, duration: *duration, runs: *runs, concurrency: []int{1, 64}, natsAddr: *natsAddr, natsMessages: 200_000, examples: *examples, micro: *microDir, idle: startbench.Idle}
	if *quick {
		cfg.warmup, cfg.duration, cfg.runs, cfg.natsMessages, cfg.idle = 100*time.Millisecond, 300*time.Millisecond, 1, 20_000, 200*time.Millisecond
	}
	if cfg.runs < 1 || cfg.duration <= 0 {
		fmt.Fprintln(stderr, "bench: -runs must be at least 1 and -duration positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	groups := map[string]func(context.Context, config, *table) error{"rpc": rpcRows, "nats": natsRows, "gateway": gatewayRows, "start": startRows}
	want := map[string]bool{}
	for _, g := range strings.Split(*only, ",") {
		g = strings.TrimSpace(g)
		if groups[g] == nil {
			fmt.Fprintf(stderr, "bench: -rows: unknown group %q; want rpc, nats, gateway or start\n", g)
			return 2
		}
		want[g] = true
	}
	t := &table{}
	for _, g := range []string{"rpc", "nats", "gateway", "start"} {
		if !want[g] {
			continue
		}
		if err := groups[g](ctx, cfg, t); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	facts(stdout, cfg, *quick)
	t.print(stdout)
	return 0
}

// serve runs one benchmark server until stdin closes or a signal arrives,
// after printing its address on stdout.
func serve(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: bench serve SYSTEM")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var srv interface {
		Addr() string
		Stop(context.Context) error
	}
	var err error
	if args[0] == gatewaybench.System {
		srv, err = gatewaybench.ServeBare("127.0.0.1:0")
	} else {
		srv, err = rpcbench.Serve(ctx, args[0], "127.0.0.1:0")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench serve:", err)
		return 1
	}
	fmt.Println(srv.Addr())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Stop(sctx)
	return 0
}

// gatewayConcurrency is the closed loop's concurrency in the gateway row.
const gatewayConcurrency = 64

// gatewayRows posts JSON through `micro api` to the greeter, and to a
// bare net/http handler answering the same JSON, alternating within each
// run; each side is a process of its own, the load generator this one.
func gatewayRows(ctx context.Context, cfg config, t *table) error {
	dir, err := os.MkdirTemp("", "bench-gateway-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	greeterBin, err := startbench.BuildGreeter(ctx, cfg.examples, dir)
	if err != nil {
		return err
	}
	microBin, err := gatewaybench.BuildMicro(ctx, cfg.micro, dir)
	if err != nil {
		return err
	}
	reg, err := startbench.StartRegistry(ctx)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Stop(sctx)
	}()
	greeter, err := gatewaybench.StartGreeter(greeterBin, reg.Addr)
	if err != nil {
		return err
	}
	defer greeter.Stop()
	api, apiURL, err := gatewaybench.StartAPI(microBin, reg.Addr)
	if err != nil {
		return err
	}
	defer api.Stop()
	bare, err := startChild(ctx, gatewaybench.System)
	if err != nil {
		return err
	}
	defer bare.stop()
	conns := []rpcbench.Conn{gatewaybench.Dial(apiURL, gatewayConcurrency), gatewaybench.Dial("http://"+bare.addr, gatewayConcurrency)}
	for _, c := range conns {
		defer c.Close()
	}
	// The greeter registers before it says it started; the gateway finds
	// it through the registry service on its first request.
	var loads [2][]rpcbench.Load
	for range cfg.runs {
		for i, c := range conns {
			l, err := rpcbench.RunUnary(ctx, c, gatewayConcurrency, cfg.warmup, cfg.duration)
			if err != nil {
				return fmt.Errorf("gateway c=%d (%s): %w", gatewayConcurrency, []string{"micro api", "net/http"}[i], err)
			}
			loads[i] = append(loads[i], l)
		}
	}
	a, b := median(loads[0]), median(loads[1])
	t.add(fmt.Sprintf("gateway HTTP JSON c=%d req/s (vs bare net/http)", gatewayConcurrency), a.PerSecond(), b.PerSecond(), "%.0f", true, "≥ 0.5×")
	t.add(fmt.Sprintf("gateway c=%d p99 µs", gatewayConcurrency), us1(a.P99), us1(b.P99), "%.1f", false, "")
	return nil
}

// child is a server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

func startChild(ctx context.Context, system string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "serve", system)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s server did not start: %w", system, err)
	}
	return &child{cmd: cmd, stdin: stdin, addr: strings.TrimSpace(line)}, nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func rpcRows(ctx context.Context, cfg config, t *table) error {
	conns := make(map[string]rpcbench.Conn)
	for _, sys := range rpcbench.Systems {
		ch, err := startChild(ctx, sys)
		if err != nil {
			return err
		}
		defer ch.stop()
		c, err := rpcbench.Dial(sys, ch.addr)
		if err != nil {
			return err
		}
		defer c.Close()
		conns[sys] = c
	}
	// Unary: alternate the systems within each run so that a change in the
	// machine's load falls on both.
	unary := make(map[string]map[int][]rpcbench.Load)
	streams := make(map[string][]rpcbench.Load)
	for _, sys := range rpcbench.Systems {
		unary[sys] = make(map[int][]rpcbench.Load)
	}
	for range cfg.runs {
		for _, n := range cfg.concurrency {
			for _, sys := range rpcbench.Systems {
				l, err := rpcbench.RunUnary(ctx, conns[sys], n, cfg.warmup, cfg.duration)
				if err != nil {
					return fmt.Errorf("%s unary c=%d: %w", sys, n, err)
				}
				unary[sys][n] = append(unary[sys][n], l)
			}
		}
		for _, sys := range rpcbench.Systems {
			l, err := rpcbench.RunStream(ctx, conns[sys], cfg.warmup, cfg.duration)
			if err != nil {
				return fmt.Errorf("%s stream: %w", sys, err)
			}
			streams[sys] = append(streams[sys], l)
		}
	}
	us, peer := rpcbench.Systems[0], rpcbench.Systems[1]
	for _, n := range cfg.concurrency {
		a, b := median(unary[us][n]), median(unary[peer][n])
		target := map[int]string{1: "≥ 1.2×", 64: "≥ 1.5×"}[n]
		t.add(fmt.Sprintf("unary c=%d req/s", n), a.PerSecond(), b.PerSecond(), "%.0f", true, target)
		t.add(fmt.Sprintf("unary c=%d p50 µs", n), us1(a.P50), us1(b.P50), "%.1f", false, "")
		p99target := ""
		if n == 64 {
			p99target = "≤ 1×"
		}
		t.add(fmt.Sprintf("unary c=%d p99 µs", n), us1(a.P99), us1(b.P99), "%.1f", false, p99target)
	}
	a, b := median(streams[us]), median(streams[peer])
	t.add("bidi stream msgs/s", a.PerSecond(), b.PerSecond(), "%.0f", true, "≥ 1×")

	var allocs [2]rpcbench.Allocs
	for i, sys := range rpcbench.Systems {
		al, err := rpcbench.MeasureAllocs(ctx, sys)
		if err != nil {
			return fmt.Errorf("%s allocations: %w", sys, err)
		}
		allocs[i] = al
	}
	t.add("allocs/call (client+server)", float64(allocs[0].PerCall), float64(allocs[1].PerCall), "%.0f", false, "≤ 80")
	t.add("bytes/call (client+server)", float64(allocs[0].BytesPerCall), float64(allocs[1].BytesPerCall), "%.0f", false, "")
	return nil
}

// median returns the run with the median rate.
func median(ls []rpcbench.Load) rpcbench.Load {
	s := slices.Clone(ls)
	slices.SortFunc(s, func(a, b rpcbench.Load) int {
		switch {
		case a.PerSecond() < b.PerSecond():
			return -1
		case a.PerSecond() > b.PerSecond():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func us1(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

type row struct {
	name           string
	ours, peer     float64
	format         string
	higherIsBetter bool
	target         string
}

type table struct{ rows []row }

func (t *table) add(name string, ours, peer float64, format string, higher bool, target string) {
	t.rows = append(t.rows, row{name, ours, peer, format, higher, target})
}

// print writes the table. ratio is always ours/peer, so above 1 means more
// of the measured quantity (better for rates, worse for latency and
// allocations).
func (t *table) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "benchmark\tgo-micro\tpeer\tratio\ttarget\t")
	for _, r := range t.rows {
		ratio, peer := "-", "-"
		if !math.IsNaN(r.peer) {
			peer = fmt.Sprintf(r.format, r.peer)
			if r.peer != 0 {
				ratio = fmt.Sprintf("%.2f×", r.ours/r.peer)
			}
		}
		fmt.Fprintf(tw, "%s\t"+r.format+"\t%s\t%s\t%s\t\n", r.name, r.ours, peer, ratio, r.target)
	}
	_ = tw.Flush()
}

func facts(w io.Writer, cfg config, quick bool) {
	mode := fmt.Sprintf("%d run(s) of %v after %v warm-up, median", cfg.runs, cfg.duration, cfg.warmup)
	if quick {
		mode = "QUICK MODE: one short run; the numbers mean nothing"
	}
	fmt.Fprintf(w, "machine: %d cores (GOMAXPROCS %d), %s %s/%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "peers: grpc-go %s (protobuf %s), nats.go %s\n", depVersion("google.golang.org/grpc"), depVersion("google.golang.org/protobuf"), depVersion("github.com/nats-io/nats.go"))
	fmt.Fprintf(w, "mode: %s\n\n", mode)
}

func depVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "?"
}
