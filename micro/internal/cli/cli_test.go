package cli

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/openmicro/go-micro/broker"
	brokermemory "github.com/openmicro/go-micro/broker/memory"
	"github.com/openmicro/go-micro/cmd"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/registry/memory"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/server"
	"github.com/openmicro/go-micro/testenv"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// HelloRequest and HelloResponse are the messages of the test service.
type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg      string `json:"msg"`
	Greeting string `json:"greeting,omitempty"`
}

// Say is the test service's handler.
type Say struct{}

// Hello greets; the "Greeting" metadata, when sent, is echoed.
func (s *Say) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if req.Name == "" {
		return errors.BadRequest("greeter", "name is required")
	}
	rsp.Msg = "Hello " + req.Name
	rsp.Greeting, _ = metadata.Get(ctx, "Greeting")
	return nil
}

// Stream sends three greetings for the request's name.
func (s *Say) Stream(ctx context.Context, stream server.Stream) error {
	var req HelloRequest
	if err := stream.Recv(&req); err != nil {
		return err
	}
	for i := range 3 {
		if err := stream.Send(&HelloResponse{Msg: fmt.Sprintf("Hello %s %d", req.Name, i+1)}); err != nil {
			return err
		}
	}
	return nil
}

// Broken sends two greetings and then fails.
func (s *Say) Broken(ctx context.Context, stream server.Stream) error {
	var req HelloRequest
	if err := stream.Recv(&req); err != nil {
		return err
	}
	for i := range 2 {
		if err := stream.Send(&HelloResponse{Msg: fmt.Sprintf("Hello %s %d", req.Name, i+1)}); err != nil {
			return err
		}
	}
	return errors.InternalServerError("greeter", "the greeting machine broke")
}

