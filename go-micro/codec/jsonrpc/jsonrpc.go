package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	stdjson "encoding/json"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/internal/wire"
	"github.com/openmicro/go-micro/codec/json"
)

const (
	// ContentType is the content type the codec is registered under.
	ContentType = "application/json-rpc"
	// Name is the name String returns.
	Name = "jsonrpc"
)

func init() { codec.Register(ContentType, NewCodec) }

// errNoHeader is returned by ReadBody when no header was read before it.
var errNoHeader = errors.New("codec/jsonrpc: ReadBody called before ReadHeader")

// request is the shape written for requests and events.
type request struct {
	ID      any                  `json:"id"`
	Method  string               `json:"method"`
	Params  []stdjson.RawMessage `json:"params"`
	Service string               `json:"service,omitempty"`
	Header  map[string]string    `json:"header,omitempty"`
}

// response is the shape written for responses and errors.
type response struct {
	ID      any                `json:"id"`
	Result  stdjson.RawMessage `json:"result"`
	Error   *string            `json:"error"`
	Service string             `json:"service,omitempty"`
	Header  map[string]string  `json:"header,omitempty"`
}

// envelope is what is read: the union of both shapes.
type envelope struct {
	ID      stdjson.RawMessage `json:"id"`
	Method  string             `json:"method"`
	Params  stdjson.RawMessage `json:"params"`
	Result  stdjson.RawMessage `json:"result"`
	Error   stdjson.RawMessage `json:"error"`
	Service string             `json:"service"`
	Header  map[string]string  `json:"header"`
}

type jsonrpcCodec struct {
	rwc     io.ReadWriteCloser
	rd      wire.ReadTracker
	dec     *stdjson.Decoder // made on first read, remade after a broken stream
	body    stdjson.RawMessage
	pending bool         // a header was read and its body not yet
	wbuf    bytes.Buffer // scratch for writing

	// numericIDs holds the ids of requests read whose id was a JSON number,
	// so that the response echoes the id as the number it was.
	numericIDs map[string]struct{}

	once     sync.Once
	closeErr error
}

// NewCodec returns a JSON-RPC codec over rwc.
func NewCodec(rwc io.ReadWriteCloser) codec.Codec {
	c := &jsonrpcCodec{rwc: rwc}
	c.rd.R = rwc
	return c
}

// ReadHeader reads the next envelope into m; see the package doc.
func (c *jsonrpcCodec) ReadHeader(m *codec.Message, t codec.MessageType) error {
	c.pending = false
	c.body = nil
	if c.dec == nil {
		c.dec = stdjson.NewDecoder(&c.rd)
	}
	var env *envelope
	if err := c.decode(&env); err != nil {
		return err
	}
	if env == nil {
		return invalid(errors.New("message is null, want an object"))
	}
	if m == nil {
		m = new(codec.Message)
	}
	id, numeric, err := parseID(env.ID)
	if err != nil {
		return err
	}
	msgErr, err := parseError(env.Error)
	if err != nil {
		return err
	}
	var body stdjson.RawMessage
	isRequest := env.Method != "" || !isNull(env.Params)
	if isRequest {
		if body, err = parseParams(env.Params); err != nil {
			return err
		}
	} else {
		body = env.Result
	}
	typ := codec.Response
	switch {
	case isRequest && t == codec.Event:
		typ = codec.Event
	case isRequest:
		typ = codec.Request
	case msgErr != "":
		typ = codec.Error
	}
	if want := wire.Side(t); want != "" && want != wire.Side(typ) {
		return invalid(fmt.Errorf("got a %v, want a %v", typ, t))
	}
	if numeric && isRequest {
		c.rememberNumeric(id)
	}
	*m = codec.Message{
		Id:       id,
		Type:     typ,
		Service:  env.Service,
		Endpoint: env.Method,
		Error:    msgErr,
		Header:   env.Header,
	}
	c.body = body
	c.pending = true
	return nil
}

// decode reads the next envelope and sorts its errors (see the json codec).
func (c *jsonrpcCodec) decode(v any) error {
	err := c.dec.Decode(v)
	if err == nil {
		return nil
	}
	if err == io.EOF {
		c.dec = nil // only white space is lost
		return io.EOF
	}
	if rerr := c.rd.Err; rerr != nil && errors.Is(err, rerr) {
		c.rd.Err = nil
		c.dec = nil
		return err
	}
	var syntax *stdjson.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		c.dec = nil
	}
	return invalid(err)
}

func isNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// maxNumericIDs bounds how many numeric request ids a codec remembers
// until their responses are written; past it, responses carry the id as a
// string.
const maxNumericIDs = 1024

func (c *jsonrpcCodec) rememberNumeric(id string) {
	if c.numericIDs == nil {
		c.numericIDs = make(map[string]struct{})
	}
	if len(c.numericIDs) < maxNumericIDs {
		c.numericIDs[id] = struct{}{}
	}
}

// parseID returns the id as text and whether it was a JSON number.
func parseID(raw stdjson.RawMessage) (string, bool, error) {
	if isNull(raw) {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := stdjson.Unmarshal(raw, &s); err != nil {
			return "", false, invalid(err)
		}
		return s, false, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return string(raw), true, nil
	}
	return "", false, invalid(fmt.Errorf("id %.40s is neither a string nor a number", raw))
}

func parseError(raw stdjson.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := stdjson.Unmarshal(raw, &s); err != nil {
			return "", invalid(err)
		}
		return s, nil
	}
	var b bytes.Buffer
	if err := stdjson.Compact(&b, raw); err != nil {
		return "", invalid(err)
	}
	// Compact keeps bytes that are not UTF-8, which no JSON string (the
	// form Write gives Message.Error) can carry: replace them, as decoding
	// a string does.
	return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
}

func parseParams(raw stdjson.RawMessage) (stdjson.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '[':
		var params []stdjson.RawMessage
		if err := stdjson.Unmarshal(raw, &params); err != nil {
			return nil, invalid(err)
		}
		switch len(params) {
		case 0:
			return nil, nil
		case 1:
			return params[0], nil
		}
		return nil, invalid(fmt.Errorf("params has %d elements, want at most one (the body)", len(params)))
	case '{':
		return raw, nil
	}
	return nil, invalid(fmt.Errorf("params %.40s is neither an array nor an object", raw))
}

// ReadBody decodes the body of the message whose header was just read.
func (c *jsonrpcCodec) ReadBody(v any) error {
	if !c.pending {
		return errNoHeader
	}
	c.pending = false
	body := c.body
	c.body = nil
	if v == nil || isNull(body) {
		return nil
	}
	return json.Unmarshal(body, v)
}

// Write writes one envelope for m with body v.
func (c *jsonrpcCodec) Write(m *codec.Message, v any) error {
	if m == nil {
		return errors.New("codec/jsonrpc: Write of a nil message")
	}
	var id any
	if m.Id != "" {
		id = m.Id
	}
	var env any
	switch m.Type {
	case codec.Request, codec.Event:
		req := &request{ID: id, Method: m.Endpoint, Params: []stdjson.RawMessage{}, Service: m.Service, Header: m.Header}
		if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			req.Params = append(req.Params, b)
		}
		env = req
	case codec.Response, codec.Error:
		if _, ok := c.numericIDs[m.Id]; ok && m.Id != "" {
			delete(c.numericIDs, m.Id)
			id = stdjson.RawMessage(m.Id)
		}
		rsp := &response{ID: id, Service: m.Service, Header: m.Header}
		if m.Error != "" {
			rsp.Error = &m.Error
		} else if v != nil {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			rsp.Result = b
		}
		env = rsp
	default:
		return fmt.Errorf("codec/jsonrpc: cannot write a message of type %v (%d)", m.Type, int(m.Type))
	}
	// An Encoder, unlike Marshal, can leave <, > and & alone, so that a raw
	// body passes through as it was given.
	c.wbuf.Reset()
	enc := stdjson.NewEncoder(&c.wbuf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil { // Encode ends the value with '\n'
		return fmt.Errorf("codec/jsonrpc: encode envelope: %w", err)
	}
	_, err := c.rwc.Write(c.wbuf.Bytes())
	if c.wbuf.Cap() > keepBuffer {
		c.wbuf = bytes.Buffer{}
	}
	return err
}

// keepBuffer is the largest scratch buffer a codec keeps between messages.
const keepBuffer = 64 << 10

// Close closes the connection; later calls return the first call's error.
func (c *jsonrpcCodec) Close() error {
	c.once.Do(func() { c.closeErr = c.rwc.Close() })
	return c.closeErr
}

// String returns "jsonrpc".
func (c *jsonrpcCodec) String() string { return Name }

func invalid(err error) error {
	return fmt.Errorf("%w: jsonrpc: %w", codec.ErrInvalidMessage, err)
}

var _ codec.Codec = (*jsonrpcCodec)(nil)
