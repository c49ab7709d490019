package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/testenv"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func svc(name, version string, nodes ...*registry.Node) *registry.Service {
	return &registry.Service{Name: name, Version: version, Nodes: nodes}
}

func node(id string) *registry.Node {
	return &registry.Node{Id: id, Address: "10.0.0.1:" + fmt.Sprint(len(id)+8000)}
}

func mustRegister(t *testing.T, r registry.Registry, s *registry.Service, opts ...registry.RegisterOption) {
	t.Helper()
	if err := r.Register(t.Context(), s, opts...); err != nil {
		t.Fatalf("Register(%s): %v", s.Name, err)
	}
}

func mustDeregister(t *testing.T, r registry.Registry, s *registry.Service) {
	t.Helper()
	if err := r.Deregister(t.Context(), s); err != nil {
		t.Fatalf("Deregister(%s): %v", s.Name, err)
	}
}

// nodeIDs returns the ids of the nodes of name, by version, or nil when
// the service is not found.
func nodeIDs(t *testing.T, r registry.Registry, name string) map[string][]string {
	t.Helper()
	ss, err := r.GetService(t.Context(), name)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("GetService(%s): %v", name, err)
	}
	m := make(map[string][]string)
	for _, s := range ss {
		for _, n := range s.Nodes {
			m[s.Version] = append(m[s.Version], n.Id)
		}
	}
	return m
}

// waitIDs waits until GetService(name) shows want (version -> sorted ids;
// nil for not found).
func waitIDs(t *testing.T, r registry.Registry, name string, want map[string][]string) {
	t.Helper()
	testenv.WaitFor(t, fmt.Sprintf("GetService(%s) = %v", name, want), func() bool {
		got := nodeIDs(t, r, name)
		if len(got) != len(want) {
			return false
		}
		for v, ids := range want {
			if !slices.Equal(got[v], ids) {
				return false
			}
		}
		return true
	})
}

// results pumps a watcher into a channel, stopping it when the test ends.
func results(t *testing.T, w registry.Watcher) <-chan *registry.Result {
	t.Helper()
	ch := make(chan *registry.Result)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			res, err := w.Next()
			if err != nil {
				return
			}
			select {
			case ch <- res:
			case <-t.Context().Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		w.Stop()
		<-done
	})
	return ch
}

// expect receives the next result and checks its action, service and
// node ids.
func expect(t *testing.T, ch <-chan *registry.Result, action registry.Action, name string, ids ...string) {
	t.Helper()
	res := testenv.Recv(t, fmt.Sprintf("%s %s%v", action, name, ids), ch)
	var got []string
	for _, n := range res.Service.Nodes {
		got = append(got, n.Id)
	}
	if res.Action != action || res.Service.Name != name || !slices.Equal(got, ids) {
		t.Fatalf("watch: got %s %s%v, want %s %s%v", res.Action, res.Service.Name, got, action, name, ids)
	}
}

