package json

import (
	"errors"
	"fmt"

	stdjson "encoding/json"

	"github.com/openmicro/go-micro/codec"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Marshal encodes v as the json codec writes a body, without the trailing
// newline: protojson for a proto.Message, []byte, *[]byte and
// json.RawMessage as they are once checked to be valid JSON, encoding/json
// for anything else. Marshal(nil) and an empty raw body give "null".
func Marshal(v any) ([]byte, error) {
	b, _, err := encode(v)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return []byte("null"), nil
	}
	return b, nil
}

// Unmarshal decodes the JSON value data into v as the json codec reads a
// body: protojson (ignoring unknown fields) for a proto.Message, a copy of
// the JSON text for *[]byte and *json.RawMessage, encoding/json for
// anything else. A nil v does nothing. Malformed JSON or JSON that does not
// fit v gives an error wrapping [codec.ErrInvalidMessage].
func Unmarshal(data []byte, v any) error {
	switch t := v.(type) {
	case nil:
		return nil
	case proto.Message:
		if !t.ProtoReflect().IsValid() {
			return unsupported("read into", v)
		}
		return unmarshalProto(data, t)
	case *[]byte:
		if t == nil {
			return unsupported("read into", v)
		}
		return copyRaw(t, data)
	case *stdjson.RawMessage:
		if t == nil {
			return unsupported("read into", v)
		}
		return copyRaw((*[]byte)(t), data)
	}
	return decodeError(v, stdjson.Unmarshal(data, v))
}

func copyRaw(dst *[]byte, data []byte) error {
	if !stdjson.Valid(data) {
		return invalid(errNotJSON)
	}
	*dst = append((*dst)[:0], data...)
	return nil
}

var errNotJSON = errors.New("not one valid JSON value")

// encode returns the JSON of v, nil for no body (a nil v or an empty raw
// body), and whether the caller owns the returned slice.
func encode(v any) (b []byte, owned bool, err error) {
	switch t := v.(type) {
	case nil:
		return nil, false, nil
	case proto.Message:
		b, err := protojson.Marshal(t)
		if err != nil {
			return nil, false, fmt.Errorf("codec/json: encode %T: %w", v, err)
		}
		return b, true, nil
	case []byte:
		return raw(t)
	case *[]byte:
		if t == nil {
			return nil, false, nil
		}
		return raw(*t)
	case stdjson.RawMessage:
		return raw(t)
	case *stdjson.RawMessage:
		if t == nil {
			return nil, false, nil
		}
		return raw(*t)
	}
	b, err = stdjson.Marshal(v)
	if err != nil {
		var ute *stdjson.UnsupportedTypeError
		if errors.As(err, &ute) {
			return nil, false, fmt.Errorf("%w: codec/json: %w", codec.ErrUnsupportedType, err)
		}
		return nil, false, fmt.Errorf("codec/json: encode %T: %w", v, err)
	}
	return b, true, nil
}

func raw(b []byte) ([]byte, bool, error) {
	if len(b) == 0 {
		return nil, false, nil
	}
	if !stdjson.Valid(b) {
		return nil, false, fmt.Errorf("codec/json: raw body: %w", invalid(errNotJSON))
	}
	return b, false, nil
}

func unmarshalProto(data []byte, m proto.Message) error {
	err := protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
	if err != nil {
		return invalid(err)
	}
	return nil
}

// decodeError sorts an error of encoding/json decoding into v.
func decodeError(v any, err error) error {
	if err == nil {
		return nil
	}
	var iue *stdjson.InvalidUnmarshalError
	if errors.As(err, &iue) {
		return unsupported("read into", v)
	}
	return invalid(err)
}

func invalid(err error) error {
	return fmt.Errorf("%w: json: %w", codec.ErrInvalidMessage, err)
}

func unsupported(op string, v any) error {
	return fmt.Errorf("%w: codec/json cannot %s %T", codec.ErrUnsupportedType, op, v)
}
