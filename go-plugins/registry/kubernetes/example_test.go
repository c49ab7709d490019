package kubernetes_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-plugins/registry/kubernetes"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// The example runs against client-go's fake clientset, holding the pod the
// process would run in. In a cluster, NewRegistry() alone finds the API
// server, and POD_NAME and POD_NAMESPACE (from the downward API) name the
// pod.
func Example() {
	ctx := context.Background()
	cs := fake.NewClientset(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "greeter-7d4f9", Namespace: "shop"},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	})
	r, err := kubernetes.NewRegistry(
		kubernetes.Clientset(cs),
		kubernetes.Namespace("shop"),
		kubernetes.PodName("greeter-7d4f9"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}

	err = r.Register(ctx, &registry.Service{
		Name:    "go.micro.srv.greeter",
		Version: "1.0.0",
		Nodes:   []*registry.Node{{Id: "greeter-1", Address: "10.1.2.3:8080"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ss, err := r.GetService(ctx, "go.micro.srv.greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range ss {
		for _, n := range s.Nodes {
			fmt.Println(s.Name, s.Version, n.Id, n.Address)
		}
	}

	pod, _ := cs.CoreV1().Pods("shop").Get(ctx, "greeter-7d4f9", metav1.GetOptions{})
	fmt.Println(pod.Labels[kubernetes.SelectorPrefix+"go.micro.srv.greeter"])
	// Output:
	// go.micro.srv.greeter 1.0.0 greeter-1 10.1.2.3:8080
	// service
}
