package registrytest_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/registrytest"
)

// A suite that passes a broken registry is itself broken. Each entry below
// is the memory registry with one defect, the checks of the suite that
// must catch it, and one check that must still pass (so that the failures
// are the defect's, not the harness's).
//
// The testing package cannot run a test and observe that it failed, so
// TestSuiteCatchesDefects runs the suite over every broken registry in a
// child process (this test binary again, running TestBrokenSuiteChild) and
// reads the verdict of each check from its verbose output.
var defects = []struct {
	name   string
	wrap   func(r registry.Registry) registry.Registry
	caught []string // checks that must fail
	passes string   // a check that must pass
}{
	{"control", func(r registry.Registry) registry.Registry { return r }, nil, ""},
	{"never-expires", neverExpires, []string{"TTLExpiry", "TTLRefresh", "WatchTTLExpiry"}, "RegisterGet"},
	{"keeps-first-ttl", keepsFirstTTL, []string{"TTLRefresh"}, "TTLExpiry"},
	{"keeps-first-node", keepsFirstNode, []string{"RegisterGet", "DeregisterOneNode", "RoundTrip"}, "DeregisterUnknown"},
	{"deregister-drops-version", deregisterDropsVersion, []string{"DeregisterOneNode", "DeregisterLastNode"}, "RegisterGet"},
	{"lists-empty-services", listsEmptyServices, []string{"DeregisterLastNode", "TTLExpiry"}, "RegisterGet"},
	{"shares-get-results", sharesGetResults, []string{"CopySafety"}, "RegisterGet"},
	{"shares-watch-results", sharesWatchResults, []string{"CopySafety"}, "RegisterGet"},
	{"keeps-registered-value", keepsRegisteredValue, []string{"CopySafety"}, "DeregisterUnknown"},
	{"misses-deletes", missesDeletes, []string{"WatchEvents", "WatchTTLExpiry", "WatchService", "WatchBacklog", "Concurrent"}, "RegisterGet"},
	{"prefix-filter", prefixFilter, []string{"WatchService"}, "WatchEvents"},
	{"drops-backlog", dropsBacklog, []string{"WatchBacklog", "Concurrent"}, "WatchEvents"},
	{"heartbeat-events", heartbeatEvents, []string{"WatchEvents", "Concurrent"}, "RegisterGet"},
	{"stop-ignored", stopIgnored, []string{"WatchStop"}, "RegisterGet"},
	{"watch-ignores-ctx", watchIgnoresCtx, []string{"WatchContext"}, "RegisterGet"},
	{"register-ignores-ctx", registerIgnoresCtx, []string{"CancelledContext"}, "RegisterGet"},
	{"accepts-invalid", acceptsInvalid, []string{"InvalidInput"}, "RegisterGet"},
}

const childEnv = "REGISTRYTEST_BROKEN_CHILD"

// TestBrokenSuiteChild is the child process of TestSuiteCatchesDefects;
// it is skipped in a normal run.
func TestBrokenSuiteChild(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as the child process of TestSuiteCatchesDefects")
	}
	for _, d := range defects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			registrytest.Run(t, func(t *testing.T) registry.Registry { return d.wrap(memory.New()) },
				registrytest.Wait(4*time.Second), registrytest.TTL(100*time.Millisecond))
		})
	}
}

func TestSuiteCatchesDefects(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite over every broken registry in a child process")
	}
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0],
		"-test.run=^TestBrokenSuiteChild$", "-test.v", "-test.count=1",
		"-test.parallel=1000", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child passed every check of every broken registry:\n%s", out)
	}
	verdicts := make(map[string]string) // "defect/Check" -> PASS, FAIL or SKIP
	re := regexp.MustCompile(`--- (PASS|FAIL|SKIP): TestBrokenSuiteChild/([^/\s]+)/([^/\s]+) `)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		verdicts[m[2]+"/"+m[3]] = m[1]
	}
	if len(verdicts) == 0 {
		t.Fatalf("no verdicts in the child's output:\n%s", out)
	}
	var problems []string
	for _, d := range defects {
		var failed []string
		for k, v := range verdicts {
			if c, ok := strings.CutPrefix(k, d.name+"/"); ok && v == "FAIL" {
				failed = append(failed, c)
			}
		}
		slices.Sort(failed)
		t.Logf("%-26s fails %v", d.name, failed)
	}
	for _, d := range defects {
		if d.name == "control" {
			for k, v := range verdicts {
				if strings.HasPrefix(k, "control/") && v != "PASS" {
					problems = append(problems, k+": "+v+" over the unbroken registry")
				}
			}
			continue
		}
		for _, c := range d.caught {
			if v := verdicts[d.name+"/"+c]; v != "FAIL" {
				problems = append(problems, d.name+"/"+c+": "+cmp(v)+", want FAIL: the check misses the defect")
			}
		}
		if v := verdicts[d.name+"/"+d.passes]; v != "PASS" {
			problems = append(problems, d.name+"/"+d.passes+": "+cmp(v)+", want PASS")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Fatalf("%s\n\nchild output:\n%s", strings.Join(problems, "\n"), out)
	}
}

