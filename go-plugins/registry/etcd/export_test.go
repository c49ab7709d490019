package etcd

import (
	"os"

	"github.com/openmicro/go-plugins/registry/etcd/etcdtest"
)

// StartEmbedded starts an etcd inside the test process, for the examples,
// which have no *testing.T to clean up with.
func StartEmbedded() (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "etcd-example-")
	if err != nil {
		return "", nil, err
	}
	s, err := etcdtest.NewServer(dir)
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return s.Addr(), func() {
		s.Stop()
		_ = os.RemoveAll(dir)
	}, nil
}
