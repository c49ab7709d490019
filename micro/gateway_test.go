package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var (
	apiServes     = regexp.MustCompile(`(?m)^api\s+API gateway at (http://\S+)`)
	sidecarServes = regexp.MustCompile(`(?m)^sidecar\s+sidecar at (http://\S+)`)
)

// gateway is micro server with its API gateway and sidecar, and a greeter
// registered under the gateway's namespace.
type gateway struct {
	server            *proc
	reg, api, sidecar string
	greeter           *proc
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	p := start(t, "micro server", microBin, "server", "--address", "127.0.0.1:0",
		"--api_address", "127.0.0.1:0", "--sidecar_address", "127.0.0.1:0")
	g := &gateway{server: p}
	g.reg = p.await(t, "micro server to print where it serves", serverReady)[1]
	g.api = p.await(t, "micro server to print where the API gateway serves", apiServes)[1]
	g.sidecar = p.await(t, "micro server to print where the sidecar serves", sidecarServes)[1]
	g.greeter = start(t, "greeter", greeterBin,
		"--server_name", "go.micro.api.greeter",
		"--registry", "micro", "--registry_address", g.reg,
		"--register_ttl", greeterTTL.String(), "--register_interval", greeterInterval.String(),
		"--server_address", "127.0.0.1:0", "--broker_address", "127.0.0.1:0")
	g.greeter.await(t, "the greeter to start", serviceStarts)
	eventually(t, "the greeter to register", margin, func() bool {
		return len(ok(t, "--registry_address", g.reg, "get", "service", "--output", "json", "go.micro.api.greeter").stdout) > 2
	})
	return g
}

// do sends one request and returns the status, the Content-Type and the
// body.
func do(t *testing.T, method, url, contentType, body string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), margin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rsp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer rsp.Body.Close()
	b, err := io.ReadAll(rsp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return rsp.StatusCode, rsp.Header.Get("Content-Type"), string(b)
}

// TestGateway calls the greeter through the API gateway and the sidecar of
// a real micro server, and checks that bad requests get their status and
// a JSON error while both keep serving.
func TestGateway(t *testing.T) {
	g := startGateway(t)
	const hello = `{"name": "Ann"}`

	t.Run("calls", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, url, ctype, body string
		}{
			{"api path", "POST", g.api + "/greeter/say/hello", "application/json", hello},
			{"api /rpc json", "POST", g.api + "/rpc", "application/json", `{"service": "go.micro.api.greeter", "endpoint": "Say.Hello", "request": {"name": "Ann"}}`},
			{"api /rpc method alias", "POST", g.api + "/rpc", "application/json", `{"service": "go.micro.api.greeter", "method": "Say.Hello", "request": {"name": "Ann"}}`},
			{"api /rpc form", "POST", g.api + "/rpc", "application/x-www-form-urlencoded", `service=go.micro.api.greeter&endpoint=Say.Hello&request=%7B%22name%22%3A%22Ann%22%7D`},
			{"sidecar /rpc", "POST", g.sidecar + "/rpc", "application/json", `{"service": "go.micro.api.greeter", "endpoint": "Say.Hello", "request": {"name": "Ann"}}`},
			{"sidecar path", "POST", g.sidecar + "/greeter/say/hello", "application/json", hello},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, ctype, body := do(t, tc.method, tc.url, tc.ctype, tc.body)
				if code != http.StatusOK || !strings.HasPrefix(ctype, "application/json") {
					t.Fatalf("%d %s: %s", code, ctype, body)
				}
				var rsp struct{ Msg string }
				if err := json.Unmarshal([]byte(body), &rsp); err != nil || rsp.Msg != "Hello Ann" {
					t.Errorf("reply %s (%v), want msg Hello Ann", body, err)
				}
			})
		}
	})

	t.Run("registry through the sidecar", func(t *testing.T) {
		code, _, body := do(t, "GET", g.sidecar+"/registry?service=go.micro.api.greeter", "", "")
		if code != http.StatusOK || !strings.Contains(body, `"Say.Hello"`) {
			t.Errorf("%d: %s", code, body)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, url, ctype, body string
			want                           int
		}{
			{"unknown service", "POST", g.api + "/nobody/say/hello", "application/json", hello, http.StatusNotFound},
			{"unknown endpoint", "POST", g.api + "/greeter/say/nothing", "application/json", hello, http.StatusNotFound},
			{"malformed json", "POST", g.api + "/greeter/say/hello", "application/json", `{"name": `, http.StatusBadRequest},
			{"the service's own error", "POST", g.api + "/greeter/say/hello", "application/json", `{}`, http.StatusBadRequest},
			{"unsupported content type", "POST", g.api + "/greeter/say/hello", "application/xml", `<name>Ann</name>`, http.StatusUnsupportedMediaType},
			{"too large", "POST", g.api + "/greeter/say/hello", "application/json", `{"name": "` + strings.Repeat("a", 11<<20) + `"}`, http.StatusRequestEntityTooLarge},
			{"rpc without service", "POST", g.api + "/rpc", "application/json", `{"endpoint": "Say.Hello"}`, http.StatusBadRequest},
			{"sidecar malformed registration", "POST", g.sidecar + "/registry", "application/json", `{"name": `, http.StatusBadRequest},
			{"sidecar unknown service", "GET", g.sidecar + "/registry?service=nobody", "", "", http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, ctype, body := do(t, tc.method, tc.url, tc.ctype, tc.body)
				if code != tc.want {
					t.Errorf("status %d, want %d: %s", code, tc.want, body)
				}
				var e struct {
					Code   int32
					Detail string
				}
				if !strings.HasPrefix(ctype, "application/json") || json.Unmarshal([]byte(body), &e) != nil || e.Code != int32(tc.want) || e.Detail == "" {
					t.Errorf("not a JSON error with code %d and a detail: %s %q", tc.want, ctype, body)
				}
				// Both keep serving.
				if code, _, body := do(t, "POST", g.api+"/greeter/say/hello", "application/json", hello); code != http.StatusOK {
					t.Fatalf("the gateway stopped serving: %d %s", code, body)
				}
			})
		}
	})

	t.Run("dead backend", func(t *testing.T) {
		// Killed, the greeter stays registered until its TTL: the
		// gateway cannot reach it and says so with 503.
		if err := g.greeter.stop(t, syscall.SIGKILL); err == nil {
			t.Fatal("the greeter exited cleanly after SIGKILL")
		}
		code, _, body := do(t, "POST", g.api+"/greeter/say/hello", "application/json", hello)
		if code != http.StatusServiceUnavailable && code != http.StatusNotFound {
			t.Errorf("status %d, want 503 (or 404 once the registration expired): %s", code, body)
		}
	})
}

