package micro

import (
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry"
)

// Reconnection backoff of a watcher whose stream broke: the first retry
// comes at once, then the waits double from minBackoff up to maxBackoff,
// with jitter. A stream that broke less than stableAfter after it opened
// counts as a failed try, so that a registry that accepts watches and
// ends them at once is not hammered by reconnections.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 3 * time.Second
	stableAfter = 10 * time.Second
)

// Watch opens a watch stream and returns once the service has sent its
// snapshot, so that every change made after Watch returns is seen.
func (r *microRegistry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := r.usable(ctx); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{r: r, service: o.Service, ctx: wctx, cancel: cancel}
	st, snap, err := r.open(wctx, o.Service)
	if err != nil {
		cancel()
		return nil, err
	}
	w.stream, w.opened = st, time.Now()
	w.state = newState(o.Service, snap)

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		_ = st.Close()
		return nil, ErrClosed
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	// No goroutine of our own: the end of ctx (or Stop) cancels wctx,
	// which closes the stream and wakes a pending Next.
	context.AfterFunc(wctx, func() { r.forget(w) })
	return w, nil
}

func (r *microRegistry) forget(w *watcher) {
	r.mu.Lock()
	delete(r.watchers, w)
	r.mu.Unlock()
}

// open opens a Registry.Watch stream for service ("" for all), sends the
// request and reads the snapshot up to the ready message. The stream lives
// as long as ctx; reading the snapshot is bounded by the registry's
// timeout.
func (r *microRegistry) open(ctx context.Context, service string) (client.Stream, []*registry.Service, error) {
	req := &WatchRequest{Service: service}
	st, err := r.client.Stream(ctx, r.client.NewRequest(ServiceName, endpointWatch, req, client.StreamingRequest()),
		client.WithAddress(r.opts.Addrs...))
	if err != nil {
		return nil, nil, r.callError(ctx, endpointWatch, err)
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(r.opts.Timeout, func() {
		timedOut.Store(true)
		_ = st.Close()
	})
	fail := func(err error) (client.Stream, []*registry.Service, error) {
		timer.Stop()
		_ = st.Close()
		if timedOut.Load() && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("registry micro: %s: the registry at %s sent no snapshot within %v: %w",
				endpointWatch, r.addrList(), r.opts.Timeout, context.DeadlineExceeded)
		}
		return nil, nil, r.callError(ctx, endpointWatch, err)
	}
	if err := st.Send(req); err != nil {
		if stderrors.Is(err, io.EOF) {
			// The service ended the stream before reading the request
			// (it is shutting down, say): Recv says why.
			var msg WatchResponse
			if rerr := st.Recv(&msg); rerr != nil {
				err = rerr
			}
		}
		return fail(err)
	}
	var snap []*registry.Service
	for {
		var msg WatchResponse
		if err := st.Recv(&msg); err != nil {
			return fail(err)
		}
		switch msg.Type {
		case WatchSnapshot:
			if msg.Service != nil {
				snap = append(snap, msg.Service)
			}
		case WatchReady:
			if !timer.Stop() {
				return fail(client.ErrClosed) // the timer closed the stream
			}
			return st, snap, nil
		}
		// Events cannot come before the ready message; anything else is
		// ignored, as later versions may add message types.
	}
}

// errEnded is logged when the service ended a watch stream cleanly.
var errEnded = stderrors.New("registry micro: the registry ended the watch stream")

// watcher is a watch on the registry service that reconnects by itself.
// Next reads the stream; when it breaks, Next reconnects (with backoff),
// compares the new snapshot with what the watcher knew and reports the
// difference before the events that follow.
type watcher struct {
	r       *microRegistry
	service string
	ctx     context.Context // ends at Stop, the caller's ctx end or Close
	cancel  context.CancelFunc

	mu      sync.Mutex // held by Next: one reader of the stream at a time
	stream  client.Stream
	state   *state
	pending []*registry.Result
	warned  bool      // the loss of the stream was logged as a warning
	opened  time.Time // when the current stream opened
	fails   int       // tries since the last stream that lasted stableAfter
}

