package server

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/openmicro/go-micro/registry"
)

var (
	typeContext = reflect.TypeFor[context.Context]()
	typeError   = reflect.TypeFor[error]()
	typeStream  = reflect.TypeFor[Stream]()
)

// method is one endpoint of a handler.
type method struct {
	name   string        // "Type.Method"
	recv   reflect.Value // the handler value
	fn     reflect.Value // the method's func, taking recv first
	req    reflect.Type  // pointer type of the request; nil for a stream
	rsp    reflect.Type  // pointer type of the response; nil for a stream
	stream bool
}

// rpcHandler is the Handler NewHandler builds.
type rpcHandler struct {
	name      string
	value     any
	endpoints []*Endpoint // sorted by name
	methods   map[string]*method
	err       error
}

func (h *rpcHandler) Name() string { return h.name }
func (h *rpcHandler) Handler() any { return h.value }
func (h *rpcHandler) Err() error   { return h.err }

// Endpoints returns a new slice each call; the Endpoint values are shared
// and must not be changed.
func (h *rpcHandler) Endpoints() []*Endpoint { return slices.Clone(h.endpoints) }

// NewHandler builds a Handler from h: every exported method of h is an
// endpoint "Type.Method", where Type is the name of h's type (without the
// pointer) or the name given with [HandlerName]. A method must have one of
// the shapes
//
//	func(ctx context.Context, req *Req, rsp *Rsp) error // unary
//	func(ctx context.Context, stream Stream) error      // stream
//
// where *Req and *Rsp are pointer types (to a struct, a proto message, a
// map, a []byte, ...). A value with no exported method, or with a method of
// another shape, gives a Handler whose Err wraps [ErrInvalidHandler] and
// says, method by method, what is wrong; [Server.Handle] returns that error.
func NewHandler(h any, opts ...HandlerOption) Handler {
	var o HandlerOptions
	for _, opt := range opts {
		opt(&o)
	}
	hd := &rpcHandler{value: h, methods: make(map[string]*method)}
	hd.err = hd.build(h, o)
	if hd.err != nil {
		hd.endpoints, hd.methods = nil, nil
	}
	return hd
}

func invalidHandler(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidHandler}, a...)...)
}

func (hd *rpcHandler) build(h any, o HandlerOptions) error {
	if h == nil {
		return invalidHandler("nil handler")
	}
	v := reflect.ValueOf(h)
	t := v.Type()
	if t.Kind() == reflect.Pointer && v.IsNil() {
		return invalidHandler("nil %v", t)
	}
	name := o.Name
	if name == "" {
		base := t
		if base.Kind() == reflect.Pointer {
			base = base.Elem()
		}
		name = base.Name()
		if name == "" {
			return invalidHandler("%v has no type name: name the handler with HandlerName", t)
		}
	}
	if err := checkName(name); err != nil {
		return invalidHandler("handler name %q %v", name, err)
	}
	hd.name = name

	if t.NumMethod() == 0 {
		if t.Kind() != reflect.Pointer && reflect.PointerTo(t).NumMethod() > 0 {
			return invalidHandler("%s: %v has no exported methods, but %v has: pass a pointer", name, t, reflect.PointerTo(t))
		}
		return invalidHandler("%s: %v has no exported methods", name, t)
	}
	var problems []string
	for i := range t.NumMethod() {
		mt := t.Method(i)
		full := name + "." + mt.Name
		m, why := newMethod(full, v.Method(i).Type())
		if why != "" {
			problems = append(problems, full+": "+why)
			continue
		}
		m.recv, m.fn = v, mt.Func
		hd.methods[full] = m
	}
	if t.Kind() != reflect.Pointer {
		pt := reflect.PointerTo(t)
		for i := range pt.NumMethod() {
			if _, ok := t.MethodByName(pt.Method(i).Name); !ok {
				problems = append(problems, fmt.Sprintf("%s.%s: has a pointer receiver, so %v does not have it: pass a pointer", name, pt.Method(i).Name, t))
			}
		}
	}
	if len(problems) > 0 {
		return invalidHandler("%s", strings.Join(problems, "; "))
	}

	for ep := range o.Metadata {
		if hd.methods[ep] == nil {
			return invalidHandler("%s: EndpointMetadata names %q, which is not one of its endpoints", name, ep)
		}
	}
	for ep, si := range o.Streams {
		if err := checkStream(hd.methods[ep], ep, si); err != nil {
			return invalidHandler("%s: StreamTypes: %v", name, err)
		}
	}
	for _, full := range slices.Sorted(maps.Keys(hd.methods)) {
		m := hd.methods[full]
		ep := &Endpoint{Name: full}
		var md map[string]string
		if user := o.Metadata[full]; len(user) > 0 {
			md = maps.Clone(user)
		}
		if m.stream {
			if md == nil {
				md = make(map[string]string, 1)
			}
			md["stream"] = "true"
			if si, ok := o.Streams[full]; ok {
				md["stream"] = si.Kind
				ep.Request = valueOf(reflect.TypeOf(si.Request))
				ep.Response = valueOf(reflect.TypeOf(si.Response))
			}
		} else {
			ep.Request = valueOf(m.req)
			ep.Response = valueOf(m.rsp)
		}
		ep.Metadata = md
		hd.endpoints = append(hd.endpoints, ep)
	}
	return nil
}