func cmp(v string) string {
	if v == "" {
		return "no verdict"
	}
	return v
}

// base forwards every method to the registry it wraps; the defects embed
// it and override one method.
type base struct{ registry.Registry }

type registerFunc func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error

type withRegister struct {
	base
	register registerFunc
}

func (w withRegister) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	return w.register(ctx, s, opts...)
}

func neverExpires(r registry.Registry) registry.Registry {
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, _ ...registry.RegisterOption) error {
		return r.Register(ctx, s)
	}}
}

// keepsFirstTTL applies the TTL of a node's first registration to every
// later one.
func keepsFirstTTL(r registry.Registry) registry.Registry {
	var mu sync.Mutex
	first := make(map[string]time.Duration)
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
		if err := registry.Validate(s); err != nil {
			return err
		}
		ttl := registry.NewRegisterOptions(opts...).TTL
		for _, n := range s.Nodes {
			key := s.Name + "\x00" + s.Version + "\x00" + n.Id
			mu.Lock()
			d, ok := first[key]
			if !ok {
				d = ttl
				first[key] = d
			}
			mu.Unlock()
			one := registry.Copy(s)
			one.Nodes = []*registry.Node{n}
			if err := r.Register(ctx, one, registry.RegisterTTL(d)); err != nil {
				return err
			}
		}
		return nil
	}}
}

func keepsFirstNode(r registry.Registry) registry.Registry {
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
		if err := registry.Validate(s); err != nil {
			return err
		}
		s = registry.Copy(s)
		s.Nodes = s.Nodes[:1]
		return r.Register(ctx, s, opts...)
	}}
}

func registerIgnoresCtx(r registry.Registry) registry.Registry {
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
		return r.Register(context.WithoutCancel(ctx), s, opts...)
	}}
}

func acceptsInvalid(r registry.Registry) registry.Registry {
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
		if registry.Validate(s) != nil {
			return nil
		}
		return r.Register(ctx, s, opts...)
	}}
}

// heartbeatEvents re-registers a node by removing and adding it again, so
// that a heartbeat yields a Delete and a Create.
func heartbeatEvents(r registry.Registry) registry.Registry {
	return withRegister{base{r}, func(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
		if err := r.Deregister(ctx, s); err != nil {
			return err
		}
		return r.Register(ctx, s, opts...)
	}}
}

// keepsRegisteredValue hands GetService's caller the very *Service last
// registered under a name when it still describes the registry's state.
type keepsRegistered struct {
	base
	mu   sync.Mutex
	last map[string]*registry.Service
}

func keepsRegisteredValue(r registry.Registry) registry.Registry {
	return &keepsRegistered{base: base{r}, last: make(map[string]*registry.Service)}
}

func (k *keepsRegistered) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := k.Registry.Register(ctx, s, opts...); err != nil {
		return err
	}
	k.mu.Lock()
	k.last[s.Name] = s
	k.mu.Unlock()
	return nil
}

func (k *keepsRegistered) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	ss, err := k.Registry.GetService(ctx, name, opts...)
	if err != nil || len(ss) != 1 {
		return ss, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if last, ok := k.last[name]; ok && len(last.Nodes) == len(ss[0].Nodes) {
		return []*registry.Service{last}, nil
	}
	return ss, nil
}

func canonical(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sharesGetResults returns the same values from GetService for as long as
// the registry's state does not change.
type sharesGet struct {
	base
	mu     sync.Mutex
	cached map[string][]*registry.Service
	canon  map[string]string
}

func sharesGetResults(r registry.Registry) registry.Registry {
	return &sharesGet{base: base{r}, cached: map[string][]*registry.Service{}, canon: map[string]string{}}
}

func (g *sharesGet) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	ss, err := g.Registry.GetService(ctx, name, opts...)
	if err != nil {
		return ss, err
	}
	c := canonical(ss)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.canon[name] == c {
		return g.cached[name], nil
	}
	g.cached[name], g.canon[name] = ss, c
	return ss, nil
}

func deregisterDropsVersion(r registry.Registry) registry.Registry {
	return deregisterAll{base{r}}
}

type deregisterAll struct{ base }

