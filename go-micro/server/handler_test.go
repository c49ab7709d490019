package server_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openmicro/go-micro/server"
)

type BadArg struct{}

func (BadArg) Hello(context.Context, string, *Response) error { return nil }

type ThirdNotPointer struct{}

func (ThirdNotPointer) Hello(context.Context, *Request, Response) error { return nil }

type FirstNotContext struct{}

func (FirstNotContext) Hello(string, *Request, *Response) error { return nil }

type NoReturn struct{}

func (NoReturn) Hello(context.Context, *Request, *Response) {}

type TwoReturns struct{}

func (TwoReturns) Hello(context.Context, *Request, *Response) (int, error) { return 0, nil }

type WrongReturn struct{}

func (WrongReturn) Hello(context.Context, *Request, *Response) string { return "" }

type OneArg struct{}

func (OneArg) Hello(context.Context) error { return nil }

type FourArgs struct{}

func (FourArgs) Hello(context.Context, *Request, *Response, *Response) error { return nil }

type Variadic struct{}

func (Variadic) Hello(context.Context, ...*Request) error { return nil }

type BadStream struct{}

func (BadStream) Chat(context.Context, *Request) error { return nil }

type TwoBad struct{}

func (TwoBad) A(context.Context, string, *Response) error    { return nil }
func (TwoBad) B(context.Context, *Request, *Response) error  { return nil }
func (TwoBad) C(context.Context, *Request, []string) error   { return nil }
func (TwoBad) D(_ context.Context, _ server.Stream) error    { return nil }
func (TwoBad) E(_ context.Context, _ *Request, _ *int) error { return nil }

type NoMethods struct{}

type PointerOnly struct{}

func (*PointerOnly) Hello(context.Context, *Request, *Response) error { return nil }

type Mixed struct{}

func (Mixed) Hello(context.Context, *Request, *Response) error { return nil }
func (*Mixed) Bye(context.Context, *Request, *Response) error  { return nil }

func TestNewHandlerErrors(t *testing.T) {
	anon := struct{ BadArg }{}
	tests := []struct {
		name string
		h    any
		opts []server.HandlerOption
		want string // the whole message, or a part when prefixed by "~"
	}{
		{"second argument", BadArg{}, nil, "server: invalid handler: BadArg.Hello: the second argument must be a pointer, not string"},
		{"third argument", ThirdNotPointer{}, nil, "server: invalid handler: ThirdNotPointer.Hello: the third argument must be a pointer, not server_test.Response"},
		{"first argument", FirstNotContext{}, nil, "server: invalid handler: FirstNotContext.Hello: the first argument must be context.Context, not string"},
		{"no return", NoReturn{}, nil, "server: invalid handler: NoReturn.Hello: must return error, not nothing"},
		{"two returns", TwoReturns{}, nil, "server: invalid handler: TwoReturns.Hello: must return error, not (int, error)"},
		{"wrong return", WrongReturn{}, nil, "server: invalid handler: WrongReturn.Hello: must return error, not string"},
		{"one argument", OneArg{}, nil, "~OneArg.Hello: takes 1 arguments"},
		{"four arguments", FourArgs{}, nil, "~FourArgs.Hello: takes 4 arguments"},
		{"variadic", Variadic{}, nil, "~Variadic.Hello: is variadic"},
		{"stream second argument", BadStream{}, nil, "~BadStream.Chat: with two arguments the second must be server.Stream, not *server_test.Request"},
		{"every bad method", TwoBad{}, nil, "server: invalid handler: TwoBad.A: the second argument must be a pointer, not string; TwoBad.C: the third argument must be a pointer, not []string"},
		{"nil", nil, nil, "server: invalid handler: nil handler"},
		{"nil pointer", (*Greeter)(nil), nil, "~nil *server_test.Greeter"},
		{"no methods", NoMethods{}, nil, "server: invalid handler: NoMethods: server_test.NoMethods has no exported methods"},
		{"pointer methods on a value", PointerOnly{}, nil, "~pass a pointer"},
		{"some pointer methods on a value", Mixed{}, nil, "~Mixed.Bye: has a pointer receiver"},
		{"anonymous type", anon, nil, "~has no type name"},
		{"name with a dot", &Greeter{}, []server.HandlerOption{server.HandlerName("a.b")}, "~handler name \"a.b\""},
		{"name with a space", &Greeter{}, []server.HandlerOption{server.HandlerName("a b")}, "~handler name \"a b\""},
		{"metadata for an unknown endpoint", &Greeter{}, []server.HandlerOption{server.EndpointMetadata("Greeter.Nope", map[string]string{"a": "b"})}, "~\"Greeter.Nope\", which is not one of its endpoints"},
		{"stream types for an unknown endpoint", &Greeter{}, []server.HandlerOption{server.StreamTypes("Greeter.Nope", server.StreamServer, new(Request), new(Response))}, "~StreamTypes: \"Greeter.Nope\" is not one of the endpoints"},
		{"stream types for a unary endpoint", &Greeter{}, []server.HandlerOption{server.StreamTypes("Greeter.Hello", server.StreamServer, new(Request), new(Response))}, "~\"Greeter.Hello\" is unary"},
		{"stream kind unknown", &Greeter{}, []server.HandlerOption{server.StreamTypes("Greeter.Echo", "sideways", new(Request), new(Response))}, "~kind \"sideways\""},
		{"stream type not a pointer", &Greeter{}, []server.HandlerOption{server.StreamTypes("Greeter.Echo", server.StreamClient, Request{}, new(Response))}, "~the request type must be a pointer"},
		{"stream type nil", &Greeter{}, []server.HandlerOption{server.StreamTypes("Greeter.Echo", server.StreamClient, new(Request), nil)}, "~the response type must be a pointer, not <nil>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := server.NewHandler(tt.h, tt.opts...)
			err := h.Err()
			if !errors.Is(err, server.ErrInvalidHandler) {
				t.Fatalf("Err() = %v, want ErrInvalidHandler", err)
			}
			if part, ok := strings.CutPrefix(tt.want, "~"); ok {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("error %q does not say %q", err, part)
				}
			} else if err.Error() != tt.want {
				t.Fatalf("error\n %q\nwant\n %q", err, tt.want)
			}
			f := newFixture(t)
			if herr := f.srv.Handle(h); herr != err {
				t.Fatalf("Handle returned %v, want the handler's error", herr)
			}
			if len(h.Endpoints()) != 0 {
				t.Fatalf("an invalid handler has endpoints %v", h.Endpoints())
			}
		})
	}
}

