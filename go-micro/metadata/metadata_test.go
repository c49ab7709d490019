package metadata

import (
	"context"
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

func TestConcurrentUse(t *testing.T) {
	ctx := NewContext(context.Background(), Metadata{"a": "1"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := Set(ctx, "n", string(rune('a'+i)))
			md, _ := FromContext(c)
			md["X"] = "y"
			_, _ = Get(c, "a")
		}()
	}
	wg.Wait()
}
