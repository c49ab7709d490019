package server

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"

	"github.com/openmicro/go-micro/registry"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxShapeDepth bounds how deep a request or response shape is described.
const maxShapeDepth = 10

var (
	typeProtoMessage  = reflect.TypeFor[proto.Message]()
	typeJSONMarshaler = reflect.TypeFor[json.Marshaler]()
	typeTextMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// valueOf describes the type a request or response pointer points to as a
// registry Value tree: Name is the type's short name and Type its
// qualified name (the Go type, or the proto message's full name), and
// Values are its fields. See the package doc for the notation.
func valueOf(t reflect.Type) *registry.Value {
	w := shaper{path: make(map[any]bool)}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if md, ok := protoDescriptor(t); ok {
		return w.message(string(md.Name()), md, 0)
	}
	name := t.Name()
	if name == "" {
		name = typeName(t)
	}
	return w.goValue(name, t, 0)
}

// shaper walks types; path holds the types on the way from the root (a
// reflect.Type or a protoreflect.FullName), where the walk stops so that a
// recursive type gives a finite tree.
type shaper struct {
	path map[any]bool
}

// protoDescriptor returns the descriptor of t when *t is a proto message.
func protoDescriptor(t reflect.Type) (protoreflect.MessageDescriptor, bool) {
	if t.Kind() != reflect.Struct || !reflect.PointerTo(t).Implements(typeProtoMessage) {
		return nil, false
	}
	m, ok := reflect.New(t).Interface().(proto.Message)
	if !ok {
		return nil, false
	}
	return m.ProtoReflect().Descriptor(), true
}

func (w *shaper) message(name string, md protoreflect.MessageDescriptor, depth int) *registry.Value {
	v := &registry.Value{Name: name, Type: string(md.FullName())}
	v.Values = w.messageFields(md, depth)
	return v
}

// messageFields describes the fields of md, or nothing when md is already
// on the path or the depth is used up.
func (w *shaper) messageFields(md protoreflect.MessageDescriptor, depth int) []*registry.Value {
	key := md.FullName()
	if depth >= maxShapeDepth || w.path[key] {
		return nil
	}
	w.path[key] = true
	defer delete(w.path, key)
	fields := md.Fields()
	vals := make([]*registry.Value, 0, fields.Len())
	for i := range fields.Len() {
		vals = append(vals, w.protoField(fields.Get(i), depth+1))
	}
	return vals
}

func (w *shaper) protoField(fd protoreflect.FieldDescriptor, depth int) *registry.Value {
	v := &registry.Value{Name: fd.JSONName()}
	switch {
	case fd.IsMap():
		val := fd.MapValue()
		v.Type = "map[" + kindName(fd.MapKey()) + "]" + kindName(val)
		if val.Message() != nil {
			v.Values = w.messageFields(val.Message(), depth)
		}
	case fd.IsList():
		v.Type = "[]" + kindName(fd)
		if fd.Message() != nil {
			v.Values = w.messageFields(fd.Message(), depth)
		}
	default:
		v.Type = kindName(fd)
		if fd.Message() != nil {
			v.Values = w.messageFields(fd.Message(), depth)
		}
	}
	return v
}

// kindName is the Type of a proto field: the scalar kind ("string",
// "int64", "bytes", ...), or the full name of its message or enum.
func kindName(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func (w *shaper) goValue(name string, t reflect.Type, depth int) *registry.Value {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if md, ok := protoDescriptor(t); ok {
		return &registry.Value{Name: name, Type: string(md.FullName()), Values: w.messageFields(md, depth)}
	}
	v := &registry.Value{Name: name, Type: typeName(t)}
	v.Values = w.goFields(t, depth)
	return v
}

// goFields describes what is inside t: the fields of a struct, or those of
// the element of a slice, array or map.
func (w *shaper) goFields(t reflect.Type, depth int) []*registry.Value {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return w.goFields(t.Elem(), depth)
	case reflect.Struct:
	default:
		return nil
	}
	if md, ok := protoDescriptor(t); ok {
		return w.messageFields(md, depth)
	}
	if opaque(t) || depth >= maxShapeDepth || w.path[t] {
		return nil
	}
	w.path[t] = true
	defer delete(w.path, t)
	var vals []*registry.Value
	w.structFields(t, depth, &vals)
	return vals
}

// structFields appends the JSON fields of struct t, taking fields of
// embedded structs without a JSON name into t as encoding/json does.
func (w *shaper) structFields(t reflect.Type, depth int, vals *[]*registry.Value) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if !w.path[ft] && depth < maxShapeDepth {
					w.path[ft] = true
					w.structFields(ft, depth, vals)
					delete(w.path, ft)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		*vals = append(*vals, w.goValue(name, f.Type, depth+1))
	}
}

// opaque reports whether t encodes itself, so that its fields say nothing
// about its JSON (time.Time, say).
func opaque(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(typeJSONMarshaler) || pt.Implements(typeJSONMarshaler) ||
		t.Implements(typeTextMarshaler) || pt.Implements(typeTextMarshaler)
}

// typeName is the Type of a Go value: its qualified name when it has one
// ("time.Time", "greeter.Request"), else its Go spelling with pointers
// left out ("[]string", "map[string]int64", "[]byte", "any").
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if md, ok := protoDescriptor(t); ok {
		return string(md.FullName())
	}
	if t.Name() != "" {
		return t.String()
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && t.Elem().Name() == "uint8" {
			return "[]byte"
		}
		return "[]" + typeName(t.Elem())
	case reflect.Array:
		return "[" + strconv.Itoa(t.Len()) + "]" + typeName(t.Elem())
	case reflect.Map:
		return "map[" + typeName(t.Key()) + "]" + typeName(t.Elem())
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return "any"
		}
	case reflect.Struct:
		return "struct"
	}
	return t.String()
}
