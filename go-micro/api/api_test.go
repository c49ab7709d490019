package api_test

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/openmicro/go-micro/api"
)

func TestGet(t *testing.T) {
	pairs := map[string]*Pair{
		"Name":  {Key: "Name", Values: []string{"Ann", "Bob"}},
		"Empty": {Key: "Empty"},
		"Nil":   nil,
	}
	for _, tc := range []struct{ key, want string }{
		{"Name", "Ann"},
		{"Empty", ""},
		{"Nil", ""},
		{"Missing", ""},
	} {
		if got := api.Get(pairs, tc.key); got != tc.want {
			t.Errorf("Get(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := api.Get(nil, "Name"); got != "" {
		t.Errorf("Get(nil) = %q, want empty", got)
	}
}

// Pair is a shorthand for the tests.
type Pair = api.Pair

func TestRequestRoundTrip(t *testing.T) {
	in := &api.Request{
		Method: "POST",
		Path:   "/greeter/hello",
		Header: map[string]*api.Pair{"Content-Type": {Key: "Content-Type", Values: []string{"application/json"}}},
		Get:    map[string]*api.Pair{"name": {Key: "name", Values: []string{"Ann"}}},
		Body:   []byte(`{"name":"Ann"}`),
		Url:    "/greeter/hello?name=Ann",
	}
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := new(api.Request)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip: got %v, want %v", out, in)
	}
}

func ExampleGet() {
	req := &api.Request{Get: map[string]*api.Pair{"name": {Key: "name", Values: []string{"Ann"}}}}
	fmt.Println(api.Get(req.Get, "name"))
	// Output: Ann
}
