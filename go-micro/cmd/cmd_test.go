package cmd_test

import (
	"context"
	"crypto/x509"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/broker"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/registry"
	regmem "github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	"github.com/openmicro/go-micro/transport"
	trmem "github.com/openmicro/go-micro/transport/memory"
)

// setting is one flag and its values: one --flag per value on the command
// line, joined by commas in the environment variable.
type setting struct {
	flag   string
	values []string
}

func one(flag, value string) setting { return setting{flag, []string{value}} }

func (s setting) args() []string {
	var a []string
	for _, v := range s.values {
		a = append(a, "--"+s.flag+"="+v)
	}
	return a
}

func serverOpts(r result) server.Options { return server.NewOptions(r.comps.ServerOptions...) }
func clientOpts(r result) client.Options { return client.NewOptions(r.comps.ClientOptions...) }

func TestFlagsFromArgsAndEnv(t *testing.T) {
	certFile, keyFile := writePEM(t)
	cases := []struct {
		name  string
		set   []setting
		check func(t *testing.T, r result)
	}{
		{"registry", []setting{one("registry", "fake")}, func(t *testing.T, r result) {
			if got := r.comps.Registry.String(); got != "fake" {
				t.Errorf("registry %q, want fake", got)
			}
		}},
		{"registry_address", []setting{one("registry", "fake"), one("registry_address", "10.0.0.1:1, 10.0.0.2:2")}, func(t *testing.T, r result) {
			if got := r.comps.Registry.(*fakeRegistry).opts.Addrs; !slices.Equal(got, []string{"10.0.0.1:1", "10.0.0.2:2"}) {
				t.Errorf("registry addrs %q", got)
			}
		}},
		{"broker", []setting{one("broker", "fake")}, func(t *testing.T, r result) {
			b, ok := r.comps.Broker.(*fakeBroker)
			if !ok {
				t.Fatalf("broker %v, want fake", r.comps.Broker)
			}
			if b.opts.Registry != r.comps.Registry {
				t.Errorf("broker got registry %v, want the service's", b.opts.Registry)
			}
		}},
		{"broker_address", []setting{one("broker", "fake"), one("broker_address", "127.0.0.1:7000")}, func(t *testing.T, r result) {
			if got := r.comps.Broker.(*fakeBroker).opts.Addrs; !slices.Equal(got, []string{"127.0.0.1:7000"}) {
				t.Errorf("broker addrs %q", got)
			}
		}},
		{"transport", []setting{one("transport", "fake")}, func(t *testing.T, r result) {
			if got := r.comps.Transport.String(); got != "fake" {
				t.Errorf("transport %q, want fake", got)
			}
			if got := r.comps.Transport.(*fakeTransport).opts.Logger; got == nil || got != r.comps.Logger {
				t.Errorf("transport logger %v, want Build's %v", got, r.comps.Logger)
			}
		}},
		{"transport_address", []setting{one("transport", "fake"), one("transport_address", "a:1,b:2")}, func(t *testing.T, r result) {
			if got := r.comps.Transport.(*fakeTransport).opts.Addrs; !slices.Equal(got, []string{"a:1", "b:2"}) {
				t.Errorf("transport addrs %q", got)
			}
		}},
		{"selector", []setting{one("selector", "roundrobin")}, func(t *testing.T, r result) {
			if got := r.comps.Selector.String(); got != "roundrobin" {
				t.Errorf("selector %q, want roundrobin", got)
			}
		}},
		{"server_name", []setting{one("server_name", "greeter")}, func(t *testing.T, r result) {
			if got := serverOpts(r).Name; got != "greeter" {
				t.Errorf("name %q", got)
			}
		}},
		{"server_version", []setting{one("server_version", "1.2.3")}, func(t *testing.T, r result) {
			if got := serverOpts(r).Version; got != "1.2.3" {
				t.Errorf("version %q", got)
			}
		}},
		{"server_id", []setting{one("server_id", "node-7")}, func(t *testing.T, r result) {
			if got := serverOpts(r).Id; got != "node-7" {
				t.Errorf("id %q", got)
			}
		}},
		{"server_address", []setting{one("server_address", "127.0.0.1:9090")}, func(t *testing.T, r result) {
			if got := serverOpts(r).Address; got != "127.0.0.1:9090" {
				t.Errorf("address %q", got)
			}
		}},
		{"server_advertise", []setting{one("server_advertise", "10.1.1.1:9090")}, func(t *testing.T, r result) {
			if got := serverOpts(r).Advertise; got != "10.1.1.1:9090" {
				t.Errorf("advertise %q", got)
			}
		}},
		{"server_metadata", []setting{{"server_metadata", []string{"a=1", "b=x=y", "c="}}}, func(t *testing.T, r result) {
			want := map[string]string{"a": "1", "b": "x=y", "c": ""}
			if got := serverOpts(r).Metadata; !maps.Equal(got, want) {
				t.Errorf("metadata %v, want %v", got, want)
			}
		}},
		{"register_ttl seconds", []setting{one("register_ttl", "45")}, func(t *testing.T, r result) {
			if got := serverOpts(r).RegisterTTL; got != 45*time.Second {
				t.Errorf("ttl %v", got)
			}
		}},
		{"register_ttl duration", []setting{one("register_ttl", "2m")}, func(t *testing.T, r result) {
			if got := serverOpts(r).RegisterTTL; got != 2*time.Minute {
				t.Errorf("ttl %v", got)
			}
		}},
		{"register_interval", []setting{one("register_interval", "15")}, func(t *testing.T, r result) {
			if got := serverOpts(r).RegisterInterval; got != 15*time.Second {
				t.Errorf("interval %v", got)
			}
		}},
		{"register_interval duration", []setting{one("register_interval", "1500ms")}, func(t *testing.T, r result) {
			if got := serverOpts(r).RegisterInterval; got != 1500*time.Millisecond {
				t.Errorf("interval %v", got)
			}
		}},
		{"client_retries", []setting{one("client_retries", "4")}, func(t *testing.T, r result) {
			if got := clientOpts(r).Retries; got != 4 {
				t.Errorf("retries %d", got)
			}
		}},
		{"client_retries zero", []setting{one("client_retries", "0")}, func(t *testing.T, r result) {
			if got := clientOpts(r).Retries; got != 0 {
				t.Errorf("retries %d", got)
			}
		}},
		{"client_request_timeout", []setting{one("client_request_timeout", "7s")}, func(t *testing.T, r result) {
			if got := clientOpts(r).RequestTimeout; got != 7*time.Second {
				t.Errorf("timeout %v", got)
			}
		}},
		{"client_request_timeout seconds", []setting{one("client_request_timeout", "3")}, func(t *testing.T, r result) {
			if got := clientOpts(r).RequestTimeout; got != 3*time.Second {
				t.Errorf("timeout %v", got)
			}
		}},
		{"tls", []setting{one("transport", "fake"), one("broker", "fake"), one("enable_tls", "true"),
			one("tls_cert_file", certFile), one("tls_key_file", keyFile)}, func(t *testing.T, r result) {
			tt := r.comps.Transport.(*fakeTransport).opts.TLS
			bt := r.comps.Broker.(*fakeBroker).opts.TLS
			if tt == nil || bt == nil {
				t.Fatalf("TLS config: transport %v, broker %v", tt, bt)
			}
			if len(tt.Certificates) != 1 || len(bt.Certificates) != 1 {
				t.Fatalf("certificates: transport %d, broker %d", len(tt.Certificates), len(bt.Certificates))
			}
			leaf, err := x509.ParseCertificate(tt.Certificates[0].Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: tt.RootCAs, DNSName: "127.0.0.1"}); err != nil {
				t.Errorf("the config does not trust its own certificate: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/args", func(t *testing.T) {
			var args []string
			for _, s := range tc.set {
				args = append(args, s.args()...)
			}
			tc.check(t, mustRun(t, cmd.Components{}, args...))
		})
		t.Run(tc.name+"/env", func(t *testing.T) {
			for _, s := range tc.set {
				t.Setenv(cmd.EnvVar(s.flag), strings.Join(s.values, ","))
			}
			tc.check(t, mustRun(t, cmd.Components{}))
		})
	}
}

func TestDefaults(t *testing.T) {
	r := mustRun(t, cmd.Components{})
	for kind, got := range map[string]string{
		"registry":  r.comps.Registry.String(),
		"broker":    r.comps.Broker.String(),
		"transport": r.comps.Transport.String(),
		"selector":  r.comps.Selector.String(),
	} {
		want := map[string]string{"registry": cmd.DefaultRegistry, "broker": cmd.DefaultBroker,
			"transport": cmd.DefaultTransport, "selector": cmd.DefaultSelector}[kind]
		if got != want {
			t.Errorf("%s = %q, want the default %q", kind, got, want)
		}
	}
	// Unset flags leave the server's and client's own defaults alone, so
	// that values given in code survive.
	so := server.NewOptions(append([]server.Option{server.Name("code"), server.RegisterTTL(time.Hour)},
		r.comps.ServerOptions...)...)
	if so.Name != "code" || so.RegisterTTL != time.Hour || so.Metadata != nil {
		t.Errorf("unset flags changed server options: %+v", so)
	}
	if so.Registry != r.comps.Registry || so.Transport != r.comps.Transport || so.Broker != r.comps.Broker {
		t.Error("server options do not carry the components")
	}
	co := client.NewOptions(append([]client.Option{client.Retries(9)}, r.comps.ClientOptions...)...)
	if co.Retries != 9 || co.RequestTimeout != client.DefaultRequestTimeout {
		t.Errorf("unset flags changed client options: retries %d timeout %v", co.Retries, co.RequestTimeout)
	}
	if co.Selector != r.comps.Selector || co.Transport != r.comps.Transport || co.Broker != r.comps.Broker {
		t.Error("client options do not carry the components")
	}
	if r.logs != "" {
		t.Errorf("unexpected log output: %s", r.logs)
	}
}

// Without flags the registry is the client of `micro server`'s registry
// at its default address; --registry_address points it elsewhere, and
// --registry=memory keeps a service within its process.
func TestDefaultRegistry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		impl  string
		addrs []string
	}{
		{"default", nil, "micro", []string{micro.DefaultAddress}},
		{"address", []string{"--registry_address=10.0.0.1:8000"}, "micro", []string{"10.0.0.1:8000"}},
		{"memory", []string{"--registry=memory"}, "memory", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, cmd.Components{}, tc.args...)
			if got := r.comps.Registry.String(); got != tc.impl {
				t.Fatalf("registry %q, want %q", got, tc.impl)
			}
			if tc.addrs == nil {
				return
			}
			o := r.comps.Registry.(interface{ Options() registry.Options }).Options()
			if !slices.Equal(o.Addrs, tc.addrs) {
				t.Errorf("registry addresses %q, want %q", o.Addrs, tc.addrs)
			}
		})
	}
}

