package metadata

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

func TestCanonicalKey(t *testing.T) {
	for in, want := range map[string]string{
		"x-user-id": "X-User-Id",
		"X-USER-ID": "X-User-Id",
		"X-User-Id": "X-User-Id",
		"micro-id":  "Micro-Id",
		"":          "",
		"a b":       "A b",
		"trace_id":  "Trace_id",
		"-leading":  "-Leading",
		"ALL UPPER": "All upper",
		"a--b":      "A--B",
		"a-":        "A-",
		"-":         "-",
		"--x--":     "--X--",
		"x-ÜBER-id": "X-Über-Id",
		"ünicode-x": "ünicode-X",
		"é-É":       "é-É",
		"\xff-ab":   "\xff-Ab",
		"1a-2B":     "1a-2b",
	} {
		if got := CanonicalKey(in); got != want {
			t.Errorf("CanonicalKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCaseInsensitive(t *testing.T) {
	ctx := Set(context.Background(), "x-user-id", "42")
	for _, k := range []string{"x-user-id", "X-USER-ID", "X-User-Id"} {
		if v, ok := Get(ctx, k); !ok || v != "42" {
			t.Errorf("Get(%q) = %q, %v", k, v, ok)
		}
	}
	md := Pairs("FOO", "1", "bar")
	if v, _ := md.Get("foo"); v != "1" {
		t.Errorf("Pairs: foo = %q", v)
	}
	if v, ok := md.Get("BAR"); !ok || v != "" {
		t.Errorf("Pairs odd key: %q %v", v, ok)
	}
}

func TestCopyOnWrite(t *testing.T) {
	base := NewContext(context.Background(), Metadata{"a": "1"})
	child := Set(base, "b", "2")

	if _, ok := Get(base, "b"); ok {
		t.Fatal("Set changed the parent context's metadata")
	}
	md, _ := FromContext(child)
	md["A"] = "changed"
	if v, _ := Get(child, "a"); v != "1" {
		t.Fatal("changing a FromContext copy changed the context")
	}

	src := Metadata{"k": "v"}
	ctx := NewContext(context.Background(), src)
	src["K"] = "changed"
	if v, _ := Get(ctx, "k"); v != "v" {
		t.Fatal("NewContext kept a reference to the caller's map")
	}

	d := Delete(child, "A")
	if _, ok := Get(d, "a"); ok {
		t.Fatal("Delete did not remove the key")
	}
	if _, ok := Get(child, "a"); !ok {
		t.Fatal("Delete changed the parent context")
	}
}

func TestMerge(t *testing.T) {
	ctx := NewContext(context.Background(), Metadata{"a": "1", "b": "1"})
	keep := Merge(ctx, Metadata{"b": "2", "c": "2"}, false)
	over := Merge(ctx, Metadata{"b": "2", "c": "2"}, true)
	for _, c := range []struct {
		ctx     context.Context
		k, want string
	}{
		{keep, "a", "1"}, {keep, "b", "1"}, {keep, "c", "2"},
		{over, "a", "1"}, {over, "b", "2"}, {over, "c", "2"},
	} {
		if v, _ := Get(c.ctx, c.k); v != c.want {
			t.Errorf("%s = %q want %q", c.k, v, c.want)
		}
	}
}

func TestNoMetadata(t *testing.T) {
	ctx := context.Background()
	if _, ok := FromContext(ctx); ok {
		t.Error("FromContext on an empty context")
	}
	if _, ok := Get(ctx, "x"); ok {
		t.Error("Get on an empty context")
	}
	if Delete(ctx, "x") != ctx {
		t.Error("Delete on an empty context should return it unchanged")
	}
}

// TestCollisions gives several spellings of one key at once: the result
// must not depend on map iteration order (run it many times to see).
func TestCollisions(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{"canonical spelling wins", map[string]string{"x-id": "lower", "X-Id": "canonical", "X-ID": "upper"}, "canonical"},
		{"else the greatest key", map[string]string{"x-id": "lower", "X-ID": "upper", "x-ID": "mixed"}, "lower"},
		{"one spelling", map[string]string{"x-id": "only"}, "only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 100 {
				ctx := NewContext(context.Background(), Metadata{"X-Id": "old", "Other": "1"})
				for name, got := range map[string]Metadata{
					"New":        New(tt.in),
					"NewContext": mustFrom(t, NewContext(context.Background(), tt.in)),
					"Merge":      mustFrom(t, Merge(ctx, tt.in, true)),
				} {
					if got["X-Id"] != tt.want || len(got) != 1 && name != "Merge" {
						t.Fatalf("run %d: %s = %v, want X-Id=%q alone", i, name, got, tt.want)
					}
				}
				if v, _ := Get(Merge(ctx, tt.in, false), "x-id"); v != "old" {
					t.Fatalf("Merge without overwrite replaced X-Id with %q", v)
				}
			}
		})
	}
}