func TestHandleRules(t *testing.T) {
	t.Run("duplicate endpoint", func(t *testing.T) {
		f := newFixture(t)
		err := f.srv.Handle(f.srv.NewHandler(&Greeter{}))
		if err == nil || !strings.Contains(err.Error(), "Greeter.") {
			t.Fatalf("got %v, want an error naming the endpoint handled twice", err)
		}
	})
	t.Run("Debug is taken", func(t *testing.T) {
		f := newFixture(t)
		err := f.srv.Handle(f.srv.NewHandler(&Greeter{}, server.HandlerName("Debug")))
		if err != nil {
			t.Fatalf("Greeter as Debug has no endpoint of Debug: %v", err)
		}
		err = f.srv.Handle(f.srv.NewHandler(healthy{}, server.HandlerName("Debug")))
		if err == nil || !strings.Contains(err.Error(), "Debug.Health") {
			t.Fatalf("got %v, want Debug.Health already handled", err)
		}
	})
	t.Run("after start", func(t *testing.T) {
		f := newFixture(t)
		f.start()
		if err := f.srv.Handle(f.srv.NewHandler(healthy{})); !errors.Is(err, server.ErrStarted) {
			t.Fatalf("got %v, want ErrStarted", err)
		}
	})
	t.Run("nil", func(t *testing.T) {
		f := newFixture(t)
		if err := f.srv.Handle(nil); !errors.Is(err, server.ErrInvalidHandler) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("foreign Handler", func(t *testing.T) {
		f := newFixture(t)
		if err := f.srv.Handle(foreignHandler{}); err != nil {
			t.Fatal(err)
		}
		f.start()
		var rsp HealthStatus
		if err := f.client().jsonCall("Other.Health", &struct{}{}, &rsp); err != nil || rsp.Status != "fine" {
			t.Fatalf("got %v %+v", err, rsp)
		}
	})
}

type HealthStatus struct {
	Status string `json:"status"`
}

type healthy struct{}

func (healthy) Health(_ context.Context, _ *struct{}, rsp *HealthStatus) error {
	rsp.Status = "fine"
	return nil
}

// foreignHandler is a Handler not built by NewHandler.
type foreignHandler struct{}

func (foreignHandler) Name() string                  { return "Other" }
func (foreignHandler) Handler() any                  { return healthy{} }
func (foreignHandler) Endpoints() []*server.Endpoint { return nil }
func (foreignHandler) Err() error                    { return nil }

func TestHandlerName(t *testing.T) {
	h := server.NewHandler(healthy{}, server.HandlerName("Probe"))
	if h.Err() != nil || h.Name() != "Probe" {
		t.Fatalf("%v %q", h.Err(), h.Name())
	}
	if eps := h.Endpoints(); len(eps) != 1 || eps[0].Name != "Probe.Health" {
		t.Fatalf("endpoints %v", eps)
	}
	if _, ok := h.Handler().(healthy); !ok {
		t.Fatalf("Handler() = %T", h.Handler())
	}
	h = server.NewHandler(&Greeter{})
	if h.Name() != "Greeter" {
		t.Fatalf("name %q, want the type name without the pointer", h.Name())
	}
}