// Endless sends one greeting and then holds the stream open until the
// client goes away.
func (s *Say) Endless(ctx context.Context, stream server.Stream) error {
	var req HelloRequest
	if err := stream.Recv(&req); err != nil {
		return err
	}
	if err := stream.Send(&HelloResponse{Msg: "Hello " + req.Name}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// fixture is a greeter served in the test process, registered in a
// memory registry that the commands are given, with a memory broker.
type fixture struct {
	reg  registry.Registry
	bus  *brokermemory.Bus
	addr string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg := memory.New()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	srv, err := server.New(server.Name("greeter"), server.Version("1.0.0"),
		server.Registry(reg), server.Transport(tr), server.Address("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle(srv.NewHandler(new(Say))); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.Patience)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	return &fixture{reg: reg, bus: brokermemory.NewBus(), addr: srv.Options().Address}
}

// result is what one run of Main gave.
type result struct {
	code           int
	stdout, stderr string
}

// run runs micro with args against the fixture's registry and broker.
func (f *fixture) run(t *testing.T, args ...string) result {
	t.Helper()
	return runMain(t, []Option{Components(cmd.Components{Registry: f.reg, Broker: f.bus.NewBroker()})}, args...)
}

func runMain(t *testing.T, opts []Option, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*testenv.Patience)
	defer cancel()
	code := Main(ctx, append([]string{"micro"}, args...), &stdout, &stderr, opts...)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func TestCommands(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings of stdout
		stderr []string // substrings of stderr
	}{
		{name: "list", args: []string{"list", "services"}, stdout: []string{"NAME", "VERSION", "greeter", "1.0.0"}},
		{name: "get", args: []string{"get", "service", "greeter"},
			stdout: []string{"service  greeter", "version  1.0.0", f.addr, "endpoint Say.Hello", "cli.HelloRequest {", "name string", "endpoint Say.Stream  (stream=true)"}},
		{name: "get unknown", args: []string{"get", "service", "nope"}, code: ExitFailure, stderr: []string{"service not found: nope"}},
		{name: "call", args: []string{"call", "greeter", "Say.Hello", `{"name": "Ann"}`}, stdout: []string{`"msg": "Hello Ann"`}},
		{name: "query alias", args: []string{"query", "greeter", "Say.Hello", `{"name": "Bo"}`}, stdout: []string{`"msg": "Hello Bo"`}},
		{name: "call metadata", args: []string{"call", "--metadata", "Greeting=hi,there", "greeter", "Say.Hello", `{"name": "Ann"}`},
			stdout: []string{`"greeting": "hi,there"`}},
		{name: "call flags after args", args: []string{"call", "greeter", "Say.Hello", `{"name": "Ann"}`, "-m", "Greeting=yo", "--output", "json"},
			stdout: []string{`{"msg":"Hello Ann","greeting":"yo"}`}},
		{name: "call address", args: []string{"call", "--address", f.addr, "greeter", "Say.Hello", `{"name": "Cy"}`}, stdout: []string{"Hello Cy"}},
		{name: "call service error", args: []string{"call", "greeter", "Say.Hello", `{}`}, code: ExitFailure,
			stderr: []string{"call greeter Say.Hello: name is required (400 Bad Request from greeter)"}},
		{name: "call unknown service", args: []string{"call", "nope", "Say.Hello", `{}`}, code: ExitFailure, stderr: []string{"service not found: nope"}},
		{name: "call malformed", args: []string{"call", "greeter", "Say.Hello", `{"name": `}, code: ExitUsage, stderr: []string{"malformed JSON"}},
		{name: "call two values", args: []string{"call", "greeter", "Say.Hello", `{} {}`}, code: ExitUsage,
			stderr: []string{"malformed JSON: invalid character '{' after the value (at offset 3)"}},
		{name: "call trailing garbage", args: []string{"call", "greeter", "Say.Hello", "{\"name\": \"Ann\"}\n garbage"}, code: ExitUsage,
			stderr: []string{"malformed JSON: invalid character 'g' after the value (at offset 17)"}},
		{name: "call syntax error", args: []string{"call", "greeter", "Say.Hello", `{"a":1,}`}, code: ExitUsage,
			stderr: []string{"malformed JSON: invalid character '}' looking for beginning of object key string (at offset 7)"}},
		{name: "call missing endpoint", args: []string{"call", "greeter"}, code: ExitUsage, stderr: []string{"missing ENDPOINT", "usage: micro call"}},
		{name: "call invalid utf-8", args: []string{"call", "greeter", "Say.Hello", "{\"name\": \"\xff\"}"}, code: ExitUsage,
			stderr: []string{"malformed JSON: invalid UTF-8 (at offset 10)"}},
		{name: "call flag without its value", args: []string{"call", "greeter", "Say.Hello", "--output"}, code: ExitUsage,
			stderr: []string{"flag needs an argument: -output", "usage: micro call"}},
		{name: "call empty service", args: []string{"call", "", "Say.Hello"}, code: ExitUsage, stderr: []string{"SERVICE is empty", "usage: micro call"}},
		{name: "call empty endpoint", args: []string{"call", "greeter", " "}, code: ExitUsage, stderr: []string{"ENDPOINT is empty"}},
		{name: "get empty name", args: []string{"get", "service", ""}, code: ExitUsage, stderr: []string{"NAME is empty"}},
		{name: "publish empty topic", args: []string{"publish", "", "{}"}, code: ExitUsage, stderr: []string{"TOPIC is empty"}},
		{name: "server bad address", args: []string{"server", "--address", "nonsense"}, code: ExitUsage,
			stderr: []string{`--address "nonsense": want host:port`, "usage: micro server"}},
		{name: "call bad metadata", args: []string{"call", "--metadata", "novalue", "greeter", "Say.Hello"}, code: ExitUsage, stderr: []string{"want key=value"}},
		{name: "stream", args: []string{"stream", "greeter", "Say.Stream", `{"name": "Di"}`},
			stdout: []string{`{"msg":"Hello Di 1"}` + "\n" + `{"msg":"Hello Di 2"}` + "\n" + `{"msg":"Hello Di 3"}` + "\n"}},
		{name: "health", args: []string{"health", "greeter"}, stdout: []string{"STATUS", f.addr, "ok"}},
		{name: "stats", args: []string{"stats", "greeter"}, stdout: []string{"UPTIME", "GOROUTINES", f.addr}},
		{name: "unknown command", args: []string{"frobnicate"}, code: ExitUsage, stderr: []string{`unknown command "frobnicate"`, "usage: micro"}},
		{name: "unknown subcommand", args: []string{"list", "nodes"}, code: ExitUsage, stderr: []string{`micro list: unknown command "nodes"`}},
		{name: "group alone", args: []string{"get"}, code: ExitUsage, stderr: []string{"micro get: a command is needed", "service"}},
		{name: "unknown flag", args: []string{"list", "services", "--bogus"}, code: ExitUsage, stderr: []string{"flag provided but not defined: -bogus"}},
		{name: "unknown global flag", args: []string{"--bogus", "list", "services"}, code: ExitUsage, stderr: []string{"flag provided but not defined: -bogus"}},
		{name: "bad output", args: []string{"list", "services", "-o", "yaml"}, code: ExitUsage, stderr: []string{`--output "yaml": want table or json`}},
		{name: "bad global value", args: []string{"--transport", "nope", "list", "services"}, code: ExitUsage, stderr: []string{"--transport (MICRO_TRANSPORT)", "registered"}},
		{name: "extra argument", args: []string{"health", "greeter", "more"}, code: ExitUsage, stderr: []string{`unexpected argument "more"`}},
		{name: "help", args: []string{"--help"}, stdout: []string{"micro - run, observe and operate microservices", "list", "VERSION:\n   " + Version}},
		{name: "command help", args: []string{"call", "--help"}, stdout: []string{"--metadata", "--address", "SERVICE ENDPOINT [JSON]"}},
		{name: "version", args: []string{"--version"}, stdout: []string{Version}},
		{name: "help command", args: []string{"help"}, stdout: []string{"micro - run, observe and operate microservices"}},
		{name: "help of a command", args: []string{"help", "call"}, stdout: []string{"micro call - call an endpoint", "--metadata"}},
		{name: "help of a subcommand", args: []string{"help", "get", "service"}, stdout: []string{"micro get service - show a service"}},
		{name: "help of nothing", args: []string{"help", "nope"}, code: ExitUsage, stderr: []string{`unknown command "nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.run(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tt.code, r)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q\n%v", want, r)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q\n%v", want, r)
				}
			}
			if tt.code == ExitOK && r.stderr != "" {
				t.Errorf("a command that worked wrote to stderr\n%v", r)
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	f := newFixture(t)

	var list []registry.Service
	decode(t, f.run(t, "list", "services", "--output", "json"), &list)
	if len(list) != 1 || list[0].Name != "greeter" || list[0].Version != "1.0.0" {
		t.Errorf("list services: %+v", list)
	}

	var svcs []registry.Service
	decode(t, f.run(t, "get", "service", "greeter", "-o", "json"), &svcs)
	if len(svcs) != 1 || len(svcs[0].Nodes) != 1 || svcs[0].Nodes[0].Address != f.addr {
		t.Fatalf("get service: %+v", svcs)
	}
	var hello *registry.Endpoint
	for _, ep := range svcs[0].Endpoints {
		if ep.Name == "Say.Hello" {
			hello = ep
		}
	}
	if hello == nil || hello.Request == nil || len(hello.Request.Values) != 1 || hello.Request.Values[0].Name != "name" {
		t.Errorf("get service: Say.Hello's request shape: %+v", hello)
	}

	var health []healthRow
	decode(t, f.run(t, "health", "greeter", "--output", "json"), &health)
	if len(health) != 1 || health[0].Status != "ok" || health[0].Address != f.addr {
		t.Errorf("health: %+v", health)
	}

	var stats []nodeResult[server.StatsResponse]
	decode(t, f.run(t, "stats", "greeter", "--output", "json"), &stats)
	if len(stats) != 1 || stats[0].Result == nil || stats[0].Result.Started == 0 || stats[0].Result.Requests == 0 {
		t.Errorf("stats: %+v", stats)
	}

	var rsp HelloResponse
	decode(t, f.run(t, "call", "-o", "json", "greeter", "Say.Hello", `{"name":"Ed"}`), &rsp)
	if rsp.Msg != "Hello Ed" {
		t.Errorf("call: %+v", rsp)
	}

	// Text is printed as it is, not HTML-escaped.
	if err := f.reg.Register(t.Context(), &registry.Service{Name: "html", Nodes: []*registry.Node{
		{Id: "h-1", Address: "127.0.0.1:1", Metadata: map[string]string{"expr": "a<b && c>d"}},
	}}); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "get", "service", "html", "-o", "json"); r.code != ExitOK || !strings.Contains(r.stdout, `"expr": "a<b && c>d"`) {
		t.Errorf("get service html -o json:\n%v", r)
	}

	r := f.run(t, "stream", "--output", "json", "greeter", "Say.Stream", `{"name":"Fa"}`)
	dec := stdjson.NewDecoder(strings.NewReader(r.stdout))
	for i := range 3 {
		var msg HelloResponse
		if err := dec.Decode(&msg); err != nil || msg.Msg != fmt.Sprintf("Hello Fa %d", i+1) {
			t.Fatalf("stream message %d: %+v, %v\n%v", i+1, msg, err, r)
		}
	}
}

func decode(t *testing.T, r result, v any) {
	t.Helper()
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if err := stdjson.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%v", err, r)
	}
}

func TestRegisterDeregister(t *testing.T) {
	f := newFixture(t)
	legacy := `{"name":"legacy","version":"2","metadata":{"team":"a"},"nodes":[{"id":"legacy-1","address":"127.0.0.1:1","metadata":{"zone":"z"}}]}`
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "register", args: []string{"register", "service", legacy}, stdout: "registered legacy 2 (1 node)"},
		{name: "register with ttl", args: []string{"register", "service", "--ttl", "1h", legacy}, stdout: "registered legacy 2 (1 node)"},
		{name: "malformed", args: []string{"register", "service", `{"name":`}, code: ExitUsage, stderr: "malformed JSON"},
		{name: "unknown field", args: []string{"register", "service", `{"name":"x","nodez":[]}`}, code: ExitUsage, stderr: `unknown field "nodez"`},
		{name: "no nodes", args: []string{"register", "service", `{"name":"x"}`}, code: ExitUsage, stderr: "has no nodes"},
		{name: "wrong type", args: []string{"register", "service", `{"name":1}`}, code: ExitUsage, stderr: "does not describe a service"},
		{name: "bad ttl", args: []string{"register", "service", "--ttl", "soon", legacy}, code: ExitUsage, stderr: `--ttl "soon"`},
		{name: "missing json", args: []string{"deregister", "service"}, code: ExitUsage, stderr: "missing JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Fatalf("want exit %d, stdout with %q, stderr with %q; got\n%v", tt.code, tt.stdout, tt.stderr, r)
			}
		})
	}

	r := f.run(t, "get", "service", "legacy")
	for _, want := range []string{"version  2", "metadata team=a", "legacy-1", "127.0.0.1:1", "zone=z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get service legacy lacks %q\n%v", want, r)
		}
	}
	// The node does not answer: health says so and fails.
	r = f.run(t, "health", "legacy")
	if r.code != ExitFailure || !strings.Contains(r.stdout, "unreachable") || !strings.Contains(r.stderr, "1 of 1 nodes unhealthy or unreachable") {
		t.Errorf("health of a dead node:\n%v", r)
	}
	r = f.run(t, "stats", "legacy")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "1 of 1 nodes did not answer") {
		t.Errorf("stats of a dead node:\n%v", r)
	}

	r = f.run(t, "deregister", "service", `{"name":"legacy","version":"2","nodes":[{"id":"legacy-1"}]}`)
	if r.code != ExitOK || !strings.Contains(r.stdout, "deregistered legacy 2 (1 node)") {
		t.Fatalf("deregister:\n%v", r)
	}
	if r := f.run(t, "get", "service", "legacy"); r.code != ExitFailure || !strings.Contains(r.stderr, "service not found: legacy") {
		t.Errorf("get service after deregister:\n%v", r)
	}
}

func TestPublish(t *testing.T) {
	f := newFixture(t)
	sub := f.bus.NewBroker()
	if err := sub.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(context.Background()) })
	got := make(chan *broker.Message, 1)
	if _, err := sub.Subscribe(t.Context(), "events", func(_ context.Context, e broker.Event) error {
		got <- e.Message()
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	r := f.run(t, "publish", "-m", "Who=test", "events", `{"say": "hi"}`)
	if r.code != ExitOK || !strings.Contains(r.stdout, "published to events") {
		t.Fatalf("publish:\n%v", r)
	}
	msg := testenv.Recv(t, "the published event", got)
	if strings.TrimSpace(string(msg.Body)) != `{"say": "hi"}` || msg.Header["Content-Type"] != "application/json" || msg.Header["Who"] != "test" {
		t.Errorf("event: header %v body %s", msg.Header, msg.Body)
	}

	for _, args := range [][]string{{"publish", "events"}, {"publish", "events", "{"}} {
		if r := f.run(t, args...); r.code != ExitUsage {
			t.Errorf("micro %v: want exit %d\n%v", args, ExitUsage, r)
		}
	}
}

// TestRegistryUnreachable runs the commands against the micro registry
// at an address where nothing listens: one line names the address and
// says to start micro server.
func TestRegistryUnreachable(t *testing.T) {
	addr := closedAddr(t)
	for _, args := range [][]string{
		{"list", "services"},
		{"get", "service", "greeter"},
		{"call", "greeter", "Say.Hello", "{}"},
		{"stream", "greeter", "Say.Stream", "{}"},
		{"health", "greeter"},
		{"stats", "greeter"},
		{"register", "service", `{"name":"x","nodes":[{"id":"x-1","address":"127.0.0.1:1"}]}`},
		{"deregister", "service", `{"name":"x","nodes":[{"id":"x-1"}]}`},
		{"publish", "topic", "{}"},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := runMain(t, nil, append([]string{"--registry", "micro", "--registry_address", addr}, args...)...)
			if r.code != ExitFailure {
				t.Fatalf("want exit %d\n%v", ExitFailure, r)
			}
			want := "micro: cannot reach the registry at " + addr + ": nothing answers there; start it with `micro server --address " + addr + "`"
			if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("stderr is not the one line %q...\n%v", want, r)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestReorder(t *testing.T) {
	app := newApp(io.Discard, io.Discard, &options{})
	tests := []struct {
		in, want string
	}{
		{"micro get service greeter --output json", "micro get service --output json greeter"},
		{"micro get service greeter -o=json", "micro get service -o=json greeter"},
		{"micro --registry etcd get service greeter -o json", "micro --registry etcd get service -o json greeter"},
		{"micro --enable_tls list services -o json", "micro --enable_tls list services -o json"},
		{"micro call greeter Say.Hello {} -m a=b --address x:1", "micro call -m a=b --address x:1 greeter Say.Hello {}"},
		{"micro call greeter Say.Hello -- -m", "micro call greeter Say.Hello -- -m"},
		{"micro call greeter Say.Hello --unknown", "micro call greeter Say.Hello --unknown"},
		{"micro query greeter X --help", "micro query --help greeter X"},
		{"micro nope a -o json", "micro nope a -o json"},
		{"micro call greeter X -o", "micro call -o"},
		{"micro get service greeter --output", "micro get service --output"},
		{"micro call greeter X -o=", "micro call -o= greeter X"},
		{"micro", "micro"},
	}
	for _, tt := range tests {
		got := strings.Join(reorder(app, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("reorder(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestInterrupted(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"micro", "list", "services"}, &stdout, &stderr,
		Components(cmd.Components{Registry: f.reg}))
	if code != ExitInterrupted {
		t.Errorf("exit %d, want %d; stderr %s", code, ExitInterrupted, stderr.String())
	}
}

func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[1,2]`, `{`, `{} {}`, `"x"`, ``, `nul`, "\x00"} {
		f.Add(s)
	}
	f.Add("{\"a\": \"\xff\"}")
	f.Fuzz(func(t *testing.T, s string) {
		err := checkJSON(s)
		if valid := stdjson.Valid([]byte(s)) && utf8.ValidString(s); valid != (err == nil) {
			t.Fatalf("checkJSON(%q) = %v, but json.Valid and utf8.ValidString say %v", s, err, valid)
		}
		if _, err := parseService(s); err == nil {
			var svc registry.Service
			if stdjson.Unmarshal([]byte(s), &svc) != nil || registry.Validate(&svc) != nil {
				t.Fatalf("parseService(%q) accepted what is not a valid service", s)
			}
		}
	})
}

func FuzzReorder(f *testing.F) {
	app := newApp(io.Discard, io.Discard, &options{})
	f.Add("get service greeter --output json")
	f.Add("call greeter Say.Hello {} -m a=b")
	f.Add("--registry x list services -o")
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"micro"}, strings.Fields(line)...)
		got := reorder(app, args)
		count := make(map[string]int)
		for _, a := range args {
			count[a]++
		}
		for _, a := range got {
			count[a]--
		}
		for a, n := range count {
			if n < 0 {
				t.Fatalf("reorder(%q) = %q: %q added", args, got, a)
			}
		}
		if len(got) == len(args) {
			for a, n := range count {
				if n != 0 {
					t.Fatalf("reorder(%q) = %q: %q moved in or out", args, got, a)
				}
			}
			return
		}
		// Arguments are dropped only to leave a flag given last without
		// its value at the end, for urfave/cli to say so.
		if last := got[len(got)-1]; last != args[len(args)-1] || !strings.HasPrefix(last, "-") {
			t.Fatalf("reorder(%q) = %q: arguments lost", args, got)
		}
	})
}

func TestNew(t *testing.T) {
	base := t.TempDir()
	read := func(dir string) string {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	dir := filepath.Join(base, "flags")
	r := runMain(t, nil, "new", "--no-tidy", "--module", "example.com/flags", "--replace", "a.com/x=/src/x", "--replace", "b.com/y=/src/y", dir)
	if r.code != ExitOK || !strings.Contains(r.stdout, "micro call flags Flags.Call") || !strings.Contains(r.stdout, "edit proto/flags.proto and run make proto") {
		t.Fatalf("%v", r)
	}
	// The API and its generated code are listed and written.
	for _, f := range []string{"proto/flags.proto", "proto/flags.pb.go", "proto/flags.pb.micro.go"} {
		full := filepath.Join(dir, filepath.FromSlash(f))
		if _, err := os.Stat(full); err != nil || !strings.Contains(r.stdout, "  "+full+"\n") {
			t.Errorf("%s: %v\n%v", f, err, r)
		}
	}
	if mod := read(dir); !strings.Contains(mod, "google.golang.org/protobuf v") {
		t.Errorf("go.mod requires no protobuf:\n%s", mod)
	}
	if mod := read(dir); !strings.Contains(mod, "module example.com/flags\n") ||
		!strings.Contains(mod, "replace a.com/x => /src/x") || !strings.Contains(mod, "replace b.com/y => /src/y") {
		t.Errorf("go.mod:\n%s", mod)
	}

	t.Setenv("MICRO_NEW_REPLACE", "a.com/x=/src/x, b.com/y=/src/y")
	dir = filepath.Join(base, "env")
	if r := runMain(t, nil, "new", "--no-tidy", dir); r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	if mod := read(dir); !strings.Contains(mod, "replace a.com/x => /src/x") || !strings.Contains(mod, "replace b.com/y => /src/y") {
		t.Errorf("go.mod from MICRO_NEW_REPLACE:\n%s", mod)
	}

	// A path with a space is quoted in the next steps, so that they can
	// be pasted into a shell.
	dir = filepath.Join(base, "my dir", "spaced")
	if r := runMain(t, nil, "new", "--no-tidy", dir); r.code != ExitOK || !strings.Contains(r.stdout, "cd '"+dir+"' && make run") {
		t.Errorf("micro new %q:\n%v", dir, r)
	}

	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"new", "--no-tidy", filepath.Join(base, "topic")}, ExitOK, ""},
		{[]string{"new", "--no-tidy", filepath.Join(base, "a.1")}, ExitUsage, "what follows the last '.' must start with a letter"},
		{[]string{"new", "--no-tidy", "--replace", "nonsense", filepath.Join(base, "x")}, ExitUsage, "want module=directory"},
		{[]string{"new", "--no-tidy", filepath.Join(base, "1x")}, ExitUsage, "invalid service name"},
		{[]string{"new", "--no-tidy", dir}, ExitFailure, "not empty"},
		{[]string{"new"}, ExitUsage, "missing DIR"},
		{[]string{"new", "--no-tidy", "--module", "example.com/a;b", filepath.Join(base, "semicolon")}, ExitUsage, `module path "example.com/a;b"`},
		{[]string{"new", "--no-tidy", filepath.Join(base, "go")}, ExitUsage, `module path "go": the go command reserves it`},
		{[]string{"new", "--no-tidy", filepath.Join(base, "message")}, ExitOK, ""},
		{[]string{"new", "--no-tidy", filepath.Join(base, "syntax")}, ExitOK, ""},
	} {
		if r := runMain(t, nil, tt.args...); r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("want exit %d and %q\n%v", tt.code, tt.stderr, r)
		}
	}
	// Refused names left nothing behind.
	for _, d := range []string{"a.1", "x", "1x", "semicolon", "go"} {
		if _, err := os.Stat(filepath.Join(base, d)); !os.IsNotExist(err) {
			t.Errorf("micro new %s, refused, left %v", d, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServer runs `micro server` in process until its context ends.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"micro", "server", "--address", "127.0.0.1:0", "--api_address", "127.0.0.1:0", "--sidecar_address", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	ready := regexp.MustCompile(`registry\s+go\.micro\.registry at (\S+), storing into the memory registry`)
	var addr string
	testenv.WaitFor(t, "micro server to be ready", func() bool {
		m := ready.FindStringSubmatch(stdout.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	r := runMain(t, nil, "--registry_address", addr, "list", "services")
	if r.code != ExitOK || !strings.Contains(r.stdout, "go.micro.registry") {
		t.Errorf("list services on the server:\n%v", r)
	}
	// Taking the same address again fails, saying why.
	r = runMain(t, nil, "server", "--address", addr, "--api_address", "", "--sidecar_address", "")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "is another micro server, or another program, listening there?") {
		t.Errorf("a second server on %s:\n%v", addr, r)
	}
	cancel()
	if code := testenv.Recv(t, "micro server to stop", done); code != ExitOK {
		t.Errorf("exit %d after the context ended; stderr:\n%s", code, stderr.String())
	}
	if !strings.HasSuffix(stdout.String(), "stopping\nstopped\n") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

// hungListener accepts connections and never answers on them, until the
// test ends.
func hungListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestRegistryNotARegistry: when what listens at the registry's address
// is not the registry service (another HTTP server, or a process that
// accepts and never answers), the message says so instead of "nothing
// answers there", and still names the address.
func TestRegistryNotARegistry(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<html>\n<p>a web page</p>\n</html>\n")
	}))
	t.Cleanup(web.Close)
	tests := []struct {
		name string
		addr string
		want string
	}{
		{"another server", strings.TrimPrefix(web.URL, "http://"), "something else answers there, not the registry service"},
		{"no answer", hungListener(t), "something accepts connections there but does not answer"},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"list", "services"}, {"get", "service", "greeter"}, {"publish", "topic", "{}"}} {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				t.Parallel() // Main may run in several goroutines at once
				reg := microregistry.NewRegistry(registry.Addrs(tt.addr), registry.Timeout(testenv.Patience/4))
				t.Cleanup(func() { reg.(interface{ Close() error }).Close() })
				r := runMain(t, []Option{Components(cmd.Components{Registry: reg})}, args...)
				want := "micro: cannot reach the registry at " + tt.addr + ": " + tt.want
				if r.code != ExitFailure || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("want exit 1 and the one line %q...\n%v", want, r)
				}
			})
		}
	}
}

