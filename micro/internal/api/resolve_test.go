package api

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		ns, path          string
		service, endpoint string
		err               error
	}{
		{"go.micro.api", "/foo", "go.micro.api.foo", "Foo.Call", nil},
		{"go.micro.api", "/foo/", "go.micro.api.foo", "Foo.Call", nil},
		{"go.micro.api", "/foo/bar", "go.micro.api.foo", "Foo.Bar", nil},
		{"go.micro.api", "/foo/bar/", "go.micro.api.foo", "Foo.Bar", nil},
		{"go.micro.api", "foo/bar", "go.micro.api.foo", "Foo.Bar", nil},
		{"go.micro.api", "/foo/bar/baz", "go.micro.api.foo", "Bar.Baz", nil},
		{"go.micro.api", "/foo/bar/baz/qux", "go.micro.api.foo.bar", "Baz.Qux", nil},
		{"go.micro.api", "/a/b/c/d/e", "go.micro.api.a.b.c", "D.E", nil},
		{"go.micro.api", "/v1/foo", "go.micro.api.v1.foo", "Foo.Call", nil},
		{"go.micro.api", "/v1/foo/bar", "go.micro.api.v1.foo", "Foo.Bar", nil},
		{"go.micro.api", "/v2/foo/bar/baz", "go.micro.api.v2.foo", "Bar.Baz", nil},
		{"go.micro.api", "/v10/foo/bar/baz/qux", "go.micro.api.v10.foo.bar", "Baz.Qux", nil},
		{"go.micro.api", "/vx/foo/bar", "go.micro.api.vx", "Foo.Bar", nil}, // not a version
		{"go.micro.api", "/v/foo", "go.micro.api.v", "V.Foo", nil},         // not a version
		{"go.micro.api", "/foo/say-hello", "go.micro.api.foo", "Foo.SayHello", nil},
		{"go.micro.api", "/my-svc", "go.micro.api.my-svc", "MySvc.Call", nil},
		{"go.micro.api", "/foo/Bar_baz", "go.micro.api.foo", "Foo.Bar_baz", nil},
		{"go.micro.api", "/3d/render/frame", "go.micro.api.3d", "Render.Frame", nil},
		{"", "/foo/bar", "foo", "Foo.Bar", nil},
		{"com.example", "/v1/foo", "com.example.v1.foo", "Foo.Call", nil},

		{"go.micro.api", "/", "", "", ErrNoService},
		{"go.micro.api", "", "", "", ErrNoService},
		{"go.micro.api", "/v1", "", "", ErrNoService},
		{"go.micro.api", "/v1/", "", "", ErrNoService},
		{"go.micro.api", "//", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo//bar", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/bar//", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/../bar", "", "", ErrInvalidPath},
		{"go.micro.api", "/./foo", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/b@r", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/bar.baz", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/b r", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/bär", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/1bar", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/-bar", "", "", ErrInvalidPath},
		{"go.micro.api", "/1foo", "", "", ErrInvalidPath},
		{"go.micro.api", "/foo/bar\x00", "", "", ErrInvalidPath},
		{"go.micro.api", "/" + strings.Repeat("a", MaxPathLength), "", "", ErrInvalidPath},
	}
	for _, tc := range tests {
		t.Run(tc.ns+tc.path, func(t *testing.T) {
			service, endpoint, err := Resolve(tc.ns, tc.path)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Resolve(%q, %q) = %q, %q, %v; want error %v", tc.ns, tc.path, service, endpoint, err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "api: ") {
					t.Errorf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil || service != tc.service || endpoint != tc.endpoint {
				t.Fatalf("Resolve(%q, %q) = %q, %q, %v; want %q, %q", tc.ns, tc.path, service, endpoint, err, tc.service, tc.endpoint)
			}
		})
	}
}

// FuzzResolve checks that Resolve never panics and that what it accepts is
// a well-formed service ("ns.a.b") and endpoint ("Handler.Method"), the
// same for the path with or without its leading slash.
func FuzzResolve(f *testing.F) {
	for _, p := range []string{"/foo", "/foo/bar", "/foo/bar/baz", "/v1/foo/bar", "/v1", "/", "//", "/a-b/c-d/", "/x/../y", "/\xff"} {
		f.Add("go.micro.api", p)
	}
	f.Fuzz(func(t *testing.T, ns, path string) {
		service, endpoint, err := Resolve(ns, path)
		if err != nil {
			if !errors.Is(err, ErrNoService) && !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("Resolve(%q, %q): error %v wraps neither ErrNoService nor ErrInvalidPath", ns, path, err)
			}
			if service != "" || endpoint != "" {
				t.Fatalf("Resolve(%q, %q) returned %q, %q with error %v", ns, path, service, endpoint, err)
			}
			return
		}
		if ns != "" && !strings.HasPrefix(service, ns+".") {
			t.Fatalf("service %q lacks namespace %q", service, ns)
		}
		rest := strings.TrimPrefix(service, ns+".")
		if ns == "" {
			rest = service
		}
		for _, part := range strings.Split(rest, ".") {
			if part == "" || checkElement(part) != nil {
				t.Fatalf("Resolve(%q, %q): service %q has a bad element %q", ns, path, service, part)
			}
		}
		h, m, ok := strings.Cut(endpoint, ".")
		if !ok || !exported(h) || !exported(m) || strings.Contains(m, ".") {
			t.Fatalf("Resolve(%q, %q): endpoint %q is not Handler.Method", ns, path, endpoint)
		}
		if s2, e2, err := Resolve(ns, "/"+strings.TrimPrefix(path, "/")); err != nil || s2 != service || e2 != endpoint {
			t.Fatalf("Resolve with a leading slash differs: %q, %q, %v", s2, e2, err)
		}
		// The gateway's cache answers as Resolve, first and then again.
		rv := newResolver(ns)
		for range 2 {
			if s2, e2, err := rv.resolve(path); err != nil || s2 != service || e2 != endpoint {
				t.Fatalf("resolver(%q).resolve(%q) = %q, %q, %v; Resolve gives %q, %q", ns, path, s2, e2, err, service, endpoint)
			}
		}
	})
}

// TestResolverBounded: the paths remembered stay under resolveCacheSize
// however many a client makes up, and each still resolves right.
func TestResolverBounded(t *testing.T) {
	rv := newResolver("go.micro.api")
	for i := range 3 * resolveCacheSize {
		path := fmt.Sprintf("/svc%d/say/hello", i%(2*resolveCacheSize))
		service, endpoint, err := rv.resolve(path)
		if want := fmt.Sprintf("go.micro.api.svc%d", i%(2*resolveCacheSize)); err != nil || service != want || endpoint != "Say.Hello" {
			t.Fatalf("resolve(%q) = %q, %q, %v", path, service, endpoint, err)
		}
		if n := len(rv.m); n > resolveCacheSize {
			t.Fatalf("%d paths remembered", n)
		}
	}
	if _, _, err := rv.resolve("/a//b"); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("bad path: %v", err)
	}
	if _, ok := rv.m["/a//b"]; ok {
		t.Fatal("a bad path remembered")
	}
}

// exported reports whether s is an exported Go-like name of ASCII letters,
// digits and '_'.
func exported(s string) bool {
	if s == "" || !utf8.ValidString(s) || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
