package kubernetes

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/openmicro/go-micro/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func init() {
	registry.Register("kubernetes", NewRegistry)
}

// The environment variables read for the defaults; set them from the
// downward API (see the README).
const (
	PodNameEnv      = "POD_NAME"
	PodNamespaceEnv = "POD_NAMESPACE"
)

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// maxConflicts bounds the attempts of one write that loses optimistic
// concurrency races against other writers of the pod.
const maxConflicts = 10

// ErrNoPod is returned by Register and Deregister when the registry does
// not know the pod it runs in.
var ErrNoPod = errors.New("registry/kubernetes: no pod name: set POD_NAME from the downward API or use the PodName option")

// NewRegistry returns a registry that keeps services on the pods that run
// them. It builds its client from the in-cluster configuration, else from
// a kubeconfig ([Kubeconfig]), unless [Clientset] gives one; building it
// makes no request. It reads [registry.Addrs] (the first replaces the API
// server's address), [registry.Timeout] (bounds each request but watches),
// [registry.TLS] (replaces the TLS settings of the configuration) and this
// package's options. A bad option or an unusable configuration is an
// error.
func NewRegistry(opts ...registry.Option) (registry.Registry, error) {
	o := registry.NewOptions(opts...)
	client, defaultNS, err := newClient(o)
	if err != nil {
		return nil, err
	}
	ns := cmp.Or(stringValue(o, namespaceKey{}), os.Getenv(PodNamespaceEnv), defaultNS, "default")
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return nil, fmt.Errorf("registry/kubernetes: bad namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	pod := cmp.Or(stringValue(o, podNameKey{}), os.Getenv(PodNameEnv))
	if pod == "" {
		pod, _ = os.Hostname() // no host name: Register says ErrNoPod
	}
	if pod != "" {
		if errs := validation.IsDNS1123Subdomain(pod); len(errs) > 0 {
			return nil, fmt.Errorf("registry/kubernetes: bad pod name %q: %s", pod, strings.Join(errs, "; "))
		}
	}
	return &k8sRegistry{
		client:  client,
		pods:    client.CoreV1().Pods(ns),
		ns:      ns,
		pod:     pod,
		timeout: o.Timeout,
		log:     slog.Default().With("registry", "kubernetes"),
	}, nil
}

func stringValue(o registry.Options, key any) string {
	s, _ := o.Value(key).(string)
	return s
}

// newClient returns the client the options ask for and the namespace its
// configuration suggests ("" for none).
func newClient(o registry.Options) (kubernetes.Interface, string, error) {
	if c, ok := o.Value(clientsetKey{}).(kubernetes.Interface); ok && c != nil {
		return c, "", nil
	}
	path, explicit := o.Value(kubeconfigKey{}).(string)
	if explicit && path == "" {
		return nil, "", errors.New("registry/kubernetes: empty kubeconfig path")
	}
	var (
		cfg *rest.Config
		ns  string
	)
	if !explicit {
		c, err := rest.InClusterConfig()
		switch {
		case err == nil:
			cfg = c
			if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
				ns = strings.TrimSpace(string(b))
			}
		case !errors.Is(err, rest.ErrNotInCluster):
			return nil, "", fmt.Errorf("registry/kubernetes: in-cluster configuration: %w", err)
		}
	}
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		where := "$KUBECONFIG or ~/.kube/config"
		if explicit {
			rules.ExplicitPath = path
			where = path
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
		c, err := cc.ClientConfig()
		if err != nil {
			return nil, "", fmt.Errorf("registry/kubernetes: not running in a pod, and no usable kubeconfig in %s: %w", where, err)
		}
		cfg = c
		if n, _, err := cc.Namespace(); err == nil {
			ns = n
		}
	}
	if len(o.Addrs) > 0 && o.Addrs[0] != "" {
		cfg.Host = o.Addrs[0]
	}
	if o.TLS != nil {
		cfg.TLSClientConfig = rest.TLSClientConfig{}
		cfg.Transport = &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			TLSClientConfig:   o.TLS.Clone(),
			ForceAttemptHTTP2: true,
		}
	}
	cfg.UserAgent = "go-micro-registry"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("registry/kubernetes: client for %s: %w", cfg.Host, err)
	}
	return c, ns, nil
}

type k8sRegistry struct {
	client  kubernetes.Interface
	pods    typedcorev1.PodInterface // the namespace's pods
	ns      string
	pod     string // the pod Register writes to
	timeout time.Duration
	log     *slog.Logger

	// mu serialises the writes of this registry to its pod, so that they
	// do not lose each other's changes where the API server cannot tell
	// (a pod without a resource version, as client-go's fake clientset
	// keeps them). Writers in other processes are kept apart by the
	// resource version in each patch.
	mu sync.Mutex
}