// An empty environment variable counts as unset.
func TestEmptyEnv(t *testing.T) {
	for _, f := range []string{"registry", "broker", "transport", "selector", "register_ttl", "client_request_timeout", "server_name"} {
		t.Setenv(cmd.EnvVar(f), "")
	}
	r := mustRun(t, cmd.Components{})
	if r.comps.Registry.String() != cmd.DefaultRegistry || r.comps.Selector.String() != cmd.DefaultSelector {
		t.Errorf("empty variables changed the implementations: %s, %s", r.comps.Registry, r.comps.Selector)
	}
	if so := serverOpts(r); so.Name != server.DefaultName || so.RegisterTTL != server.DefaultRegisterTTL {
		t.Errorf("empty variables changed server options: %q %v", so.Name, so.RegisterTTL)
	}
}

func TestArgBeatsEnv(t *testing.T) {
	t.Setenv(cmd.EnvVar("registry"), "no-such-registry")
	t.Setenv(cmd.EnvVar("server_name"), "from-env")
	r := mustRun(t, cmd.Components{}, "--registry=fake", "--server_name=from-arg")
	if r.comps.Registry.String() != "fake" {
		t.Errorf("registry %q, want the argument's fake", r.comps.Registry)
	}
	if got := serverOpts(r).Name; got != "from-arg" {
		t.Errorf("name %q, want from-arg", got)
	}
}

