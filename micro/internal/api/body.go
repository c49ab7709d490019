package api

import (
	"bytes"
	stdjson "encoding/json"
	stderrors "errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/openmicro/go-micro/errors"
)

// maxNameLength bounds the service and endpoint names of POST /rpc.
const maxNameLength = 255

// rpcRequest is what POST /rpc asks for.
type rpcRequest struct {
	Service  string
	Endpoint string
	// Request is the request message as JSON text, "{}" when none was
	// given.
	Request []byte
}

// bodyKind is how a request body is read.
type bodyKind int

const (
	kindNone bodyKind = iota // empty body
	kindJSON
	kindForm
	kindMultipart
)

// classify tells how to read a body of the given Content-Type: JSON
// (application/json, any +json type, or no Content-Type), a urlencoded or
// multipart form, or nothing when the body is empty. A urlencoded body that
// starts with '{' is read as JSON, as `curl -d '{...}'` sends JSON under
// the form type. Other types are a 415.
func classify(contentType string, body []byte) (bodyKind, string, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return kindNone, "", nil
	}
	if contentType == "" || contentType == "application/json" {
		return kindJSON, "", nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, "", errors.BadRequest(errorId, "malformed Content-Type %q: %v", contentType, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return kindJSON, "", nil
	case mt == "application/x-www-form-urlencoded":
		if looksJSON(body) {
			return kindJSON, "", nil
		}
		return kindForm, "", nil
	case mt == "multipart/form-data":
		if params["boundary"] == "" {
			return 0, "", errors.BadRequest(errorId, "multipart Content-Type without a boundary")
		}
		return kindMultipart, params["boundary"], nil
	}
	return 0, "", errors.UnsupportedMediaType(errorId,
		"unsupported Content-Type %q: send application/json or a form", contentType)
}