// TestPodLayout checks what Register and Deregister write on the pod.
func TestPodLayout(t *testing.T) {
	cs := fake.NewClientset(readyPod("p"))
	r := newRegistry(t, cs, "p")
	long := strings.Repeat("go.micro.srv.", 6) + "greeter/with:odd chars"

	mustRegister(t, r, svc("greeter", "1", node("a1")))
	mustRegister(t, r, svc("greeter", "2", node("a2"), node("b2")))
	mustRegister(t, r, svc(long, "1", node("l1")))

	pod := getPod(t, cs, "p")
	wantLabels := map[string]string{
		"app":                             "test",
		TypeLabel:                         TypeValue,
		SelectorPrefix + "greeter":        TypeValue,
		SelectorPrefix + serviceKey(long): TypeValue,
	}
	if !equalMaps(pod.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", pod.Labels, wantLabels)
	}
	for k, v := range pod.Labels {
		if errs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(errs) > 0 {
			t.Errorf("label %s=%s is invalid: %v", k, v, errs)
		}
	}
	for k := range pod.Annotations {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			t.Errorf("annotation key %s is invalid: %v", k, errs)
		}
	}
	recs, err := decodeRecords("greeter", pod.Annotations[ServicePrefix+"greeter"])
	if err != nil || len(recs) != 2 || len(recs[0].Nodes) != 1 || len(recs[1].Nodes) != 2 {
		t.Fatalf("greeter annotation = %s (%v); want versions 1 [a1] and 2 [a2 b2]", pod.Annotations[ServicePrefix+"greeter"], err)
	}
	if recs, err := decodeRecords(long, pod.Annotations[ServicePrefix+serviceKey(long)]); err != nil || recs[0].Name != long {
		t.Fatalf("the annotation of a long name does not hold the name: %v", err)
	}

	// A registration that changes nothing writes nothing.
	patches := countPatches(cs)
	mustRegister(t, r, svc("greeter", "1", node("a1")))
	if n := countPatches(cs); n != patches {
		t.Errorf("re-registering an unchanged node without TTL patched the pod %d times", n-patches)
	}
	// Neither does deregistering what is not there.
	mustDeregister(t, r, svc("greeter", "1", node("zz")))
	mustDeregister(t, r, svc("nobody", "1", node("a1")))
	if n := countPatches(cs); n != patches {
		t.Errorf("deregistering unknown nodes patched the pod %d times", n-patches)
	}

	mustDeregister(t, r, svc("greeter", "1", node("a1")))
	mustDeregister(t, r, svc("greeter", "2", node("a2"), node("b2")))
	pod = getPod(t, cs, "p")
	if _, ok := pod.Annotations[ServicePrefix+"greeter"]; ok {
		t.Errorf("greeter annotation left after its last node went: %v", pod.Annotations)
	}
	if _, ok := pod.Labels[SelectorPrefix+"greeter"]; ok || pod.Labels[TypeLabel] != TypeValue {
		t.Errorf("labels = %v; want the greeter selector gone and %s kept for the other service", pod.Labels, TypeLabel)
	}

	mustDeregister(t, r, svc(long, "1", node("l1")))
	pod = getPod(t, cs, "p")
	if want := map[string]string{"app": "test"}; !equalMaps(pod.Labels, want) || len(pod.Annotations) != 0 {
		t.Errorf("after the last deregistration: labels %v, annotations %v; want labels %v and no annotation", pod.Labels, pod.Annotations, want)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func countPatches(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

// TestReadiness checks which pods count: Running, Ready and not being
// deleted.
func TestReadiness(t *testing.T) {
	now := metav1.Now()
	tests := []struct {
		what    string
		mutate  func(*corev1.Pod)
		visible bool
	}{
		{"running and ready", func(*corev1.Pod) {}, true},
		{"pending", func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, false},
		{"succeeded", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, false},
		{"not ready", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, false},
		{"no conditions", func(p *corev1.Pod) { p.Status.Conditions = nil }, false},
		{"terminating", func(p *corev1.Pod) { p.DeletionTimestamp = &now }, false},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			t.Parallel()
			pod := readyPod("p")
			tc.mutate(pod)
			cs := fake.NewClientset(pod)
			r := newRegistry(t, cs, "p")
			mustRegister(t, r, svc("greeter", "1", node("a")))
			_, err := r.GetService(t.Context(), "greeter")
			if tc.visible != (err == nil) {
				t.Errorf("GetService: err = %v, want visible: %v", err, tc.visible)
			}
			if !tc.visible && !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("GetService: err = %v, want registry.ErrNotFound", err)
			}
			ss, err := r.ListServices(t.Context())
			if err != nil || (len(ss) == 1) != tc.visible {
				t.Errorf("ListServices = %d services, %v; want visible: %v", len(ss), err, tc.visible)
			}
		})
	}
}