// checkStream checks what StreamTypes declared for endpoint ep, whose
// method is m (nil when there is none).
func checkStream(m *method, ep string, si StreamInfo) error {
	switch {
	case m == nil:
		return fmt.Errorf("%q is not one of the endpoints", ep)
	case !m.stream:
		return fmt.Errorf("%q is unary, not a stream endpoint", ep)
	}
	switch si.Kind {
	case StreamServer, StreamClient, StreamBidirectional:
	default:
		return fmt.Errorf("%q: kind %q is not %q, %q or %q", ep, si.Kind, StreamServer, StreamClient, StreamBidirectional)
	}
	for _, side := range []struct {
		what string
		v    any
	}{{"request", si.Request}, {"response", si.Response}} {
		if t := reflect.TypeOf(side.v); t == nil || t.Kind() != reflect.Pointer {
			return fmt.Errorf("%q: the %s type must be a pointer, not %v", ep, side.what, t)
		}
	}
	return nil
}

// checkName rejects handler names that cannot be the "Type" of
// "Type.Method".
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range name {
		if r == '.' || unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("holds %q: a name may not hold dots, spaces or control characters", r)
		}
	}
	return nil
}

// newMethod checks the shape of a method, ft being its type without the
// receiver, and returns it, or says what is wrong with it.
func newMethod(name string, ft reflect.Type) (*method, string) {
	const shapes = "want func(context.Context, *Req, *Rsp) error or func(context.Context, server.Stream) error"
	if ft.IsVariadic() {
		return nil, "is variadic; " + shapes
	}
	switch {
	case ft.NumOut() != 1:
		return nil, fmt.Sprintf("must return error, not %s", outs(ft))
	case ft.Out(0) != typeError:
		return nil, fmt.Sprintf("must return error, not %v", ft.Out(0))
	}
	switch ft.NumIn() {
	case 2, 3:
	default:
		return nil, fmt.Sprintf("takes %d arguments; %s", ft.NumIn(), shapes)
	}
	if ft.In(0) != typeContext {
		return nil, fmt.Sprintf("the first argument must be context.Context, not %v", ft.In(0))
	}
	if ft.NumIn() == 2 {
		if ft.In(1) != typeStream {
			return nil, fmt.Sprintf("with two arguments the second must be server.Stream, not %v (a unary endpoint takes (context.Context, *Req, *Rsp))", ft.In(1))
		}
		return &method{name: name, stream: true}, ""
	}
	if ft.In(1).Kind() != reflect.Pointer {
		return nil, fmt.Sprintf("the second argument must be a pointer, not %v", ft.In(1))
	}
	if ft.In(2).Kind() != reflect.Pointer {
		return nil, fmt.Sprintf("the third argument must be a pointer, not %v", ft.In(2))
	}
	return &method{name: name, req: ft.In(1), rsp: ft.In(2)}, ""
}

func outs(ft reflect.Type) string {
	if ft.NumOut() == 0 {
		return "nothing"
	}
	s := make([]string, ft.NumOut())
	for i := range s {
		s[i] = ft.Out(i).String()
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// endpointsOf returns the endpoints of every handler, sorted by name.
func endpointsOf(hs []*rpcHandler) []*registry.Endpoint {
	var eps []*registry.Endpoint
	for _, h := range hs {
		eps = append(eps, h.endpoints...)
	}
	slices.SortFunc(eps, func(a, b *registry.Endpoint) int { return strings.Compare(a.Name, b.Name) })
	return eps
}
