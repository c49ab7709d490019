package metadata_test

import (
	"context"
	"fmt"

	"github.com/openmicro/go-micro/metadata"
)

// Keys are case-insensitive and stored in canonical form; every change to
// a context's metadata makes a new map, so a parent context never sees what
// a child adds.
func Example() {
	parent := metadata.NewContext(context.Background(), metadata.Pairs("x-user-id", "42"))
	child := metadata.Set(parent, "X-TRACE-ID", "abc")

	v, _ := metadata.Get(child, "X-User-Id")
	fmt.Println(v)
	_, inParent := metadata.Get(parent, "x-trace-id")
	fmt.Println(inParent)

	md, _ := metadata.FromContext(child) // a copy: changing it changes no context
	md.Set("x-user-id", "7")
	v, _ = metadata.Get(child, "x-user-id")
	fmt.Println(v, len(md))
	for _, k := range []string{"X-Trace-Id", "X-User-Id"} {
		fmt.Println(k, md[k])
	}
	// Output:
	// 42
	// false
	// 42 2
	// X-Trace-Id abc
	// X-User-Id 7
}