// Flags set at run time win over scalar values given in code, and merge
// into the metadata given in code.
func TestFlagsOverrideCodeValues(t *testing.T) {
	r := mustRun(t, cmd.Components{}, "--server_name=flag", "--server_metadata=b=flag", "--server_metadata=c=3")
	code := map[string]string{"a": "1", "b": "code"}
	so := server.NewOptions(append([]server.Option{server.Name("code"), server.Metadata(code)}, r.comps.ServerOptions...)...)
	if so.Name != "flag" {
		t.Errorf("name %q, want the flag's", so.Name)
	}
	if want := map[string]string{"a": "1", "b": "flag", "c": "3"}; !maps.Equal(so.Metadata, want) {
		t.Errorf("metadata %v, want %v", so.Metadata, want)
	}
	if code["b"] != "code" || len(code) != 2 {
		t.Errorf("the metadata map given in code was changed: %v", code)
	}
}

func TestInstanceBeatsFlag(t *testing.T) {
	reg := regmem.New()
	tr, err := trmem.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	br := &fakeBroker{Broker: nil}
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sel.Close() })
	have := cmd.Components{Registry: reg, Transport: tr, Broker: br, Selector: sel}

	t.Run("same names, no warning", func(t *testing.T) {
		r := mustRun(t, have)
		if r.comps.Registry != reg || r.comps.Transport != tr || r.comps.Broker != br || r.comps.Selector != sel {
			t.Fatal("Build did not keep the instances given in code")
		}
		if r.logs != "" {
			t.Errorf("unexpected warnings: %s", r.logs)
		}
	})
	cases := []struct {
		name string
		args []string
		env  map[string]string
		warn string
	}{
		{"registry by flag", []string{"--registry=fake"}, nil, "--registry"},
		{"registry by env", nil, map[string]string{"MICRO_REGISTRY": "fake"}, "--registry"},
		{"transport", []string{"--transport=fake"}, nil, "--transport"},
		{"broker", []string{"--broker=memory"}, nil, "--broker"},
		{"selector", []string{"--selector=hash"}, nil, "--selector"},
		{"registry address", []string{"--registry_address=x:1"}, nil, "--registry_address"},
		{"unknown name", []string{"--registry=no-such"}, nil, "--registry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := mustRun(t, have, tc.args...)
			if r.comps.Registry != reg || r.comps.Transport != tr || r.comps.Broker != br || r.comps.Selector != sel {
				t.Fatal("Build did not keep the instances given in code")
			}
			if !strings.Contains(r.logs, "level=WARN") || !strings.Contains(r.logs, tc.warn) {
				t.Errorf("want a warning naming %s, got logs: %q", tc.warn, r.logs)
			}
		})
	}
	t.Run("tls", func(t *testing.T) {
		certFile, keyFile := writePEM(t)
		r := mustRun(t, have, "--enable_tls", "--tls_cert_file="+certFile, "--tls_key_file="+keyFile)
		if r.comps.Transport != tr || !strings.Contains(r.logs, "enable_tls") {
			t.Errorf("want the transport kept and a TLS warning, got logs %q", r.logs)
		}
	})

	// Close releases only what Build built: the instances stay usable.
	r := mustRun(t, have)
	if err := r.comps.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("the transport given in code was closed: %v", err)
	}
	_ = l.Close()
	if _, err := sel.Select(t.Context(), "x"); errors.Is(err, selector.ErrClosed) {
		t.Fatal("the selector given in code was closed")
	}
}

