package api

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

var (
	// ErrNoService is wrapped by [Resolve]'s error for a path that names no
	// service ("/", "", "/v1"); the gateway answers it with 404.
	ErrNoService = errors.New("api: no service in path")
	// ErrInvalidPath is wrapped by [Resolve]'s error for a path it cannot
	// turn into a service and endpoint (an empty, "." or ".." element, a
	// character outside [A-Za-z0-9_-], an endpoint element not starting
	// with a letter, a path over [MaxPathLength]); the gateway answers it
	// with 400.
	ErrInvalidPath = errors.New("api: invalid path")
)

// MaxPathLength is the longest path [Resolve] accepts, in bytes.
const MaxPathLength = 1024

// Resolve maps the path of a request to the service and endpoint it calls,
// in namespace ns (the service is ns + "." + the path's service part; an
// empty ns adds no prefix):
//
//	path                    service                 endpoint
//	/foo                    go.micro.api.foo        Foo.Call
//	/foo/bar                go.micro.api.foo        Foo.Bar
//	/foo/bar/baz            go.micro.api.foo        Bar.Baz
//	/foo/bar/baz/qux        go.micro.api.foo.bar    Baz.Qux
//	/v1/foo                 go.micro.api.v1.foo     Foo.Call
//	/v1/foo/bar             go.micro.api.v1.foo     Foo.Bar
//	/v1/foo/bar/baz         go.micro.api.v1.foo     Bar.Baz
//	/v1/foo/bar/baz/qux     go.micro.api.v1.foo.bar Baz.Qux
//	/foo/say-hello          go.micro.api.foo        Foo.SayHello
//	/foo/bar/               go.micro.api.foo        Foo.Bar (one trailing slash is ignored)
//	/, "", /v1              error wrapping ErrNoService
//	/foo//bar, /foo/../bar,
//	/foo/b@r, /foo/1bar     error wrapping ErrInvalidPath
//
// The rule: a first element matching ^v[0-9]+$ is a version, kept with the
// service and otherwise set aside; of the other elements, the last two name
// the endpoint ("Handler.Method") and the ones before them the service
// (joined with "."). One element names the service and the endpoint
// Element.Call; two name the service and the method of a handler named
// after the service; three name the service and Handler.Method. Endpoint
// elements are camel-cased at dashes and start upper case ("say-hello"
// becomes "SayHello"); service elements are kept as written.
//
// Elements may hold ASCII letters, digits, '_' and '-'; an element that
// becomes part of the endpoint must start with a letter.
func Resolve(ns, path string) (service, endpoint string, err error) {
	if len(path) > MaxPathLength {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPath, MaxPathLength)
	}
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return "", "", fmt.Errorf("%w: use /[service]/[method]", ErrNoService)
	}
	p = strings.TrimSuffix(p, "/")
	parts := strings.Split(p, "/")
	for _, e := range parts {
		if err := checkElement(e); err != nil {
			return "", "", fmt.Errorf("%w %q: %w", ErrInvalidPath, path, err)
		}
	}
	var version string
	if isVersion(parts[0]) {
		version, parts = parts[0], parts[1:]
		if len(parts) == 0 {
			return "", "", fmt.Errorf("%w: %q names a version and no service", ErrNoService, path)
		}
	}
	var svc, handler, method []string
	switch len(parts) {
	case 1:
		svc, handler, method = parts, parts, []string{"call"}
	case 2:
		svc, handler, method = parts[:1], parts[:1], parts[1:]
	default:
		n := len(parts)
		svc, handler, method = parts[:n-2], parts[n-2:n-1], parts[n-1:]
	}
	h, err := camel(handler[0])
	if err != nil {
		return "", "", fmt.Errorf("%w %q: %w", ErrInvalidPath, path, err)
	}
	m, err := camel(method[0])
	if err != nil {
		return "", "", fmt.Errorf("%w %q: %w", ErrInvalidPath, path, err)
	}
	name := strings.Join(svc, ".")
	if version != "" {
		name = version + "." + name
	}
	if ns != "" {
		name = ns + "." + name
	}
	return name, h + "." + m, nil
}

// isVersion reports whether e matches ^v[0-9]+$.
func isVersion(e string) bool {
	if len(e) < 2 || e[0] != 'v' {
		return false
	}
	for i := 1; i < len(e); i++ {
		if e[i] < '0' || e[i] > '9' {
			return false
		}
	}
	return true
}

// checkElement accepts a non-empty element of letters, digits, '_' and '-'.
func checkElement(e string) error {
	switch e {
	case "":
		return errors.New("empty element")
	case ".", "..":
		return fmt.Errorf("element %q", e)
	}
	for i := 0; i < len(e); i++ {
		if !isWordByte(e[i]) {
			return fmt.Errorf("element %q holds %q; only letters, digits, '_' and '-' are allowed", e, e[i])
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// camel turns an element into an exported Go name: "say-hello" becomes
// "SayHello". It must start with a letter.
func camel(e string) (string, error) {
	if c := e[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return "", fmt.Errorf("endpoint element %q must start with a letter", e)
	}
	var b strings.Builder
	b.Grow(len(e))
	upper := true
	for i := 0; i < len(e); i++ {
		c := e[i]
		if c == '-' {
			upper = true
			continue
		}
		if upper && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		upper = false
		b.WriteByte(c)
	}
	return b.String(), nil
}

// resolveCacheSize bounds the paths a resolver remembers; past it, the
// cache starts again empty, so that paths made up by clients cost no more
// than a Resolve each.
const resolveCacheSize = 1024

// resolver is [Resolve] in one namespace, remembering the paths it
// resolved. It is safe for concurrent use.
type resolver struct {
	ns string
	mu sync.RWMutex
	m  map[string]target
}

// target is the service and endpoint a path resolved to.
type target struct{ service, endpoint string }

func newResolver(ns string) *resolver {
	return &resolver{ns: ns, m: make(map[string]target)}
}

// resolve is Resolve(rv.ns, path).
func (rv *resolver) resolve(path string) (service, endpoint string, err error) {
	rv.mu.RLock()
	t, ok := rv.m[path]
	rv.mu.RUnlock()
	if ok {
		return t.service, t.endpoint, nil
	}
	service, endpoint, err = Resolve(rv.ns, path)
	if err != nil {
		return "", "", err
	}
	rv.mu.Lock()
	if len(rv.m) >= resolveCacheSize {
		clear(rv.m)
	}
	rv.m[strings.Clone(path)] = target{service, endpoint}
	rv.mu.Unlock()
	return service, endpoint, nil
}
