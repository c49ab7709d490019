package etcdtest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// A test calls etcdtest.Start(t) and is done; without a test, NewServer
// prepares etcd in a folder the caller removes.
func ExampleNewServer() {
	dir, err := os.MkdirTemp("", "etcdtest-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	s, err := etcdtest.NewServer(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()

	c, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "greeting", "hello"); err != nil {
		fmt.Println(err)
		return
	}
	rsp, err := c.Get(ctx, "greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s=%s\n", rsp.Kvs[0].Key, rsp.Kvs[0].Value)
	// Output: greeting=hello
}
