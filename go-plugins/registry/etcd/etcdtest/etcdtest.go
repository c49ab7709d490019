package etcdtest

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

// startupLimit bounds the wait for etcd to serve. It only keeps a broken
// start from hanging the test run; it asserts nothing about speed.
const startupLimit = 2 * time.Minute

// Option configures a Server built by [NewServer], [New] or [Start].
type Option func(*options)

type options struct {
	tls *tls.Config
}

// TLS makes the client port serve TLS with the first certificate of cfg
// (its leaf and private key are written as PEM files beside the data).
// Clients then need a config that trusts it, such as cfg itself when it
// comes from testenv.SelfSignedTLS. Default: plain HTTP.
func TLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// Server is a one-member etcd embedded in the process, on free loopback
// ports, that can be stopped, wiped and started again on the same ports.
type Server struct {
	root      string // holds the data folders and the TLS files
	clientURL url.URL
	peerURL   url.URL
	certFile  string // with TLS, the server's certificate and key
	keyFile   string

	mu  sync.Mutex
	gen int // data folder generation: Wipe moves to a new one
	e   *embed.Etcd
}

// NewServer prepares, without starting, an etcd on free loopback ports
// with its data under dir, which the caller removes when done (after
// [Server.Stop]).
func NewServer(dir string, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	s := &Server{
		root:      dir,
		clientURL: url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[0])},
		peerURL:   url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[1])},
	}
	if o.tls != nil {
		if err := s.writeTLS(o.tls); err != nil {
			return nil, err
		}
		s.clientURL.Scheme = "https"
	}
	return s, nil
}

// New prepares, without starting, an etcd for t on free loopback ports,
// with its data in t's temporary folder; it is stopped when t ends. Use
// it for a test that needs the address before etcd runs; see
// [Server.Start].
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := NewServer(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
		return nil
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts an etcd for t on free loopback ports, with its data in t's
// temporary folder, and waits until it serves; it is stopped when t ends.
// A failure to start fails t.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := New(t, opts...)
	if s == nil {
		return nil
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
		return nil
	}
	return s
}

// Addr returns the client address, 127.0.0.1:port: what registry.Addrs
// and --registry_address take.
func (s *Server) Addr() string { return s.clientURL.Host }

// Endpoints returns the client addresses (one), as registry.Addrs and
// clientv3.Config.Endpoints take them.
func (s *Server) Endpoints() []string { return []string{s.clientURL.Host} }

// Running reports whether etcd runs.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e != nil
}

// Start starts etcd and waits until it serves. It returns an error when
// etcd is running already, fails to start, or does not serve within two
// minutes.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		return errors.New("etcdtest: etcd already running")
	}
	cfg := embed.NewConfig()
	cfg.Name = "micro-test"
	cfg.Dir = filepath.Join(s.root, "data"+strconv.Itoa(s.gen))
	cfg.ListenClientUrls = []url.URL{s.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{s.clientURL}
	cfg.ListenPeerUrls = []url.URL{s.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{s.peerURL}
	cfg.InitialCluster = cfg.Name + "=" + s.peerURL.String()
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
	if s.certFile != "" {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: s.certFile, KeyFile: s.keyFile}
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("etcdtest: starting embedded etcd: %w", err)
	}
	timer := time.NewTimer(startupLimit)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcdtest: embedded etcd failed: %w", err)
	case <-timer.C:
		e.Close()
		return fmt.Errorf("etcdtest: embedded etcd not ready after %v", startupLimit)
	}
	s.e = e
	return nil
}

// Stop stops etcd, keeping its data, and waits until its goroutines and
// listeners are gone. While clients hold streams open (watches), etcd
// first lets them drain for its request timeout (6s with these settings)
// and then cuts them, so Stop may take that long. It is a no-op when etcd
// is not running; the test's end calls it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.e != nil {
		s.e.Close()
		s.e = nil
	}
}

// Wipe makes the next Start use an empty data folder, as a member that
// lost its disk would. Call it while etcd is stopped; a running etcd
// keeps its data until then.
func (s *Server) Wipe() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
}

// writeTLS writes the first certificate of c and its key as PEM files.
func (s *Server) writeTLS(c *tls.Config) error {
	if len(c.Certificates) == 0 || len(c.Certificates[0].Certificate) == 0 {
		return errors.New("etcdtest: TLS config without a certificate")
	}
	cert := c.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("etcdtest: TLS key: %w", err)
	}
	s.certFile = filepath.Join(s.root, "server.crt")
	s.keyFile = filepath.Join(s.root, "server.key")
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(s.certFile, certPEM, 0o600); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	if err := os.WriteFile(s.keyFile, keyPEM, 0o600); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	return nil
}

// freePorts returns n distinct loopback ports nothing listens on right
// now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: finding a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