// looksJSON reports whether body starts, after white space, with '{'.
func looksJSON(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// parseForm reads the fields of a urlencoded or multipart body (the file
// parts of a multipart body are ignored).
func parseForm(kind bodyKind, boundary string, body []byte) (url.Values, error) {
	if kind == kindForm {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.BadRequest(errorId, "malformed form body: %v", err)
		}
		return v, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	// The body is in memory already: keep the parts there too.
	f, err := mr.ReadForm(int64(len(body)) + 1<<20)
	if err != nil {
		return nil, errors.BadRequest(errorId, "malformed multipart body: %v", err)
	}
	defer f.RemoveAll()
	return url.Values(f.Value), nil
}

// checkJSON returns body as a request message, or a 400 naming what field
// holds it when it is not valid JSON.
func checkJSON(what string, body []byte) ([]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	if !stdjson.Valid(body) {
		var v any
		err := stdjson.Unmarshal(body, &v) // only for its message
		return nil, errors.BadRequest(errorId, "malformed JSON in %s: %v", what, err)
	}
	return body, nil
}

// decodeRPC reads the body of POST /rpc: a JSON object {"service",
// "endpoint" (or "method"), "request"} or form fields of those names. A
// request that is a JSON string is read as the JSON text it holds (as a
// form field is). A missing request is {}.
func decodeRPC(contentType string, body []byte) (rpcRequest, error) {
	kind, boundary, err := classify(contentType, body)
	if err != nil {
		return rpcRequest{}, err
	}
	var service, endpoint, method string
	var request []byte
	switch kind {
	case kindNone:
		return rpcRequest{}, errors.BadRequest(errorId, "empty body: send service, endpoint and request")
	case kindJSON:
		var in struct {
			Service  *string            `json:"service"`
			Endpoint *string            `json:"endpoint"`
			Method   *string            `json:"method"`
			Request  stdjson.RawMessage `json:"request"`
		}
		dec := stdjson.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&in); err != nil {
			return rpcRequest{}, errors.BadRequest(errorId, "malformed JSON body: %v", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return rpcRequest{}, errors.BadRequest(errorId, "malformed JSON body: data after the object")
		}
		if !looksJSON(body) {
			return rpcRequest{}, errors.BadRequest(errorId, "malformed JSON body: want an object")
		}
		service, endpoint, method = deref(in.Service), deref(in.Endpoint), deref(in.Method)
		request = in.Request
		if r := bytes.TrimSpace(request); len(r) > 0 && r[0] == '"' {
			var s string
			if err := stdjson.Unmarshal(r, &s); err != nil {
				return rpcRequest{}, errors.BadRequest(errorId, "malformed JSON in request: %v", err)
			}
			request = []byte(s)
		} else if string(r) == "null" {
			request = nil
		}
	case kindForm, kindMultipart:
		v, err := parseForm(kind, boundary, body)
		if err != nil {
			return rpcRequest{}, err
		}
		service, endpoint, method = v.Get("service"), v.Get("endpoint"), v.Get("method")
		request = []byte(v.Get("request"))
	}
	if endpoint == "" {
		endpoint = method
	} else if method != "" && method != endpoint {
		return rpcRequest{}, errors.BadRequest(errorId, "endpoint %q and method %q differ: give one", endpoint, method)
	}
	if err := checkName("service", service); err != nil {
		return rpcRequest{}, err
	}
	if err := checkName("endpoint", endpoint); err != nil {
		return rpcRequest{}, err
	}
	req, err := checkJSON("request", request)
	if err != nil {
		return rpcRequest{}, err
	}
	return rpcRequest{Service: service, Endpoint: endpoint, Request: req}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkName accepts a service or endpoint name: 1 to 255 bytes of UTF-8
// without white space or control characters.
func checkName(what, name string) error {
	if name == "" {
		return errors.BadRequest(errorId, "no %s given", what)
	}
	if len(name) > maxNameLength {
		return errors.BadRequest(errorId, "%s longer than %d bytes", what, maxNameLength)
	}
	if !utf8.ValidString(name) {
		return errors.BadRequest(errorId, "%s %q is not valid UTF-8", what, name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errors.BadRequest(errorId, "%s %q holds white space or a control character", what, name)
		}
	}
	return nil
}

// decodeCall builds the request message of the rpc handler: a JSON body as
// it is; form fields, or the query parameters (rawQuery, parsed only then)
// when the body is empty, as an object of strings (a repeated field as an
// array of strings); {} when there is neither.
func decodeCall(contentType, rawQuery string, body []byte) ([]byte, error) {
	kind, boundary, err := classify(contentType, body)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindJSON:
		return checkJSON("body", body)
	case kindForm, kindMultipart:
		v, err := parseForm(kind, boundary, body)
		if err != nil {
			return nil, err
		}
		return valuesJSON(v), nil
	}
	if rawQuery == "" {
		return []byte("{}"), nil
	}
	query, _ := url.ParseQuery(rawQuery) // as http.Request.URL.Query: what parses
	return valuesJSON(query), nil
}

// valuesJSON is v as a JSON object: one value as a string, more as an
// array of strings.
func valuesJSON(v url.Values) []byte {
	if len(v) == 0 {
		return []byte("{}")
	}
	m := make(map[string]any, len(v))
	for k, vs := range v {
		switch len(vs) {
		case 0:
			m[k] = ""
		case 1:
			m[k] = vs[0]
		default:
			m[k] = vs
		}
	}
	b, _ := stdjson.Marshal(m) // strings only: cannot fail
	return b
}

// readBody reads r's body up to limit bytes into buf (nil for a buffer of
// its own): a larger one is a *http.MaxBytesError, one not received
// within the request timeout errSlowBody (see [Server]), and a body that
// breaks off a 400. Once the whole body is read, the read deadline
// [Server] set is lifted; after an error it stays, to bound net/http's
// reading of what is left. A body whose length is known is read in one
// piece of that size.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, buf *buffer) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		bodyRead(w)
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if buf == nil {
		buf = new(buffer)
	}
	var err error
	if n := int(r.ContentLength); n > 0 {
		buf.b = slices.Grow(buf.b[:0], n)[:n]
		_, err = io.ReadFull(r.Body, buf.b)
	} else {
		err = buf.readFrom(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); stderrors.As(err, &mbe) {
			return nil, err
		}
		if ne := net.Error(nil); stderrors.Is(err, os.ErrDeadlineExceeded) || stderrors.As(err, &ne) && ne.Timeout() {
			return nil, errSlowBody
		}
		return nil, errors.BadRequest(errorId, "reading the body: %v", err)
	}
	bodyRead(w)
	return buf.b, nil
}

// buffer is what a body is read into.
type buffer struct{ b []byte }

// readFrom appends what r gives until io.EOF, which it does not return.
func (buf *buffer) readFrom(r io.Reader) error {
	b := buf.b[:0]
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, max(512, cap(b)))
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			buf.b = b
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// maxPooledBuffer is the largest buffer kept for another request.
const maxPooledBuffer = 64 << 10

// bufferPool holds the buffers of the handlers that are done with the
// body once they answered (not the event handler's: a broker may keep the
// body).
var bufferPool = sync.Pool{New: func() any { return new(buffer) }}

func getBuffer() *buffer { return bufferPool.Get().(*buffer) }

// release gives buf back for another request; what was read into it must
// not be used any more.
func (buf *buffer) release() {
	if cap(buf.b) <= maxPooledBuffer {
		buf.b = buf.b[:0]
		bufferPool.Put(buf)
	}
}