func (r *k8sRegistry) String() string { return "kubernetes" }

// callCtx bounds one request by the Timeout option.
func (r *k8sRegistry) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.timeout > 0 {
		return context.WithTimeout(ctx, r.timeout)
	}
	return context.WithCancel(ctx)
}

func (r *k8sRegistry) Register(ctx context.Context, s *registry.Service, opts ...registry.RegisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	ttl := registry.NewRegisterOptions(opts...).TTL
	s = registry.Copy(s)
	err := r.update(ctx, s.Name, func(recs []*record, now int64) []*record {
		var rec *record
		for _, x := range recs {
			if x.Version == s.Version {
				rec = x
			}
		}
		if rec == nil {
			rec = &record{Name: s.Name, Version: s.Version, Metadata: s.Metadata, Endpoints: s.Endpoints, Updated: now}
			recs = append(recs, rec)
		} else if !sameHeader(rec.header(), s) {
			rec.Metadata, rec.Endpoints = s.Metadata, s.Endpoints
			// Updated tells the nodes of this registration apart: it
			// must move even if the clock does not.
			rec.Updated = max(now, rec.Updated+1)
		}
		var expires int64
		if ttl > 0 {
			expires = now + int64(ttl)
		}
		for _, n := range s.Nodes {
			nr := &nodeRecord{Id: n.Id, Address: n.Address, Metadata: n.Metadata, Expires: expires, Rev: rec.Updated}
			if i := slices.IndexFunc(rec.Nodes, func(x *nodeRecord) bool { return x.Id == n.Id }); i >= 0 {
				rec.Nodes[i] = nr
			} else {
				rec.Nodes = append(rec.Nodes, nr)
			}
		}
		slices.SortFunc(rec.Nodes, func(a, b *nodeRecord) int { return cmp.Compare(a.Id, b.Id) })
		return recs
	})
	if err != nil {
		return fmt.Errorf("registry/kubernetes: register %s: %w", s.Name, err)
	}
	return nil
}

func (r *k8sRegistry) Deregister(ctx context.Context, s *registry.Service, opts ...registry.DeregisterOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := registry.Validate(s); err != nil {
		return err
	}
	ids := make(map[string]bool, len(s.Nodes))
	for _, n := range s.Nodes {
		ids[n.Id] = true
	}
	err := r.update(ctx, s.Name, func(recs []*record, _ int64) []*record {
		for _, rec := range recs {
			if rec.Version == s.Version {
				rec.Nodes = slices.DeleteFunc(rec.Nodes, func(n *nodeRecord) bool { return ids[n.Id] })
			}
		}
		return recs
	})
	if err != nil {
		return fmt.Errorf("registry/kubernetes: deregister %s: %w", s.Name, err)
	}
	return nil
}

// update reads the records of the service name from the registry's pod,
// applies change to them (with the time in Unix nanoseconds) and writes the
// result back, unless it is what the pod holds. Expired nodes and records
// without nodes are dropped on the way. A write that loses a race with
// another writer of the pod is tried again.
func (r *k8sRegistry) update(ctx context.Context, name string, change func([]*record, int64) []*record) error {
	if r.pod == "" {
		return ErrNoPod
	}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	key := serviceKey(name)
	annKey, selKey := ServicePrefix+key, SelectorPrefix+key

	r.mu.Lock()
	defer r.mu.Unlock()
	for attempt := 1; ; attempt++ {
		pod, err := r.pods.Get(ctx, r.pod, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("pod %s/%s not found (is %s, or the PodName option, this pod's name?): %w", r.ns, r.pod, PodNameEnv, err)
			}
			return fmt.Errorf("get pod %s/%s: %w", r.ns, r.pod, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		old, had := pod.Annotations[annKey]
		var recs []*record
		if had {
			if recs, err = decodeRecords(name, old); err != nil {
				r.log.Warn("replacing a bad service annotation", "pod", r.pod, "key", annKey, "err", err)
				recs = nil
			}
		}
		recs = prune(change(prune(recs, now), now), now)
		value := ""
		if len(recs) > 0 {
			if value, err = encodeRecords(recs); err != nil {
				return err
			}
		}
		labelled := pod.Labels[selKey] == TypeValue && pod.Labels[TypeLabel] == TypeValue
		if (value == "" && !had) || (had && value == old && labelled) {
			return nil // nothing to write
		}

		labels := map[string]any{}
		annotations := map[string]any{}
		if value != "" {
			labels[TypeLabel] = TypeValue
			labels[selKey] = TypeValue
			annotations[annKey] = value
		} else {
			labels[selKey] = nil
			annotations[annKey] = nil
			if !otherServices(pod, annKey) {
				labels[TypeLabel] = nil
			}
		}
		meta := map[string]any{"labels": labels, "annotations": annotations}
		if pod.ResourceVersion != "" {
			// Makes the patch fail with a conflict if the pod changed
			// since it was read.
			meta["resourceVersion"] = pod.ResourceVersion
		}
		body, err := json.Marshal(map[string]any{"metadata": meta})
		if err != nil {
			return fmt.Errorf("encode patch: %w", err)
		}
		_, err = r.pods.Patch(ctx, r.pod, types.MergePatchType, body, metav1.PatchOptions{})
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err) && attempt < maxConflicts:
			continue
		default:
			return fmt.Errorf("patch pod %s/%s: %w", r.ns, r.pod, err)
		}
	}
}

