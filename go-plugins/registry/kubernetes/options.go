package kubernetes

import (
	"github.com/openmicro/go-micro/registry"
	"k8s.io/client-go/kubernetes"
)

type (
	kubeconfigKey struct{}
	clientsetKey  struct{}
	namespaceKey  struct{}
	podNameKey    struct{}
)

// Kubeconfig sets the kubeconfig file to build the client from, and skips
// the in-cluster configuration. Default: the in-cluster configuration when
// running in a pod, else $KUBECONFIG (a list of files, as kubectl reads it),
// else ~/.kube/config.
func Kubeconfig(path string) registry.Option {
	return func(o *registry.Options) { o.SetValue(kubeconfigKey{}, path) }
}

// Clientset makes the registry use c instead of building a client; the
// other connection settings (Kubeconfig, [registry.Addrs], [registry.TLS])
// are then ignored. Tests pass client-go's fake clientset
// (k8s.io/client-go/kubernetes/fake). Default: a client built from the
// configuration described at [Kubeconfig].
func Clientset(c kubernetes.Interface) registry.Option {
	return func(o *registry.Options) { o.SetValue(clientsetKey{}, c) }
}

// Namespace sets the namespace that the registry reads and whose pod it
// registers on. Default: $POD_NAMESPACE, else the namespace of the pod's
// service account when running in a pod, else "default".
func Namespace(ns string) registry.Option {
	return func(o *registry.Options) { o.SetValue(namespaceKey{}, ns) }
}

// PodName sets the pod that Register and Deregister write to: the pod this
// process runs in. Default: $POD_NAME (set it from the downward API), else
// the host name, which Kubernetes sets to the pod's name.
func PodName(name string) registry.Option {
	return func(o *registry.Options) { o.SetValue(podNameKey{}, name) }
}