func TestUnknownNames(t *testing.T) {
	for _, kind := range []struct{ flag, registered string }{
		{"registry", "fake, memory, micro"},
		{"broker", "fake, http"},
		{"transport", "fake, http"},
		{"selector", "hash, random, roundrobin"},
	} {
		t.Run(kind.flag, func(t *testing.T) {
			r := run(t, cmd.Components{}, "--"+kind.flag+"=nope")
			var fe *cmd.FlagError
			if !errors.As(r.err, &fe) || fe.Flag != kind.flag || fe.Value != "nope" {
				t.Fatalf("want a FlagError for --%s, got %v", kind.flag, r.err)
			}
			msg := r.err.Error()
			for _, want := range []string{kind.registered, `"nope"`, cmd.EnvVar(kind.flag), "forgotten import"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if r.comps.Registry != nil || r.comps.Transport != nil {
				t.Error("a failed Build returned components")
			}
		})
	}
}

// A failed Build releases what it built before the failure.
func TestFailedBuildReleases(t *testing.T) {
	r := run(t, cmd.Components{}, "--registry=recorder", "--transport=fake", "--broker=nope")
	if r.err == nil {
		t.Fatal("want an error for --broker=nope")
	}
	reg := lastRecorder(t)
	if !reg.isClosed() {
		t.Error("the registry built before the failure was not closed")
	}
}

func TestBadValues(t *testing.T) {
	certFile, keyFile := writePEM(t)
	garbage := t.TempDir() + "/garbage.pem"
	writeFile(t, garbage, "not a pem")
	cases := []struct {
		name     string
		set      []setting
		flag     string // the FlagError's flag; "" when urfave rejects the value
		mentions string
	}{
		{"negative retries", []setting{one("client_retries", "-1")}, "client_retries", "0 or more"},
		{"retries not a number", []setting{one("client_retries", "three")}, "client_retries", "whole number"},
		{"ttl not a duration", []setting{one("register_ttl", "soon")}, "register_ttl", "duration"},
		{"ttl float seconds", []setting{one("register_ttl", "1.5")}, "register_ttl", "duration"},
		{"ttl zero", []setting{one("register_ttl", "0")}, "register_ttl", "positive"},
		{"ttl negative", []setting{one("register_ttl", "-5s")}, "register_ttl", "positive"},
		{"ttl overflow", []setting{one("register_ttl", "99999999999999999")}, "register_ttl", "range"},
		{"interval not shorter than ttl", []setting{one("register_ttl", "30s"), one("register_interval", "30")}, "register_interval", "shorter"},
		{"timeout bad", []setting{one("client_request_timeout", "5 seconds")}, "client_request_timeout", "duration"},
		{"metadata without =", []setting{one("server_metadata", "novalue")}, "server_metadata", "key=value"},
		{"metadata without key", []setting{one("server_metadata", "=v")}, "server_metadata", "key=value"},
		{"tls without files", []setting{one("enable_tls", "true")}, "enable_tls", "tls_cert_file"},
		{"tls without key", []setting{one("enable_tls", "true"), one("tls_cert_file", certFile)}, "enable_tls", "tls_key_file"},
		{"tls files without enable", []setting{one("tls_cert_file", certFile), one("tls_key_file", keyFile)}, "tls_cert_file", "enable_tls"},
		{"tls missing file", []setting{one("enable_tls", "true"), one("tls_cert_file", certFile+".missing"), one("tls_key_file", keyFile)}, "tls_cert_file", "no such file"},
		{"tls garbage file", []setting{one("enable_tls", "true"), one("tls_cert_file", garbage), one("tls_key_file", keyFile)}, "tls_cert_file", "garbage.pem"},
		{"tls key of another cert", []setting{one("enable_tls", "true"), one("tls_cert_file", certFile), one("tls_key_file", otherKey(t))}, "tls_cert_file", "key"},
		{"enable_tls not a bool", []setting{one("enable_tls", "maybe")}, "", "enable_tls"},
	}
	for _, tc := range cases {
		for _, via := range []string{"args", "env"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				var args []string
				for _, s := range tc.set {
					if via == "args" {
						args = append(args, s.args()...)
					} else {
						t.Setenv(cmd.EnvVar(s.flag), strings.Join(s.values, ","))
					}
				}
				r := run(t, cmd.Components{}, args...)
				if r.err == nil {
					t.Fatal("want an error")
				}
				if tc.flag != "" {
					var fe *cmd.FlagError
					if !errors.As(r.err, &fe) || fe.Flag != tc.flag {
						t.Fatalf("want a FlagError for --%s, got %v", tc.flag, r.err)
					}
					if !strings.Contains(r.err.Error(), cmd.EnvVar(tc.flag)) {
						t.Errorf("error %q does not name the variable", r.err)
					}
				} else if r.built {
					t.Fatal("Build ran although parsing should have failed")
				}
				if !strings.Contains(r.err.Error(), tc.mentions) {
					t.Errorf("error %q does not mention %q", r.err, tc.mentions)
				}
				if r.comps.Registry != nil {
					t.Error("a failed Build returned components")
				}
			})
		}
	}
}