// prune drops the nodes that expired at now and the records left without
// nodes.
func prune(recs []*record, now int64) []*record {
	return slices.DeleteFunc(recs, func(rec *record) bool {
		rec.Nodes = slices.DeleteFunc(rec.Nodes, func(n *nodeRecord) bool { return !n.alive(now) })
		return len(rec.Nodes) == 0
	})
}

// otherServices reports whether the pod carries a service annotation other
// than annKey.
func otherServices(pod *corev1.Pod, annKey string) bool {
	for k := range pod.Annotations {
		if k != annKey && strings.HasPrefix(k, ServicePrefix) {
			return true
		}
	}
	return false
}

func (r *k8sRegistry) GetService(ctx context.Context, name string, opts ...registry.GetOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: empty name", registry.ErrNotFound)
	}
	ss, err := r.list(ctx, SelectorPrefix+serviceKey(name)+"="+TypeValue, name)
	if err != nil {
		return nil, fmt.Errorf("registry/kubernetes: get service %s: %w", name, err)
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("%w: %q", registry.ErrNotFound, name)
	}
	return ss, nil
}

func (r *k8sRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ss, err := r.list(ctx, TypeLabel+"="+TypeValue, "")
	if err != nil {
		return nil, fmt.Errorf("registry/kubernetes: list services: %w", err)
	}
	return ss, nil
}

// list gathers the services (only name when not empty) of the ready pods
// that selector selects, one entry per name and version, with the nodes
// alive now.
func (r *k8sRegistry) list(ctx context.Context, selector, name string) ([]*registry.Service, error) {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	pods, err := r.pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", r.ns, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now().UnixNano()
	type nv struct{ name, version string }
	type agg struct {
		header *record
		nodes  map[string]*nodeRecord
		rev    map[string]int64 // the Updated of the record each node came from
	}
	all := make(map[nv]*agg)
	for i := range pods.Items {
		for _, recs := range podRecords(&pods.Items[i], name, r.badAnnotation(pods.Items[i].Name)) {
			for _, rec := range recs {
				k := nv{rec.Name, rec.Version}
				a := all[k]
				if a == nil {
					a = &agg{nodes: make(map[string]*nodeRecord), rev: make(map[string]int64)}
					all[k] = a
				}
				alive := false
				for _, n := range rec.Nodes {
					if !n.alive(now) {
						continue
					}
					alive = true
					// A node id on two pods: the newer registration wins.
					if _, dup := a.nodes[n.Id]; !dup || rec.Updated > a.rev[n.Id] {
						a.nodes[n.Id], a.rev[n.Id] = n, rec.Updated
					}
				}
				if alive && (a.header == nil || rec.Updated > a.header.Updated) {
					a.header = rec
				}
			}
		}
	}
	out := make([]*registry.Service, 0, len(all))
	for _, a := range all {
		if a.header == nil {
			continue
		}
		s := a.header.header()
		for _, n := range a.nodes {
			s.Nodes = append(s.Nodes, n.node())
		}
		slices.SortFunc(s.Nodes, func(x, y *registry.Node) int { return cmp.Compare(x.Id, y.Id) })
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *registry.Service) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version))
	})
	return out, nil
}

// badAnnotation returns the report of an annotation of pod that does not
// decode: it is skipped, and logged.
func (r *k8sRegistry) badAnnotation(pod string) func(key string, err error) {
	return func(key string, err error) {
		r.log.Warn("skipping a bad service annotation", "pod", pod, "key", key, "err", err)
	}
}

var _ registry.Registry = (*k8sRegistry)(nil)
