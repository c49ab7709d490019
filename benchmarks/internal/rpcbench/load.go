package rpcbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load is what one closed-loop run measured.
type Load struct {
	Calls    int           // calls completed in the measured window
	Duration time.Duration // length of the measured window
	P50, P99 time.Duration // latency percentiles of those calls
}

// PerSecond is the completed calls per second.
func (l Load) PerSecond() float64 {
	if l.Duration <= 0 {
		return 0
	}
	return float64(l.Calls) / l.Duration.Seconds()
}

// RunUnary drives c with concurrency workers in a closed loop (each sends
// its next call when the previous one answered) for warmup, then measures
// for d. Any failed call fails the run: a system that drops calls is not
// reported as a speed.
func RunUnary(ctx context.Context, c Conn, concurrency int, warmup, d time.Duration) (Load, error) {
	if concurrency < 1 {
		return Load{}, fmt.Errorf("rpcbench: concurrency %d", concurrency)
	}
	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		errOnce   sync.Once
		firstErr  error
		lats      = make([][]time.Duration, concurrency)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				start := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, Timeout)
				err := c.Echo(cctx)
				ccancel()
				if err != nil {
					if !stop.Load() {
						errOnce.Do(func() { firstErr = err; cancel() })
					}
					break
				}
				if measuring.Load() {
					own = append(own, time.Since(start))
				}
			}
			lats[w] = own
		}()
	}
	if !sleepCtx(ctx, warmup) {
		stop.Store(true)
		wg.Wait()
		if firstErr != nil {
			return Load{}, firstErr
		}
		return Load{}, ctx.Err()
	}
	measuring.Store(true)
	begin := time.Now()
	sleepCtx(ctx, d)
	measuring.Store(false)
	elapsed := time.Since(begin)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return Load{}, firstErr
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	return Load{Calls: len(all), Duration: elapsed, P50: percentile(all, 0.50), P99: percentile(all, 0.99)}, nil
}

// RunStream opens one bidirectional stream on c and keeps it full: one
// goroutine sends requests while the other receives the replies, for
// warmup and then d. It returns the replies received in the measured
// window; the stream is then half-closed and drained, and a reply missing
// at the end fails the run.
func RunStream(ctx context.Context, c Conn, warmup, d time.Duration) (Load, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Chat(ctx)
	if err != nil {
		return Load{}, err
	}
	defer ch.Close()
	var (
		stop     = make(chan struct{})
		sent     atomic.Int64
		received atomic.Int64
		sendErr  = make(chan error, 1)
		recvDone = make(chan error, 1)
		window   = make(chan struct{}, 1024) // requests in flight; bounds the server's queue
	)
	go func() {
		for {
			select {
			case window <- struct{}{}:
			case <-stop:
				sendErr <- ch.CloseSend()
				return
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			if err := ch.Send(); err != nil {
				sendErr <- err
				return
			}
			sent.Add(1)
		}
	}()
	go func() {
		for {
			err := ch.Recv()
			if err == io.EOF {
				recvDone <- nil
				return
			}
			if err != nil {
				recvDone <- err
				return
			}
			received.Add(1)
			<-window
		}
	}()
	if !sleepCtx(ctx, warmup) {
		close(stop)
		return Load{}, ctx.Err()
	}
	start := received.Load()
	begin := time.Now()
	sleepCtx(ctx, d)
	n := received.Load() - start
	elapsed := time.Since(begin)
	close(stop)
	if err := <-sendErr; err != nil {
		return Load{}, fmt.Errorf("rpcbench: stream send: %w", err)
	}
	select {
	case err := <-recvDone:
		if err != nil {
			return Load{}, fmt.Errorf("rpcbench: stream recv: %w", err)
		}
	case <-time.After(Timeout):
		return Load{}, fmt.Errorf("rpcbench: stream not drained within %v", Timeout)
	}
	if got, want := received.Load(), sent.Load(); got != want {
		return Load{}, fmt.Errorf("rpcbench: stream lost replies: sent %d requests, got %d replies", want, got)
	}
	return Load{Calls: int(n), Duration: elapsed}, nil
}

// Allocs is the memory one unary call costs, client and server together,
// measured in one process with testing.Benchmark.
type Allocs struct {
	PerCall      int64
	BytesPerCall int64
	NsPerCall    int64
}

// MeasureAllocs serves system in this process and calls it from a client
// in this process, sequentially, under testing.Benchmark with
// ReportAllocs.
func MeasureAllocs(ctx context.Context, system string) (Allocs, error) {
	srv, err := Serve(ctx, system, "127.0.0.1:0")
	if err != nil {
		return Allocs{}, err
	}
	defer stopServer(srv)
	c, err := Dial(system, srv.Addr())
	if err != nil {
		return Allocs{}, err
	}
	defer c.Close()
	for range 100 { // connect and warm the pools outside the measurement
		if err := c.Echo(ctx); err != nil {
			return Allocs{}, err
		}
	}
	var callErr error
	r := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Echo(ctx); err != nil {
				callErr = err
				b.FailNow()
			}
		}
	})
	if callErr != nil {
		return Allocs{}, callErr
	}
	if r.N == 0 {
		return Allocs{}, errors.New("rpcbench: allocation benchmark did not run")
	}
	return Allocs{PerCall: r.AllocsPerOp(), BytesPerCall: r.AllocedBytesPerOp(), NsPerCall: r.NsPerOp()}, nil
}

func stopServer(s Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Stop(ctx)
}

// percentile returns the p-quantile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
