package kubernetes

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/openmicro/go-micro/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

// fakeAPI serves the part of the Kubernetes API that the registry uses
// (get, list, watch and patch pods) over HTTP from a fake clientset, so
// that the registry's real client, built from a kubeconfig, is exercised:
// request encoding, merge patches, label selectors and watch streams.
type fakeAPI struct {
	cs *fake.Clientset

	mu      sync.Mutex
	restart chan struct{} // closed to end every open watch
}

func newFakeAPI(cs *fake.Clientset) *fakeAPI {
	return &fakeAPI{cs: cs, restart: make(chan struct{})}
}

// endWatches ends the watch streams open now, as a restart of the API
// server does.
func (f *fakeAPI) endWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.restart)
	f.restart = make(chan struct{})
}

// codec writes core/v1 objects (and Status) as the API server does.
var codec = scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion)

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// /api/v1/namespaces/NS/pods[/NAME]
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(parts) < 5 || len(parts) > 6 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "pods" {
		http.NotFound(w, req)
		return
	}
	ctx := req.Context()
	pods := f.cs.CoreV1().Pods(parts[3])
	var (
		obj runtime.Object
		err error
	)
	switch {
	case len(parts) == 6 && req.Method == http.MethodGet:
		obj, err = pods.Get(ctx, parts[5], metav1.GetOptions{})
	case len(parts) == 6 && req.Method == http.MethodPatch:
		body, rerr := io.ReadAll(req.Body)
		if rerr != nil {
			http.Error(w, rerr.Error(), http.StatusBadRequest)
			return
		}
		obj, err = pods.Patch(ctx, parts[5], types.PatchType(req.Header.Get("Content-Type")), body, metav1.PatchOptions{})
	case len(parts) == 5 && req.Method == http.MethodGet && req.URL.Query().Get("watch") != "":
		f.watch(w, req)
		return
	case len(parts) == 5 && req.Method == http.MethodGet:
		q := req.URL.Query()
		obj, err = pods.List(ctx, metav1.ListOptions{LabelSelector: q.Get("labelSelector")})
	default:
		http.Error(w, "not served by this test", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			status = apierrors.NewInternalError(err)
		}
		s := status.Status()
		obj = &s
		w.WriteHeader(int(s.Code))
	}
	b, err := runtime.Encode(codec, obj)
	if err != nil {
		panic(err) // a bug in the test server
	}
	_, _ = w.Write(b)
}

func (f *fakeAPI) watch(w http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	restart := f.restart
	f.mu.Unlock()
	q := req.URL.Query()
	kw, err := f.cs.CoreV1().Pods(strings.Split(req.URL.Path, "/")[4]).Watch(req.Context(), metav1.ListOptions{
		LabelSelector:   q.Get("labelSelector"),
		ResourceVersion: q.Get("resourceVersion"),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer kw.Stop()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-req.Context().Done():
			return
		case <-restart:
			return
		case ev, ok := <-kw.ResultChan():
			if !ok {
				return
			}
			raw, err := runtime.Encode(codec, ev.Object)
			if err != nil {
				panic(err)
			}
			b, _ := json.Marshal(metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: raw}})
			if _, err := w.Write(append(b, '\n')); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}
}

// TestKubeconfigAPIServer runs the registry with a client built from a
// kubeconfig: first with nothing listening at the API server's address
// (every call fails clearly), then against a test server backed by a fake
// clientset, through a restart of its watch streams.
func TestKubeconfigAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, path, "http://"+addr, testNS)
	r, err := NewRegistry(Kubeconfig(path), PodName("p"))
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}

	// Nothing listens yet.
	err = r.Register(t.Context(), svc("greeter", "1", node("a")))
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "registry/kubernetes: register greeter") {
		t.Fatalf("Register with no API server: err = %v, want a connection refused", err)
	}
	if _, err := r.Watch(t.Context()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Watch with no API server: err = %v, want a connection refused", err)
	}

	// The API server comes up at that address.
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen at %s again, where the registry expects its API server: %v", addr, err)
	}
	cs := fake.NewClientset(readyPod("p"), readyPod("q"))
	api := newFakeAPI(cs)
	srv := &http.Server{Handler: api}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
	})

	mustRegister(t, r, svc("greeter", "1", node("a")))
	if pod := getPod(t, cs, "p"); pod.Labels[SelectorPrefix+"greeter"] != TypeValue {
		t.Fatalf("the patch through HTTP did not label the pod: %v", pod.Labels)
	}
	waitIDs(t, r, "greeter", map[string][]string{"1": {"a"}})

	w, err := r.Watch(t.Context(), registry.WatchService("greeter"))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	ch := results(t, w)
	other := newRegistry(t, cs, "q")
	mustRegister(t, other, svc("greeter", "1", node("b")))
	expect(t, ch, registry.Create, "greeter", "b")

	// The API server restarts: the watch streams end, and a change made
	// meanwhile is reported once the watcher has listed again.
	api.endWatches()
	mustDeregister(t, other, svc("greeter", "1", node("b")))
	expect(t, ch, registry.Delete, "greeter", "b")
	mustRegister(t, r, svc("greeter", "1", node("c")))
	expect(t, ch, registry.Create, "greeter", "c")
	mustDeregister(t, r, svc("greeter", "1", node("a"), node("c")))
	expect(t, ch, registry.Delete, "greeter", "a", "c")
	waitIDs(t, r, "greeter", nil)
}