// countingRegistry counts the ListServices calls made through it.
type countingRegistry struct {
	registry.Registry
	mu    sync.Mutex
	lists int
}

func (r *countingRegistry) ListServices(ctx context.Context, opts ...registry.ListOption) ([]*registry.Service, error) {
	r.mu.Lock()
	r.lists++
	r.mu.Unlock()
	return r.Registry.ListServices(ctx, opts...)
}

// TestPublishRegistryDown: when the publish fails because the registry
// cannot be reached, that is said at once, without asking the registry
// again (which would make the user wait twice).
func TestPublishRegistryDown(t *testing.T) {
	reg := &countingRegistry{Registry: microregistry.NewRegistry(registry.Addrs(closedAddr(t)))}
	t.Cleanup(func() { reg.Registry.(interface{ Close() error }).Close() })
	r := runMain(t, []Option{Components(cmd.Components{Registry: reg})}, "publish", "topic", "{}")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "nothing answers there") {
		t.Fatalf("want exit 1 and nothing answers there\n%v", r)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	if reg.lists != 0 {
		t.Errorf("the registry was asked again %d times after the publish said it is unreachable", reg.lists)
	}
}

// TestTableText: tables stay aligned with wide and combining characters,
// and text from the registry cannot write control characters (escape
// sequences, tabs, newlines) to the terminal: they are shown escaped.
func TestTableText(t *testing.T) {
	reg := memory.New()
	for _, s := range []*registry.Service{
		{Name: "café", Version: "1", Nodes: []*registry.Node{{Id: "c-1", Address: "127.0.0.1:1"}}},
		{Name: "日本語", Version: "版1", Nodes: []*registry.Node{
			{Id: "ノード1", Address: "127.0.0.1:2", Metadata: map[string]string{"zone": "東京"}},
			{Id: "n2", Address: "127.0.0.1:3", Metadata: map[string]string{"zone": "eu"}},
		}},
		{Name: "e\u0301t\u00e9", Version: "2", Nodes: []*registry.Node{{Id: "e-1", Address: "127.0.0.1:4"}}},
		{Name: "evil\x1b[31m", Version: "v\nx", Metadata: map[string]string{"k": "\u202etxt"}, Nodes: []*registry.Node{
			{Id: "i\td", Address: "127.0.0.1:5", Metadata: map[string]string{"k": "v\r\x07"}},
		}},
	} {
		if err := reg.Register(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) result {
		t.Helper()
		r := runMain(t, []Option{Components(cmd.Components{Registry: reg})}, args...)
		if r.code != ExitOK {
			t.Fatalf("%v", r)
		}
		for _, c := range []string{"\x1b", "\t", "\r", "\x07", "\u202e"} {
			if strings.Contains(r.stdout, c) {
				t.Errorf("stdout holds the control character %q\n%v", c, r)
			}
		}
		return r
	}

	want := "" +
		"NAME          VERSION\n" +
		"café          1\n" +
		`evil\x1b[31m  v\nx` + "\n" +
		"e\u0301t\u00e9           2\n" +
		"日本語        版1\n"
	if r := run("list", "services"); r.stdout != want {
		t.Errorf("list services:\n%s\nwant:\n%s", r.stdout, want)
	}

	want = "" +
		"NODE     ADDRESS      METADATA\n" +
		"n2       127.0.0.1:3  zone=eu\n" +
		"ノード1  127.0.0.1:2  zone=東京\n"
	if r := run("get", "service", "日本語"); !strings.Contains(r.stdout, want) {
		t.Errorf("get service 日本語:\n%s\nwant the nodes:\n%s", r.stdout, want)
	}

	r := run("get", "service", "evil\x1b[31m")
	for _, w := range []string{`service  evil\x1b[31m`, `version  v\nx`, `metadata k=\u202etxt`, `i\td  127.0.0.1:5  k=v\r\a`} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("get service lacks %q\n%v", w, r)
		}
	}
}