func TestHelp(t *testing.T) {
	r := run(t, cmd.Components{}, "--help")
	if r.err != nil || r.built {
		t.Fatalf("--help: err %v, built %v", r.err, r.built)
	}
	for _, f := range cmd.Flags() {
		name := f.Names()[0]
		for _, want := range []string{"--" + name, "$" + cmd.EnvVar(name)} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("help does not show %q", want)
			}
		}
	}
	for _, want := range []string{
		"registered: fake, memory", "registered: fake, http", "registered: hash, random, roundrobin",
		`(default: "micro")`, `(default: "http")`, `(default: "random")`,
		"(default: " + server.DefaultRegisterTTL.String() + ")",
		"(default: " + server.DefaultRegisterInterval.String() + ")",
		"(default: 1)", "(default: " + client.DefaultRequestTimeout.String() + ")",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help does not show %q", want)
		}
	}
	if t.Failed() {
		t.Logf("help:\n%s", r.stdout)
	}
}

func TestFlagsAreFresh(t *testing.T) {
	a, b := cmd.Flags(), cmd.Flags()
	if len(a) != 20 {
		t.Errorf("%d flags, want the 20 of the design", len(a))
	}
	for i := range a {
		if a[i] == b[i] {
			t.Errorf("flag %s is shared between calls", a[i].Names()[0])
		}
	}
}

