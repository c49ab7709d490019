package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/go-micro/registry"
	"github.com/openmicro/go-micro/server"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type Address struct {
	Street string `json:"street"`
}

type Base struct {
	ID string `json:"id"`
}

type Person struct {
	Base
	Name    string                 `json:"name,omitempty"`
	Age     int64                  // no tag: the field name
	Secret  string                 `json:"-"`
	hidden  string                 // left out
	Home    *Address               `json:"home"`
	Tags    []string               `json:"tags"`
	Places  []Address              `json:"places"`
	Scores  map[string]int32       `json:"scores"`
	Born    time.Time              `json:"born"`
	Raw     json.RawMessage        `json:"raw"`
	Data    []byte                 `json:"data"`
	Any     any                    `json:"any"`
	Wrapped *wrapperspb.Int64Value `json:"wrapped"`
	Friends []*Person              `json:"friends"`
	ByName  map[string]*Person     `json:"by_name"`
}

var _ = Person{hidden: "unexported fields are left out"}

type Shaped struct{}

func (Shaped) Person(context.Context, *Person, *map[string]string) error { return nil }
func (Shaped) Proto(context.Context, *structpb.Struct, *timestamppb.Timestamp) error {
	return nil
}
func (Shaped) Deep(context.Context, *L1, *[]byte) error               { return nil }
func (Shaped) Chat(context.Context, server.Stream) error              { return nil }
func (Shaped) List(context.Context, *structpb.ListValue, *Tree) error { return nil }

type Tree struct {
	Value    string  `json:"value"`
	Children []*Tree `json:"children"`
}

// L1 ... L12 nest deeper than the depth limit.
type (
	L1  struct{ Next L2 }
	L2  struct{ Next L3 }
	L3  struct{ Next L4 }
	L4  struct{ Next L5 }
	L5  struct{ Next L6 }
	L6  struct{ Next L7 }
	L7  struct{ Next L8 }
	L8  struct{ Next L9 }
	L9  struct{ Next L10 }
	L10 struct{ Next L11 }
	L11 struct{ Next L12 }
	L12 struct{ End string }
)

// show writes a Value tree as one line, "name:type{...}".
func show(v *registry.Value) string {
	if v == nil {
		return "nil"
	}
	s := v.Name + ":" + v.Type
	if len(v.Values) > 0 {
		parts := make([]string, len(v.Values))
		for i, sub := range v.Values {
			parts[i] = show(sub)
		}
		s += "{" + strings.Join(parts, " ") + "}"
	}
	return s
}

func depth(v *registry.Value) int {
	d := 0
	for _, sub := range v.Values {
		d = max(d, depth(sub))
	}
	return d + 1
}