func (d deregisterAll) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := registry.Validate(s); err != nil {
		return err
	}
	ss, err := d.Registry.GetService(ctx, s.Name)
	if err != nil {
		return nil
	}
	for _, svc := range ss {
		if svc.Version == s.Version {
			return d.Registry.Deregister(ctx, svc, opts...)
		}
	}
	return nil
}

// listsEmpty lists every service version ever registered, with no nodes
// once its last node went.
type listsEmpty struct {
	base
	mu   sync.Mutex
	seen map[[2]string]bool
}

func listsEmptyServices(r registry.Registry) registry.Registry {
	return &listsEmpty{base: base{r}, seen: make(map[[2]string]bool)}
}

func (l *listsEmpty) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := l.Registry.Register(ctx, s, opts...); err != nil {
		return err
	}
	l.mu.Lock()
	l.seen[[2]string{s.Name, s.Version}] = true
	l.mu.Unlock()
	return nil
}

func (l *listsEmpty) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	ss, err := l.Registry.ListServices(ctx, opts...)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.seen {
		if !slices.ContainsFunc(ss, func(s *registry.Service) bool { return s.Name == k[0] && s.Version == k[1] }) {
			ss = append(ss, &registry.Service{Name: k[0], Version: k[1]})
		}
	}
	return ss, nil
}

// watchWrap builds watchers from the wrapped registry's.
type watchWrap struct {
	base
	watch func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error)
}

func (w watchWrap) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	return w.watch(ctx, opts...)
}

// filtered yields the results of its Watcher that keep accepts.
type filtered struct {
	registry.Watcher
	keep func(*registry.Result) bool
}

func (f filtered) Next() (*registry.Result, error) {
	for {
		res, err := f.Watcher.Next()
		if err != nil || f.keep(res) {
			return res, err
		}
	}
}

func missesDeletes(r registry.Registry) registry.Registry {
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		w, err := r.Watch(ctx, opts...)
		if err != nil {
			return nil, err
		}
		return filtered{w, func(res *registry.Result) bool { return res.Action != registry.Delete }}, nil
	}}
}

func prefixFilter(r registry.Registry) registry.Registry {
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		name := registry.NewWatchOptions(opts...).Service
		w, err := r.Watch(ctx)
		if err != nil {
			return nil, err
		}
		return filtered{w, func(res *registry.Result) bool { return strings.HasPrefix(res.Service.Name, name) }}, nil
	}}
}

type noStop struct{ registry.Watcher }

func (noStop) Stop() {}

// stopIgnored's watchers end only with their context.
func stopIgnored(r registry.Registry) registry.Registry {
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		w, err := r.Watch(ctx, opts...)
		return noStop{w}, err
	}}
}

func watchIgnoresCtx(r registry.Registry) registry.Registry {
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return r.Watch(context.WithoutCancel(ctx), opts...)
	}}
}

// dropping forwards results through a small buffer and drops what does not
// fit, as a watcher with a bounded queue and a non-blocking send would.
type dropping struct {
	inner registry.Watcher
	ch    chan *registry.Result
}

func dropsBacklog(r registry.Registry) registry.Registry {
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		w, err := r.Watch(ctx, opts...)
		if err != nil {
			return nil, err
		}
		d := &dropping{inner: w, ch: make(chan *registry.Result, 8)}
		go func() {
			defer close(d.ch)
			for {
				res, err := w.Next()
				if err != nil {
					return
				}
				select {
				case d.ch <- res:
				default:
				}
			}
		}()
		return d, nil
	}}
}

func (d *dropping) Next() (*registry.Result, error) {
	res, ok := <-d.ch
	if !ok {
		return nil, registry.ErrWatcherStopped
	}
	return res, nil
}

func (d *dropping) Stop() { d.inner.Stop() }

// sharesWatchResults hands the n-th result of watchers with the same
// filter to all of them as one value.
func sharesWatchResults(r registry.Registry) registry.Registry {
	var mu sync.Mutex
	handed := make(map[string][]*registry.Result)
	return watchWrap{base{r}, func(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
		w, err := r.Watch(ctx, opts...)
		if err != nil {
			return nil, err
		}
		key := registry.NewWatchOptions(opts...).Service
		return &sharing{Watcher: w, next: func(res *registry.Result, i int) *registry.Result {
			mu.Lock()
			defer mu.Unlock()
			if i < len(handed[key]) {
				return handed[key][i]
			}
			handed[key] = append(handed[key], res)
			return res
		}}, nil
	}}
}

type sharing struct {
	registry.Watcher
	n    int
	next func(*registry.Result, int) *registry.Result
}

func (s *sharing) Next() (*registry.Result, error) {
	res, err := s.Watcher.Next()
	if err != nil {
		return nil, err
	}
	s.n++
	return s.next(res, s.n-1), nil
}