// setReady sets the Ready condition of a pod.
func setReady(t *testing.T, cs kubernetes.Interface, name string, ready bool) {
	t.Helper()
	pod := getPod(t, cs, name)
	pod.Status.Conditions[0].Status = corev1.ConditionFalse
	if ready {
		pod.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	if _, err := cs.CoreV1().Pods(testNS).UpdateStatus(t.Context(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of %s: %v", name, err)
	}
}

// TestPodLifecycle follows a pod that stops being ready, becomes ready
// again and is deleted (a crash, the Kubernetes way), with another pod
// beside it.
func TestPodLifecycle(t *testing.T) {
	cs := fake.NewClientset(readyPod("p1"), readyPod("p2"))
	r1, r2 := newRegistry(t, cs, "p1"), newRegistry(t, cs, "p2")
	all, err := r1.Watch(t.Context())
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	one, err := r2.Watch(t.Context(), registry.WatchService("greeter"))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	chAll, chOne := results(t, all), results(t, one)
	both := func(action registry.Action, ids ...string) {
		t.Helper()
		expect(t, chAll, action, "greeter", ids...)
		expect(t, chOne, action, "greeter", ids...)
	}

	mustRegister(t, r1, svc("greeter", "1", node("n1")))
	both(registry.Create, "n1")
	mustRegister(t, r2, svc("greeter", "1", node("n2")))
	both(registry.Create, "n2")
	mustRegister(t, r2, svc("other", "1", node("o2")))
	expect(t, chAll, registry.Create, "other", "o2")
	waitIDs(t, r1, "greeter", map[string][]string{"1": {"n1", "n2"}})

	setReady(t, cs, "p2", false)
	expect(t, chAll, registry.Delete, "greeter", "n2")
	expect(t, chAll, registry.Delete, "other", "o2")
	expect(t, chOne, registry.Delete, "greeter", "n2")
	waitIDs(t, r1, "greeter", map[string][]string{"1": {"n1"}})

	setReady(t, cs, "p2", true)
	expect(t, chAll, registry.Create, "greeter", "n2")
	expect(t, chAll, registry.Create, "other", "o2")
	expect(t, chOne, registry.Create, "greeter", "n2")
	waitIDs(t, r1, "greeter", map[string][]string{"1": {"n1", "n2"}})

	// The pod dies: Kubernetes deletes it, with its registrations.
	if err := cs.CoreV1().Pods(testNS).Delete(t.Context(), "p2", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	expect(t, chAll, registry.Delete, "greeter", "n2")
	expect(t, chAll, registry.Delete, "other", "o2")
	expect(t, chOne, registry.Delete, "greeter", "n2")
	waitIDs(t, r1, "greeter", map[string][]string{"1": {"n1"}})
	waitIDs(t, r1, "other", nil)

	// Registering on a pod that is gone is a clear error.
	err = r2.Register(t.Context(), svc("greeter", "1", node("n2")))
	if err == nil || !strings.Contains(err.Error(), "pod micro-test/p2 not found") {
		t.Errorf("Register on a deleted pod: err = %v, want it to say the pod is not found", err)
	}
}

// TestHeartbeatStops simulates a process that hangs without its pod
// going away: its node, registered with a TTL and refreshed while it runs,
// is gone within the TTL once the refreshes stop, and watchers see the
// Delete. The node of a healthy pod stays.
func TestHeartbeatStops(t *testing.T) {
	const ttl = time.Second
	cs := fake.NewClientset(readyPod("p1"), readyPod("p2"))
	r1, r2 := newRegistry(t, cs, "p1"), newRegistry(t, cs, "p2")
	w, err := r1.Watch(t.Context(), registry.WatchService("greeter"))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	ch := results(t, w)

	ctx, stopBeating := context.WithCancel(t.Context())
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		tick := time.NewTicker(ttl / 5)
		defer tick.Stop()
		for {
			// A failed beat is retried at the next tick; the test
			// checks the outcome.
			_ = r2.Register(ctx, svc("greeter", "1", node("beating")), registry.RegisterTTL(ttl))
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { stopBeating(); <-beats })

	mustRegister(t, r1, svc("greeter", "1", node("steady")))
	got := map[string]bool{}
	for len(got) < 2 {
		res := testenv.Recv(t, "the two Creates", ch)
		if res.Action != registry.Create {
			t.Fatalf("watch: %s %v before both nodes were created", res.Action, res.Service.Nodes)
		}
		for _, n := range res.Service.Nodes {
			got[n.Id] = true
		}
	}

	// A canary with the same TTL, never refreshed, is the clock: once it
	// is gone, more than the TTL has passed, and the beating node must
	// still be there.
	mustRegister(t, r1, svc("canary", "1", node("c")), registry.RegisterTTL(ttl))
	waitIDs(t, r1, "canary", nil)
	if ids := nodeIDs(t, r1, "greeter"); !slices.Equal(ids["1"], []string{"beating", "steady"}) {
		t.Fatalf("while beating: greeter = %v, want [beating steady]", ids)
	}

	stopBeating()
	<-beats
	expect(t, ch, registry.Delete, "greeter", "beating")
	waitIDs(t, r1, "greeter", map[string][]string{"1": {"steady"}})
}

// errDown is what the fake API server answers while it is down.
var errDown = fmt.Errorf("dial tcp 127.0.0.1:6443: %w", syscall.ECONNREFUSED)

// downClientset returns a fake clientset whose every pod request fails with
// errDown while down is set.
func downClientset(down *atomic.Bool, pods ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(pods...)
	cs.PrependReactor("*", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		if down.Load() {
			return true, nil, errDown
		}
		return false, nil, nil
	})
	cs.PrependWatchReactor("pods", func(clienttesting.Action) (bool, watch.Interface, error) {
		if down.Load() {
			return true, nil, errDown
		}
		return false, nil, nil
	})
	return cs
}

// TestAPIServerDown checks that every call fails clearly while the API
// server is unreachable, and works once it is back, with the same
// registry.
func TestAPIServerDown(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	cs := downClientset(&down, readyPod("p"))
	r := newRegistry(t, cs, "p")

	err := r.Register(t.Context(), svc("greeter", "1", node("a")))
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "registry/kubernetes: register greeter: get pod micro-test/p") {
		t.Errorf("Register while down: err = %v", err)
	}
	_, err = r.GetService(t.Context(), "greeter")
	if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, registry.ErrNotFound) {
		t.Errorf("GetService while down: err = %v, want the connection error, not ErrNotFound", err)
	}
	if _, err := r.ListServices(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ListServices while down: err = %v", err)
	}
	if w, err := r.Watch(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Watch while down: err = %v", err)
		if w != nil {
			w.Stop()
		}
	}

	down.Store(false)
	mustRegister(t, r, svc("greeter", "1", node("a")))
	waitIDs(t, r, "greeter", map[string][]string{"1": {"a"}})
}