func TestEndpointShapes(t *testing.T) {
	h := server.NewHandler(Shaped{})
	if h.Err() != nil {
		t.Fatal(h.Err())
	}
	eps := map[string]*registry.Endpoint{}
	var names []string
	for _, ep := range h.Endpoints() {
		eps[ep.Name] = ep
		names = append(names, ep.Name)
	}
	if got := strings.Join(names, ","); got != "Shaped.Chat,Shaped.Deep,Shaped.List,Shaped.Person,Shaped.Proto" {
		t.Fatalf("endpoints %s, want sorted", got)
	}

	tests := []struct {
		endpoint string
		request  string
		response string
	}{
		{
			"Shaped.Person",
			"Person:server_test.Person{" +
				"id:string name:string Age:int64 home:server_test.Address{street:string} tags:[]string " +
				"places:[]server_test.Address{street:string} scores:map[string]int32 born:time.Time raw:json.RawMessage " +
				"data:[]byte any:any wrapped:google.protobuf.Int64Value{value:int64} friends:[]server_test.Person by_name:map[string]server_test.Person}",
			"map[string]string:map[string]string",
		},
		{
			"Shaped.Proto",
			"Struct:google.protobuf.Struct{fields:map[string]google.protobuf.Value{" +
				"nullValue:google.protobuf.NullValue numberValue:double stringValue:string boolValue:bool " +
				"structValue:google.protobuf.Struct listValue:google.protobuf.ListValue{values:[]google.protobuf.Value}}}",
			"Timestamp:google.protobuf.Timestamp{seconds:int64 nanos:int32}",
		},
		{
			"Shaped.List",
			"ListValue:google.protobuf.ListValue{values:[]google.protobuf.Value{" +
				"nullValue:google.protobuf.NullValue numberValue:double stringValue:string boolValue:bool " +
				"structValue:google.protobuf.Struct{fields:map[string]google.protobuf.Value} listValue:google.protobuf.ListValue}}",
			"Tree:server_test.Tree{value:string children:[]server_test.Tree}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			ep := eps[tt.endpoint]
			if got := show(ep.Request); got != tt.request {
				t.Errorf("request\n %s\nwant\n %s", got, tt.request)
			}
			if got := show(ep.Response); got != tt.response {
				t.Errorf("response\n %s\nwant\n %s", got, tt.response)
			}
			if ep.Metadata != nil {
				t.Errorf("metadata %v on a unary endpoint", ep.Metadata)
			}
		})
	}

	t.Run("depth limit", func(t *testing.T) {
		ep := eps["Shaped.Deep"]
		if d := depth(ep.Request); d != 11 {
			t.Fatalf("depth %d, want the root and 10 levels: %s", d, show(ep.Request))
		}
		if got := show(ep.Response); got != "[]byte:[]byte" {
			t.Fatalf("response %s", got)
		}
	})
	t.Run("stream", func(t *testing.T) {
		ep := eps["Shaped.Chat"]
		if ep.Request != nil || ep.Response != nil || ep.Metadata["stream"] != "true" {
			t.Fatalf("stream endpoint %+v", ep)
		}
	})
	t.Run("registry accepts them", func(t *testing.T) {
		s := &registry.Service{Name: "x", Endpoints: h.Endpoints(), Nodes: []*registry.Node{{Id: "1"}}}
		if err := registry.Validate(s); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEndpointMetadata(t *testing.T) {
	h := server.NewHandler(Shaped{},
		server.EndpointMetadata("Shaped.Person", map[string]string{"auth": "admin"}),
		server.EndpointMetadata("Shaped.Chat", map[string]string{"stream": "false", "x": "y"}),
	)
	if h.Err() != nil {
		t.Fatal(h.Err())
	}
	for _, ep := range h.Endpoints() {
		switch ep.Name {
		case "Shaped.Person":
			if ep.Metadata["auth"] != "admin" || len(ep.Metadata) != 1 {
				t.Errorf("Person metadata %v", ep.Metadata)
			}
		case "Shaped.Chat":
			if ep.Metadata["stream"] != "true" || ep.Metadata["x"] != "y" {
				t.Errorf("Chat metadata %v: stream must stay true", ep.Metadata)
			}
		default:
			if ep.Metadata != nil {
				t.Errorf("%s metadata %v", ep.Name, ep.Metadata)
			}
		}
	}
}

func TestStreamTypes(t *testing.T) {
	h := server.NewHandler(Shaped{},
		server.StreamTypes("Shaped.Chat", server.StreamBidirectional, new(Person), new(timestamppb.Timestamp)),
		server.EndpointMetadata("Shaped.Chat", map[string]string{"x": "y"}),
	)
	if h.Err() != nil {
		t.Fatal(h.Err())
	}
	var chat *registry.Endpoint
	for _, ep := range h.Endpoints() {
		if ep.Name == "Shaped.Chat" {
			chat = ep
		}
	}
	if chat == nil {
		t.Fatal("no Shaped.Chat endpoint")
	}
	if chat.Metadata["stream"] != server.StreamBidirectional || chat.Metadata["x"] != "y" {
		t.Errorf("Chat metadata %v", chat.Metadata)
	}
	if chat.Request == nil || chat.Request.Type != "server_test.Person" || len(chat.Request.Values) == 0 {
		t.Errorf("Chat request shape %+v", chat.Request)
	}
	if chat.Response == nil || chat.Response.Type != "google.protobuf.Timestamp" {
		t.Errorf("Chat response shape %+v", chat.Response)
	}
	s := &registry.Service{Name: "x", Endpoints: h.Endpoints(), Nodes: []*registry.Node{{Id: "1"}}}
	if err := registry.Validate(s); err != nil {
		t.Fatal(err)
	}
}