func mustFrom(t *testing.T, ctx context.Context) Metadata {
	t.Helper()
	md, ok := FromContext(ctx)
	if !ok {
		t.Fatal("no metadata in the context")
	}
	return md
}

// TestConcurrentUse shares one parent context between goroutines that
// derive, read and change copies; run under -race.
func TestConcurrentUse(t *testing.T) {
	ctx := NewContext(context.Background(), Metadata{"a": "1", "b": "2"})
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				v := fmt.Sprint(i, "-", j)
				c := Set(ctx, "n", v)
				c = Merge(c, Metadata{"m": v, "a": "x"}, j%2 == 0)
				c = Delete(c, "b")
				md, _ := FromContext(c)
				md["X"] = "y"
				md.Set("a", "changed")
				if got, _ := Get(c, "n"); got != v {
					errs <- "Get(n) = " + got + ", want " + v
					return
				}
				if got, _ := Get(c, "a"); got != map[bool]string{true: "x", false: "1"}[j%2 == 0] {
					errs <- "Get(a) = " + got
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if md, _ := FromContext(ctx); len(md) != 2 || md["A"] != "1" || md["B"] != "2" {
		t.Fatalf("the shared parent changed: %v", md)
	}
}

// FuzzCanonicalKey checks that CanonicalKey is idempotent, folds ASCII
// case, keeps the length and every non-letter byte, and that Get finds a
// key by any ASCII spelling.
func FuzzCanonicalKey(f *testing.F) {
	for _, k := range []string{"x-user-id", "X-USER-ID", "", "a--b", "-x-", "x-ÜBER", "\xff-a", "a b_c"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		c := CanonicalKey(k)
		if CanonicalKey(c) != c {
			t.Fatalf("CanonicalKey(%q) = %q, but CanonicalKey of that is %q", k, c, CanonicalKey(c))
		}
		lower, upper := asciiCase(k, false), asciiCase(k, true)
		if CanonicalKey(lower) != c || CanonicalKey(upper) != c {
			t.Fatalf("CanonicalKey of %q, %q and %q differ: %q, %q, %q",
				k, lower, upper, c, CanonicalKey(lower), CanonicalKey(upper))
		}
		if len(c) != len(k) {
			t.Fatalf("CanonicalKey(%q) = %q changed the length", k, c)
		}
		for i := range len(k) {
			if asciiCase(k[i:i+1], false) != asciiCase(c[i:i+1], false) {
				t.Fatalf("CanonicalKey(%q) = %q changed byte %d beyond its case", k, c, i)
			}
		}
		ctx := Set(context.Background(), upper, "v")
		if v, ok := Get(ctx, lower); !ok || v != "v" {
			t.Fatalf("Get(%q) after Set(%q) = %q, %v", lower, upper, v, ok)
		}
	})
}

// asciiCase maps the ASCII letters of s to one case, byte by byte.
func asciiCase(s string, upper bool) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