// TestShapes: the fields of a shape are aligned by their width on the
// terminal, shown with control characters escaped, and a shape nested
// deeper than maxShapeDepth is cut short rather than indented without end.
func TestShapes(t *testing.T) {
	deep := &registry.Value{Name: "leaf", Type: "string"}
	for i := range 100 {
		deep = &registry.Value{Name: fmt.Sprintf("f%d", i), Type: fmt.Sprintf("T%d", i), Values: []*registry.Value{deep}}
	}
	reg := memory.New()
	if err := reg.Register(t.Context(), &registry.Service{
		Name:  "shapes",
		Nodes: []*registry.Node{{Id: "s-1", Address: "127.0.0.1:1"}},
		Endpoints: []*registry.Endpoint{
			{Name: "A.Wide", Request: &registry.Value{Name: "Req", Type: "x.Req", Values: []*registry.Value{
				{Name: "名前", Type: "string"},
				{Name: "id", Type: "int\x1b[0m"},
			}}},
			{Name: "B.Deep", Request: deep},
		},
	}); err != nil {
		t.Fatal(err)
	}
	r := runMain(t, []Option{Components(cmd.Components{Registry: reg})}, "get", "service", "shapes")
	if r.code != ExitOK {
		t.Fatalf("%v", r)
	}
	want := "" +
		"  request  x.Req {\n" +
		"      名前 string\n" +
		`      id   int\x1b[0m` + "\n" +
		"  }\n"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("A.Wide's request:\n%s\nwant:\n%s", r.stdout, want)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("stdout holds an escape character\n%v", r)
	}
	if !strings.Contains(r.stdout, "T99 {") || strings.Contains(r.stdout, "leaf string") || !strings.Contains(r.stdout, "...") {
		t.Errorf("B.Deep's request is not cut short:\n%s", r.stdout)
	}
	if n := strings.Count(r.stdout, "\n"); n > 2*maxShapeDepth+40 {
		t.Errorf("B.Deep takes %d lines", n)
	}
}