// curlExample is one example of a docs page: a command, the output the
// page shows for it, and the directives above it.
type curlExample struct {
	command, want string
	directives    [][]string
}

// docExamples reads the curl examples of a docs page: a ```sh block
// holding one `curl` command, followed by a block with its output. An
// HTML comment `<!-- test: ... -->` before an example is a directive for
// the test (see TestDocs), invisible on the rendered page.
func docExamples(t *testing.T, page string) []curlExample {
	t.Helper()
	text, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile("(?s)```([a-z]*)\n(.*?)```|<!-- test: (.*?) -->")
	var (
		out     []curlExample
		pending [][]string
		cmd     string // a curl command waiting for its output block
	)
	for _, m := range token.FindAllStringSubmatch(string(text), -1) {
		switch body := strings.TrimSpace(m[2]); {
		case m[3] != "":
			pending = append(pending, strings.Fields(m[3]))
		case cmd != "":
			out = append(out, curlExample{command: cmd, want: body, directives: pending})
			cmd, pending = "", nil
		case m[1] == "sh" && strings.HasPrefix(body, "curl ") && !strings.Contains(body, "\n"):
			cmd = body
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no curl examples", page)
	}
	return out
}

// sameOutput compares what curl printed with what the page shows: as JSON
// when the page shows JSON without "...", else as text with blanks
// ignored, where "..." on the page stands for anything (a node id, a
// date) and a Date header line for any date.
func sameOutput(got, want string) bool {
	got = strings.TrimSpace(got)
	var g, w any
	if !strings.Contains(want, "...") && json.Unmarshal([]byte(want), &w) == nil {
		if json.Unmarshal([]byte(got), &g) != nil {
			return false
		}
		gb, _ := json.Marshal(g)
		wb, _ := json.Marshal(w)
		return bytes.Equal(gb, wb)
	}
	date := regexp.MustCompile(`(?m)^Date: .*$`)
	got, want = date.ReplaceAllString(got, "Date: ..."), date.ReplaceAllString(want, "Date: ...")
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), "") }
	parts := strings.Split(squeeze(want), "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(squeeze(got))
}

// docsEnv is what the examples of the docs run against.
type docsEnv struct {
	g               *gateway
	api, sidecar    string // where localhost:8080 and :8081 point now
	started         map[string]string
	exampleBins     map[string]string
	examplesRunning map[string]bool
	replace         []string // old, new: addresses the page shows, and the test's that stand in for them
}

var listening = regexp.MustCompile(`micro (?:api|sidecar) listening on (\S+);`)

