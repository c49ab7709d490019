package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// startupLimit bounds the wait for an embedded etcd to serve. It only keeps
// a broken start from hanging the test run; it asserts nothing about speed.
const startupLimit = 2 * time.Minute

// testEtcd is a one-member etcd embedded in the test process, on free
// loopback ports, that a test can stop, wipe and start again on the same
// ports.
type testEtcd struct {
	root      string // holds the data dirs
	gen       int    // data dir generation: wipe moves to a new one
	clientURL url.URL
	peerURL   url.URL
	certFile  string // with TLS, the server's certificate and key
	keyFile   string

	mu sync.Mutex
	e  *embed.Etcd
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newTestEtcd prepares (but does not start) an etcd with its data under
// root; with tlsConf, its client port serves TLS with tlsConf's
// certificate.
func newTestEtcd(root string, tlsConf *tls.Config) (*testEtcd, error) {
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	te := &testEtcd{
		root:      root,
		clientURL: url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(cp)},
		peerURL:   url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(pp)},
	}
	if tlsConf != nil {
		if err := te.writeTLS(tlsConf); err != nil {
			return nil, err
		}
		te.clientURL.Scheme = "https"
	}
	return te, nil
}

func (te *testEtcd) writeTLS(c *tls.Config) error {
	if len(c.Certificates) == 0 {
		return errors.New("tls config without a certificate")
	}
	cert := c.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	te.certFile = filepath.Join(te.root, "server.crt")
	te.keyFile = filepath.Join(te.root, "server.key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(te.certFile, certPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(te.keyFile, keyPEM, 0o600)
}

// addr is the client address, host:port.
func (te *testEtcd) addr() string { return te.clientURL.Host }

func (te *testEtcd) dataDir() string {
	return filepath.Join(te.root, "data"+strconv.Itoa(te.gen))
}

// start starts etcd and waits until it serves.
func (te *testEtcd) start() error {
	te.mu.Lock()
	defer te.mu.Unlock()
	if te.e != nil {
		return errors.New("etcd already running")
	}
	cfg := embed.NewConfig()
	cfg.Name = "micro-test"
	cfg.Dir = te.dataDir()
	cfg.ListenClientUrls = []url.URL{te.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{te.clientURL}
	cfg.ListenPeerUrls = []url.URL{te.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{te.peerURL}
	cfg.InitialCluster = cfg.Name + "=" + te.peerURL.String()
	// Quiet: etcd logs every shutdown as errors ("server closed"); a
	// failed start still surfaces through StartEtcd and Err.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// A faster election than the default; it also lowers etcd's minimum
	// lease TTL to 1s (1.5 election timeouts, rounded up).
	cfg.TickMs = 50
	cfg.ElectionMs = 500
	cfg.EnableGRPCGateway = false
	// No fsync: a test's etcd need not survive a power cut, and fsync
	// stalls on a disk shared with busy neighbours.
	cfg.UnsafeNoFsync = true
	// The cheapest password hashing: bcrypt at the default cost takes
	// seconds per authentication under the race detector.
	cfg.BcryptCost = 4
	if te.certFile != "" {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: te.certFile, KeyFile: te.keyFile}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(startupLimit):
		e.Close()
		return fmt.Errorf("embedded etcd not ready after %v", startupLimit)
	}
	te.e = e
	return nil
}

// stop stops etcd, keeping its data; it is a no-op when stopped.
func (te *testEtcd) stop() {
	te.mu.Lock()
	defer te.mu.Unlock()
	if te.e != nil {
		te.e.Close()
		te.e = nil
	}
}

// wipe makes the next start use an empty data dir, as a member that lost
// its disk would.
func (te *testEtcd) wipe() {
	te.mu.Lock()
	defer te.mu.Unlock()
	te.gen++
}

// startEtcd starts an embedded etcd for the test and stops it when the test
// ends.
func startEtcd(t testing.TB, tlsConf *tls.Config) *testEtcd {
	t.Helper()
	te, err := newTestEtcd(t.TempDir(), tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := te.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(te.stop)
	return te
}