// TestErrorText: a message on stderr shows control characters escaped,
// as the tables do.
func TestErrorText(t *testing.T) {
	r := runMain(t, []Option{Components(cmd.Components{Registry: memory.New()})}, "get", "service", "x\x1b[2Jy")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `service not found: x\x1b[2Jy`) || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("want exit 1 and the name escaped\n%v", r)
	}
}

// TestStdin: the JSON argument "-" is read from stdin, so that a body
// larger than a command line can hold (about 128 KiB on Linux) can be
// sent; one larger than the limit is refused before anything is sent.
func TestStdin(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("a", 1<<20)
	run := func(stdin io.Reader, args ...string) result {
		t.Helper()
		return runMain(t, []Option{Components(cmd.Components{Registry: f.reg, Broker: f.bus.NewBroker()}), Stdin(stdin)}, args...)
	}
	r := run(strings.NewReader(`{"name": "`+big+`"}`), "call", "greeter", "Say.Hello", "-", "-o", "json")
	if r.code != ExitOK || r.stdout != `{"msg":"Hello `+big+`"}`+"\n" {
		t.Errorf("call with a 1 MiB body on stdin: exit %d, %d bytes out, stderr %s", r.code, len(r.stdout), r.stderr)
	}
	r = run(strings.NewReader(`{"name": "Ann"}`), "stream", "greeter", "Say.Stream", "-")
	if r.code != ExitOK || !strings.Contains(r.stdout, `{"msg":"Hello Ann 3"}`) {
		t.Errorf("stream with the request on stdin:\n%v", r)
	}
	r = run(strings.NewReader(`{"name":"piped","nodes":[{"id":"p-1","address":"127.0.0.1:1"}]}`), "register", "service", "-")
	if r.code != ExitOK || !strings.Contains(r.stdout, "registered piped") {
		t.Errorf("register with the service on stdin:\n%v", r)
	}
	r = run(strings.NewReader(`{"name": `), "call", "greeter", "Say.Hello", "-")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "malformed JSON") {
		t.Errorf("malformed JSON on stdin:\n%v", r)
	}
	huge := io.MultiReader(strings.NewReader(`{"name": "`), io.LimitReader(repeatReader('a'), maxStdin))
	r = run(huge, "call", "greeter", "Say.Hello", "-")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "the JSON on stdin is larger than") {
		t.Errorf("JSON on stdin over the limit:\n%v", r)
	}
}