// TestWatchReestablished ends the watch under a watcher (as the API
// server does every few minutes, and as a restart of it does), keeps it
// from watching again for a while, and checks that the watcher reports
// what changed meanwhile, once, and goes on with the new watch.
func TestWatchReestablished(t *testing.T) {
	cs := fake.NewClientset(readyPod("p1"), readyPod("p2"))
	var (
		refuse  atomic.Bool
		tries   atomic.Int32
		current atomic.Pointer[watch.Interface]
	)
	cs.PrependWatchReactor("pods", func(a clienttesting.Action) (bool, watch.Interface, error) {
		tries.Add(1)
		if refuse.Load() {
			return true, nil, errDown
		}
		wa := a.(clienttesting.WatchActionImpl)
		w, err := cs.Tracker().Watch(wa.GetResource(), wa.GetNamespace(), wa.ListOptions)
		if err == nil {
			current.Store(&w)
		}
		return true, w, err
	})
	r1, r2 := newRegistry(t, cs, "p1"), newRegistry(t, cs, "p2")
	w, err := r1.Watch(t.Context(), registry.WatchService("greeter"))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	ch := results(t, w)
	mustRegister(t, r2, svc("greeter", "1", node("before")))
	expect(t, ch, registry.Create, "greeter", "before")

	refuse.Store(true)
	n := tries.Load()
	(*current.Load()).Stop() // the server ends the watch
	testenv.WaitFor(t, "two refused watch attempts", func() bool { return tries.Load() >= n+2 })
	mustRegister(t, r2, svc("greeter", "1", node("during")))
	mustDeregister(t, r2, svc("greeter", "1", node("before")))
	refuse.Store(false)

	expect(t, ch, registry.Create, "greeter", "during")
	expect(t, ch, registry.Delete, "greeter", "before")
	mustRegister(t, r2, svc("greeter", "1", node("after")))
	expect(t, ch, registry.Create, "greeter", "after")
}

