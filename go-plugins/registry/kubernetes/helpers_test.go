package kubernetes

import (
	"strings"
	"testing"

	"github.com/openmicro/go-micro/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

// testNS is the namespace of the tests' pods.
const testNS = "micro-test"

// readyPod returns a pod as the kubelet reports a healthy one: Running,
// with its Ready condition True.
func readyPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{"app": "test"}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// podName turns a test name into a pod name.
func podName(t *testing.T) string {
	t.Helper()
	n := strings.ToLower(t.Name())
	n = strings.NewReplacer("/", "-", "_", "-").Replace(n)
	if len(n) > 63 {
		n = n[len(n)-63:]
	}
	return strings.Trim(n, "-.")
}

// addPod creates pod in cs.
func addPod(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

// getPod reads pod name from cs.
func getPod(t *testing.T, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods(testNS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// newRegistry returns a registry on cs that registers on pod.
func newRegistry(t *testing.T, cs kubernetes.Interface, pod string, opts ...registry.Option) registry.Registry {
	t.Helper()
	r, err := NewRegistry(append([]registry.Option{Clientset(cs), Namespace(testNS), PodName(pod)}, opts...)...)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

// podRegistry creates a ready pod named after the test in cs and returns a
// registry that registers on it.
func podRegistry(t *testing.T, cs *fake.Clientset) registry.Registry {
	t.Helper()
	name := podName(t)
	addPod(t, cs, readyPod(name))
	return newRegistry(t, cs, name)
}