// repeatReader reads as an endless run of one byte.
type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestStreamEnds: a stream that fails midway prints what came and exits 1
// with the service's error; one that never ends stops at Ctrl-C (its
// context ending) with status 130, having printed what came.
func TestStreamEnds(t *testing.T) {
	f := newFixture(t)
	r := f.run(t, "stream", "greeter", "Say.Broken", `{"name": "Ann"}`)
	if r.code != ExitFailure || r.stdout != `{"msg":"Hello Ann 1"}`+"\n"+`{"msg":"Hello Ann 2"}`+"\n" ||
		!strings.Contains(r.stderr, "stream greeter Say.Broken: the greeting machine broke (500 Internal Server Error from greeter)") {
		t.Errorf("a stream failing midway:\n%v", r)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"micro", "stream", "greeter", "Say.Endless", `{"name": "Bo"}`}, &stdout, &stderr,
			Components(cmd.Components{Registry: f.reg}))
	}()
	testenv.WaitFor(t, "the first message", func() bool { return stdout.String() != "" })
	cancel()
	if code := testenv.Recv(t, "micro stream to stop", done); code != ExitInterrupted || stdout.String() != `{"msg":"Hello Bo"}`+"\n" {
		t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, ExitInterrupted, stdout.String(), stderr.String())
	}
}

// TestMainConcurrent: Main may be called from several goroutines at once,
// as its doc says (the race detector checks it), help and version flags
// included.
func TestMainConcurrent(t *testing.T) {
	reg := memory.New()
	var wg sync.WaitGroup
	codes := make(chan int, 4*8)
	for range 8 {
		for _, args := range [][]string{{"list", "services"}, {"call", "--help"}, {"--version"}, {"get", "service", "-h"}} {
			wg.Go(func() {
				var stdout, stderr bytes.Buffer
				codes <- Main(t.Context(), append([]string{"micro"}, args...), &stdout, &stderr, Components(cmd.Components{Registry: reg}))
			})
		}
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != ExitOK {
			t.Errorf("exit %d", code)
		}
	}
}