// warnEvery is the least time between two warnings of the registry's
// watchers losing their streams: one outage seen by many watchers, each
// in its own time, gives one warning.
const warnEvery = time.Minute

// mayWarn reports whether a watcher that lost its stream logs it as a
// warning: the first to do so in warnEvery does.
func (r *microRegistry) mayWarn() bool {
	now := time.Now().UnixNano()
	for {
		last := r.lastWarn.Load()
		if last != 0 && now-last < int64(warnEvery) {
			return false
		}
		if r.lastWarn.CompareAndSwap(last, now) {
			return true
		}
	}
}

// Next returns the next change, reconnecting as long as it takes.
func (w *watcher) Next() (*registry.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.ctx.Err() != nil {
			w.drop()
			w.pending = nil
			return nil, registry.ErrWatcherStopped
		}
		if len(w.pending) > 0 {
			res := w.pending[0]
			w.pending[0] = nil
			w.pending = w.pending[1:]
			return res, nil
		}
		if w.stream == nil {
			w.reconnect()
			continue
		}
		var msg WatchResponse
		if err := w.stream.Recv(&msg); err != nil {
			if w.ctx.Err() == nil {
				if stderrors.Is(err, io.EOF) {
					err = errEnded
				} else {
					err = w.r.callError(w.ctx, endpointWatch, err)
				}
				level := slog.LevelDebug
				if w.warned = w.r.mayWarn(); w.warned {
					level = slog.LevelWarn
				}
				w.r.log.Log(context.Background(), level, "registry micro: the watch lost its stream to the registry; reconnecting",
					"address", w.r.addrList(), "service", w.name(), "error", err)
			}
			if time.Since(w.opened) >= stableAfter {
				w.fails = 0 // the stream worked: the first retry comes at once
			}
			w.drop()
			continue
		}
		if msg.Type == WatchEvent {
			w.pending = w.state.apply(msg.Action, msg.Service)
		}
	}
}

// name describes what the watcher watches, for log lines.
func (w *watcher) name() string {
	if w.service == "" {
		return "(all)"
	}
	return w.service
}

// drop closes the current stream, if any.
func (w *watcher) drop() {
	if w.stream != nil {
		_ = w.stream.Close()
		w.stream = nil
	}
}

// reconnect opens a new stream, trying until it works or the watcher
// stops, and queues the changes the snapshot shows. It waits before each
// try but the first after a stream that lasted, and the wait grows with
// every try since: a failed one, or one whose stream broke soon after.
func (w *watcher) reconnect() {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		if w.fails > 0 && !w.r.sleep(w.ctx, backoff(w.fails)) {
			return
		}
		w.fails++
		st, snap, err := w.r.open(w.ctx, w.service)
		if err != nil {
			if w.ctx.Err() != nil {
				return
			}
			w.r.log.Debug("registry micro: the watch could not reconnect yet",
				"address", w.r.addrList(), "service", w.name(), "attempt", attempt, "error", err)
			continue
		}
		w.stream, w.opened = st, time.Now()
		w.pending = append(w.pending, w.state.resync(snap)...)
		level := slog.LevelDebug
		if w.warned {
			level = slog.LevelInfo // the end of the outage it warned of
			w.warned = false
		}
		w.r.log.Log(context.Background(), level, "registry micro: the watch reconnected to the registry",
			"address", w.r.addrList(), "service", w.name(), "attempts", attempt,
			"down_for", time.Since(start).Round(time.Millisecond), "changes_missed", len(w.pending))
		return
	}
}

// backoff returns the jittered wait before reconnection attempt n (from 1).
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Stop ends the watch; it is idempotent and unblocks a pending Next.
func (w *watcher) Stop() {
	w.cancel()
}

var _ registry.Watcher = (*watcher)(nil)