// TestPodRecreated covers a pod replaced under the same name (a
// StatefulSet's pod after a restart): the new pod carries nothing, and the
// next registration — go-micro's server registers again every register
// interval — puts the service back.
func TestPodRecreated(t *testing.T) {
	cs := fake.NewClientset(readyPod("p"))
	r := newRegistry(t, cs, "p")
	mustRegister(t, r, svc("greeter", "1", node("a")))
	if err := cs.CoreV1().Pods(testNS).Delete(t.Context(), "p", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	addPod(t, cs, readyPod("p"))
	waitIDs(t, r, "greeter", nil)
	mustRegister(t, r, svc("greeter", "1", node("a")))
	waitIDs(t, r, "greeter", map[string][]string{"1": {"a"}})
}

// TestBadAnnotation checks that an annotation someone else broke is
// skipped by readers and replaced by the next registration.
func TestBadAnnotation(t *testing.T) {
	pod := readyPod("p")
	pod.Labels[TypeLabel] = TypeValue
	pod.Labels[SelectorPrefix+"greeter"] = TypeValue
	pod.Annotations = map[string]string{
		ServicePrefix + "greeter": "{not json",
		ServicePrefix + "other":   `[{"name":"greeter","version":"1","nodes":[{"id":"x"}]}]`,
	}
	cs := fake.NewClientset(pod, readyPod("q"))
	r := newRegistry(t, cs, "p")
	if _, err := r.GetService(t.Context(), "greeter"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("GetService over bad annotations: err = %v, want ErrNotFound", err)
	}
	if ss, err := r.ListServices(t.Context()); err != nil || len(ss) != 0 {
		t.Errorf("ListServices over bad annotations = %v, %v; want nothing", ss, err)
	}
	mustRegister(t, r, svc("greeter", "1", node("a")))
	waitIDs(t, r, "greeter", map[string][]string{"1": {"a"}})
}

func TestNewRegistryOptions(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	t.Setenv(PodNameEnv, "")
	t.Setenv(PodNamespaceEnv, "")
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	kubeconfig := filepath.Join(dir, "config")
	writeKubeconfig(t, kubeconfig, "http://127.0.0.1:1", "team-a")
	cs := fake.NewClientset()

	tests := []struct {
		what    string
		opts    []registry.Option
		env     map[string]string
		err     string // substring of the error; "" for none
		ns, pod string
	}{
		{what: "no configuration", err: "not running in a pod, and no usable kubeconfig in $KUBECONFIG or ~/.kube/config"},
		{what: "missing kubeconfig", opts: []registry.Option{Kubeconfig(filepath.Join(dir, "nope"))}, err: filepath.Join(dir, "nope")},
		{what: "empty kubeconfig path", opts: []registry.Option{Kubeconfig("")}, err: "empty kubeconfig path"},
		{what: "bad namespace", opts: []registry.Option{Clientset(cs), Namespace("Not_A_Namespace")}, err: `bad namespace "Not_A_Namespace"`},
		{what: "bad pod name", opts: []registry.Option{Clientset(cs), PodName("no/slashes")}, err: `bad pod name "no/slashes"`},
		{what: "defaults", opts: []registry.Option{Clientset(cs), PodName("p")}, ns: "default", pod: "p"},
		{what: "downward API", opts: []registry.Option{Clientset(cs)}, env: map[string]string{PodNameEnv: "pod-1", PodNamespaceEnv: "ns-1"}, ns: "ns-1", pod: "pod-1"},
		{what: "options beat the environment", opts: []registry.Option{Clientset(cs), Namespace("ns-2"), PodName("pod-2")}, env: map[string]string{PodNameEnv: "pod-1", PodNamespaceEnv: "ns-1"}, ns: "ns-2", pod: "pod-2"},
		{what: "kubeconfig namespace", opts: []registry.Option{Kubeconfig(kubeconfig), PodName("p")}, ns: "team-a", pod: "p"},
		{what: "KUBECONFIG", opts: []registry.Option{PodName("p")}, env: map[string]string{"KUBECONFIG": kubeconfig}, ns: "team-a", pod: "p"},
	}
	for _, tc := range tests {
		t.Run(tc.what, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r, err := NewRegistry(tc.opts...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewRegistry: err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRegistry: %v", err)
			}
			kr := r.(*k8sRegistry)
			if kr.ns != tc.ns || kr.pod != tc.pod {
				t.Errorf("namespace, pod = %q, %q; want %q, %q", kr.ns, kr.pod, tc.ns, tc.pod)
			}
			if r.String() != "kubernetes" {
				t.Errorf("String() = %q", r.String())
			}
		})
	}

	t.Run("host name", func(t *testing.T) {
		host, err := os.Hostname()
		if err != nil || validation.IsDNS1123Subdomain(host) != nil {
			t.Skipf("the host name %q (%v) is not a pod name", host, err)
		}
		r, err := NewRegistry(Clientset(cs))
		if err != nil {
			t.Fatalf("NewRegistry: %v", err)
		}
		if got := r.(*k8sRegistry).pod; got != host {
			t.Errorf("pod = %q, want the host name %q", got, host)
		}
	})

	t.Run("address and timeout", func(t *testing.T) {
		r, err := NewRegistry(Kubeconfig(kubeconfig), registry.Addrs("http://127.0.0.2:7"), registry.Timeout(time.Second))
		if err != nil {
			t.Fatalf("NewRegistry: %v", err)
		}
		kr := r.(*k8sRegistry)
		if host := kr.client.CoreV1().RESTClient().Get().URL().Host; host != "127.0.0.2:7" {
			t.Errorf("API server = %q, want the one registry.Addrs gave", host)
		}
		if kr.timeout != time.Second {
			t.Errorf("timeout = %v, want 1s", kr.timeout)
		}
	})

	t.Run("lookup by name", func(t *testing.T) {
		f, err := registry.Lookup("kubernetes")
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		if _, err := f(Clientset(cs), PodName("p")); err != nil {
			t.Fatalf("factory: %v", err)
		}
	})

	t.Run("no pod name", func(t *testing.T) {
		r := &k8sRegistry{pods: cs.CoreV1().Pods("default"), ns: "default"}
		if err := r.Register(t.Context(), svc("s", "1", node("a"))); !errors.Is(err, ErrNoPod) {
			t.Errorf("Register without a pod name: err = %v, want ErrNoPod", err)
		}
	})
}

// writeKubeconfig writes a kubeconfig for server whose context uses ns.
func writeKubeconfig(t *testing.T, path, server, ns string) {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
users:
- name: test
  user:
    token: test-token
contexts:
- name: test
  context:
    cluster: test
    user: test
    namespace: %s
current-context: test
`, server, ns)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}