// fix replaces the page's addresses in args by the test's.
func (d *docsEnv) fix(args []string) []string {
	if len(d.replace) == 0 {
		return args
	}
	r := strings.NewReplacer(d.replace...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

// apply carries out a directive:
//
//	api [FLAGS]              localhost:8080 is a `micro api` with FLAGS (none: micro server's)
//	sidecar [FLAGS]          localhost:8081 likewise, with `micro sidecar`
//	run EXAMPLE SERVICE [FLAGS]  run the example binary until the test ends and wait for SERVICE to register
//	app ADDRESS              serve /health (200) on a free port that stands in for ADDRESS from now on
//	wait SERVICE             wait for SERVICE to register
func (d *docsEnv) apply(t *testing.T, dir []string) {
	t.Helper()
	if len(dir) == 0 {
		t.Fatal("an empty test directive")
	}
	reg := []string{"--registry", "micro", "--registry_address", d.g.reg}
	dir = d.fix(dir)
	switch what, args := dir[0], dir[1:]; what {
	case "api", "sidecar":
		target := &d.api
		if what == "sidecar" {
			target = &d.sidecar
		}
		if len(args) == 0 {
			*target = map[string]string{"api": d.g.api, "sidecar": d.g.sidecar}[what]
			return
		}
		key := strings.Join(dir, " ")
		if addr, ok := d.started[key]; ok {
			*target = addr
			return
		}
		p := start(t, "micro "+key, microBin, append(append(append([]string{}, reg...), what, "--address", "127.0.0.1:0"), args...)...)
		addr := "http://" + p.await(t, "micro "+what+" to listen", listening)[1]
		d.started[key] = addr
		*target = addr
	case "app":
		// A stand-in for the app beside a sidecar: /health answers 200.
		// It listens on a free port, which replaces the page's address.
		if len(args) != 1 {
			t.Fatalf("app needs the address the page shows: %v", dir)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		}))
		t.Cleanup(srv.Close)
		d.replace = append(d.replace, args[0], strings.TrimPrefix(srv.URL, "http://"))
	case "wait":
		if len(args) != 1 {
			t.Fatalf("wait needs SERVICE: %v", dir)
		}
		eventually(t, args[0]+" to register", margin, func() bool {
			return micro(t, append(reg, "get", "service", args[0])...).code == 0
		})
	case "run":
		if len(args) < 2 {
			t.Fatalf("run needs EXAMPLE SERVICE: %v", dir)
		}
		bin, ok := d.exampleBins[args[0]]
		if !ok {
			t.Fatalf("no example binary %q", args[0])
		}
		key := strings.Join(args, " ")
		if d.examplesRunning[key] {
			return
		}
		start(t, args[0]+" example", bin, append([]string{"--registry_address", d.g.reg}, args[2:]...)...)
		d.apply(t, []string{"wait", args[1]})
		d.examplesRunning[key] = true
	default:
		t.Fatalf("unknown test directive %q", what)
	}
}

// TestDocs runs the curl examples of docs/api.md and docs/sidecar.md, in
// order, against a real micro server and greeter (registered as
// go.micro.api.greeter), the addresses they show (localhost:8080 and
// localhost:8081) replaced by the test's. Directives in the pages start
// what other examples need.
func TestDocs(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed: the docs' examples are curl commands")
	}
	g := startGateway(t)
	for _, page := range []string{"../docs/api.md", "../docs/sidecar.md"} {
		d := &docsEnv{g: g, api: g.api, sidecar: g.sidecar, started: map[string]string{},
			exampleBins: exampleBins, examplesRunning: map[string]bool{}}
		for _, ex := range docExamples(t, page) {
			name := strings.TrimPrefix(page, "../docs/") + "/" + ex.command
			for _, dir := range ex.directives {
				d.apply(t, dir)
			}
			ok := t.Run(name, func(t *testing.T) {
				cmd := d.fix([]string{ex.command})[0]
				want := d.fix([]string{ex.want})[0]
				cmd = strings.NewReplacer("http://localhost:8080", d.api, "localhost:8080", strings.TrimPrefix(d.api, "http://"),
					"http://localhost:8081", d.sidecar, "localhost:8081", strings.TrimPrefix(d.sidecar, "http://")).Replace(cmd)
				ctx, cancel := context.WithTimeout(t.Context(), margin)
				defer cancel()
				out, err := exec.CommandContext(ctx, "sh", "-c", cmd).Output()
				if err != nil {
					t.Fatalf("%s: %v\n%s", cmd, err, out)
				}
				if !sameOutput(string(out), want) {
					t.Errorf("%s printed\n%s\nthe page shows\n%s", cmd, out, want)
				}
			})
			if !ok {
				// Later examples may build on this one.
				return
			}
		}
	}
}