// TLS from the flags secures the default http transport end to end.
func TestTLSTransport(t *testing.T) {
	certFile, keyFile := writePEM(t)
	r := mustRun(t, cmd.Components{}, "--enable_tls", "--tls_cert_file", certFile, "--tls_key_file", keyFile)
	tr := r.comps.Transport
	l, err := tr.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.Accept(func(s transport.Socket) {
			defer s.Close()
			var m transport.Message
			if err := s.Recv(t.Context(), &m); err != nil {
				return
			}
			_ = s.Send(t.Context(), &transport.Message{Body: append([]byte("echo "), m.Body...)})
			close(accepted)
		})
	}()
	t.Cleanup(func() {
		_ = l.Close()
		if err := testenv.Recv(t, "Accept to return", done); err != nil {
			t.Errorf("Accept: %v", err)
		}
	})
	s, err := tr.Dial(t.Context(), l.Addr())
	if err != nil {
		t.Fatalf("dial over TLS: %v", err)
	}
	defer s.Close()
	if err := s.Send(t.Context(), &transport.Message{Body: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	var m transport.Message
	if err := s.Recv(t.Context(), &m); err != nil {
		t.Fatalf("recv over TLS: %v", err)
	}
	if string(m.Body) != "echo hi" {
		t.Fatalf("got %q", m.Body)
	}
	testenv.Wait(t, "the handler", accepted)

	// A plain client cannot talk to the TLS listener.
	plain, err := transport.Open("http")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ctx, cancel := context.WithTimeout(t.Context(), testenv.Patience)
	defer cancel()
	ps, err := plain.Dial(ctx, l.Addr())
	if err == nil {
		err = ps.Send(ctx, &transport.Message{Body: []byte("x")})
		if err == nil {
			err = ps.Recv(ctx, &m)
		}
		_ = ps.Close()
	}
	if err == nil {
		t.Fatal("a plain client talked to the TLS listener")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30": 30 * time.Second, " 5 ": 5 * time.Second, "0": 0, "-3": -3 * time.Second,
		"30s": 30 * time.Second, "1m30s": 90 * time.Second, "250ms": 250 * time.Millisecond,
	} {
		got, err := cmd.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "1.5", "30 s", "9223372036854775807"} {
		if _, err := cmd.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30", "30s", "-1", "1h2m3s", "1.5", "", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := cmd.ParseDuration(s)
		if err != nil && d != 0 {
			t.Errorf("ParseDuration(%q) returned %v with an error", s, d)
		}
	})
}

var _ broker.Broker = (*fakeBroker)(nil)

// FuzzMetadataFlag feeds --server_metadata values through the App: Build
// either refuses them with a FlagError or yields metadata with non-empty
// keys.
func FuzzMetadataFlag(f *testing.F) {
	for _, s := range []string{"a=1", "=", "a", "a==b", " k = v ", "a=1,b=2", ",", "é=ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := run(t, cmd.Components{Registry: regmem.New()}, "--transport=fake", "--broker=fake", "--server_metadata="+s)
		if r.err != nil {
			var fe *cmd.FlagError
			if r.built && !errors.As(r.err, &fe) {
				t.Fatalf("%q: error is not a FlagError: %v", s, r.err)
			}
			return
		}
		for k := range serverOpts(r).Metadata {
			if k == "" {
				t.Fatalf("%q: empty key accepted", s)
			}
		}
	})
}
