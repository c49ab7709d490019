package sidecar

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/openmicro/examples/internal/proctest"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/openmicro/go-micro/registry"
	microregistry "github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/testenv"
)

// serviceStarts is the line a go-micro service logs once it has started
// and registered.
var serviceStarts = regexp.MustCompile(`micro: service started.* address=(\S+)`)

// appName is the name the second sidecar registers app.js under.
const appName = "node.app"

var (
	appListening   = regexp.MustCompile(`"event":"listening","address":"([^"]+)"`)
	appDone        = regexp.MustCompile(`(?m)^\{"event":"done"\}$`)
	appHealth      = regexp.MustCompile(`"event":"health"`)
	appRegistered  = regexp.MustCompile(`sidecar: registered the app`)
	greeterEvent   = regexp.MustCompile(`greeter: event name=Node message="hello from node`)
	sidecarListens = regexp.MustCompile(`micro sidecar listening on (\S+);`)
)

// node returns the path of a node that has the WebSocket of
// --experimental-websocket, or skips the test saying why (fails it under
// MICRO_TEST_REQUIRE=all or =node).
func node(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node", "node is not on PATH (install Node.js 20 or later)")
		return ""
	}
	ctx, cancel := context.WithTimeout(t.Context(), proctest.Patience)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--experimental-websocket", "-e",
		"if (typeof WebSocket !== 'function' || typeof fetch !== 'function') { console.log(process.version); process.exit(3) }").CombinedOutput()
	if err != nil {
		testenv.Missing(t, "node", fmt.Sprintf("%s has no global WebSocket and fetch with --experimental-websocket (Node.js 20 or later needed): %v %s", bin, err, out))
		return ""
	}
	return bin
}

// TestNodeApp runs micro server (registry and sidecar), the greeter and
// app.js as processes: app.js finds the greeter in the registry, calls it
// (its error included), subscribes to greeter.events and publishes an
// event that both its subscription and the greeter receive. A second
// sidecar, `micro sidecar` with --server_name and --healthcheck_url,
// registers app.js once its health endpoint answers and deregisters it
// when it stops.
func TestNodeApp(t *testing.T) {
	nodeBin := node(t)
	micro := proctest.Build(t, "micro", "../../micro", ".")
	greeterBin := proctest.Build(t, "greeter", "..", "./greeter/srv")
	app, err := filepath.Abs("app.js")
	if err != nil {
		t.Fatal(err)
	}

	srv := proctest.StartServer(t, micro, "--api_address", "", "--sidecar_address", "127.0.0.1:0")
	if srv.Sidecar == "" {
		t.Fatalf("micro server printed no sidecar address:\n%s", srv.Stdout())
	}
	greeter := proctest.Start(t, "greeter", greeterBin, "--registry_address", srv.Registry, "--server_address", "127.0.0.1:0")
	greeter.Await(t, "the greeter to start", serviceStarts)

	js := proctest.Start(t, "app.js", nodeBin, "--experimental-websocket", app, srv.Sidecar)
	appAddr := js.Await(t, "app.js to serve /health", appListening)[1]
	// The second sidecar registers app.js once /health answers.
	sc := proctest.Start(t, "micro sidecar", micro, "--registry_address", srv.Registry, "sidecar",
		"--address", "127.0.0.1:0",
		"--server_name", appName, "--server_address", appAddr,
		"--healthcheck_url", "http://"+appAddr+"/health", "--healthcheck_interval", "1s")
	sc.Await(t, "the sidecar to listen", sidecarListens)
	sc.Await(t, "the sidecar to register app.js", appRegistered)
	js.Await(t, "app.js to answer a health check", appHealth)
	js.Await(t, "app.js to finish its calls", appDone)

	// What app.js printed.
	events := map[string]map[string]any{}
	sc2 := bufio.NewScanner(strings.NewReader(js.Stdout()))
	for sc2.Scan() {
		var e map[string]any
		if err := json.Unmarshal(sc2.Bytes(), &e); err != nil {
			t.Fatalf("app.js printed a line that is not JSON: %q", sc2.Text())
		}
		name, _ := e["event"].(string)
		events[name] = e
	}
	for _, tt := range []struct {
		event, path string
		want        any
	}{
		{"registry", "nodes", 1.0},
		{"rpc", "status", 200.0},
		{"rpc", "response.msg", "Hello Node"},
		{"rpc_error", "status", 400.0},
		{"rpc_error", "error.code", 400.0},
		{"rpc_error", "error.detail", "name is required"},
		{"subscribed", "topic", "greeter.events"},
		{"message", "topic", "greeter.events"},
		{"message", "data.name", "Node"},
	} {
		if got := field(events[tt.event], tt.path); got != tt.want {
			t.Errorf("app.js event %q: %s = %v, want %v", tt.event, tt.path, got, tt.want)
		}
	}
	sent, _ := field(events["published"], "data.message").(string)
	if got := field(events["message"], "data.message"); !strings.HasPrefix(sent, "hello from node") || got != sent {
		t.Errorf("app.js published %q and received %v", sent, got)
	}
	// The greeter's subscriber got the event too.
	greeter.Await(t, "the greeter to log app.js's event", greeterEvent)

	// The registry holds app.js at its address, registered by the sidecar.
	reg := microregistry.NewRegistry(registry.Addrs(srv.Registry))
	t.Cleanup(func() { _ = reg.(io.Closer).Close() })
	svcs, err := reg.GetService(t.Context(), appName)
	if err != nil {
		t.Fatalf("GetService(%s): %v", appName, err)
	}
	if len(svcs) != 1 || len(svcs[0].Nodes) != 1 || svcs[0].Nodes[0].Address != appAddr || svcs[0].Nodes[0].Metadata["server"] != "sidecar" {
		t.Fatalf("the registry holds %s as %s, want one node at %s registered by the sidecar", appName, dump(svcs), appAddr)
	}

	// The sidecar stops: it deregisters app.js, and exits 0.
	if err := sc.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("micro sidecar: %v", err)
	}
	if svcs, err := reg.GetService(t.Context(), appName); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("after the sidecar stopped, GetService(%s) = %s, %v; want not found", appName, dump(svcs), err)
	}
	// app.js stops on SIGTERM, exiting 0.
	if err := js.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("app.js: %v", err)
	}
}

// field follows a dotted path into a decoded JSON object.
func field(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
