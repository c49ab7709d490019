package etcd

import "os"

// StartEmbedded starts an etcd inside the test process, for the examples,
// which have no *testing.T to clean up with.
func StartEmbedded() (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "etcd-example-")
	if err != nil {
		return "", nil, err
	}
	te, err := newTestEtcd(dir, nil)
	if err == nil {
		err = te.start()
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	return te.addr(), func() {
		te.stop()
		_ = os.RemoveAll(dir)
	}, nil
}
