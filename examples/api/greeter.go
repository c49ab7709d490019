package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/openmicro/go-micro/api"
)

// Name is the service name the greeter registers under: the gateway's
// namespace (go.micro.api) plus "greeter", so that /greeter/hello resolves
// to it, endpoint Greeter.Hello.
const Name = "go.micro.api.greeter"

// HeaderGreeter is the header a successful greeting carries, to show that
// the service chooses its own response headers.
const HeaderGreeter = "X-Greeter"

// MaxNameLength is the longest name greeted, in characters.
const MaxNameLength = 64

// Greeter is the handler. Registered under its type name, its method Hello
// is the endpoint Greeter.Hello. It has no state and is safe for
// concurrent use.
type Greeter struct{}

// greeting is the body of a successful answer.
type greeting struct {
	Message string `json:"message"`
}

// failure is the body of an error answer.
type failure struct {
	Error string `json:"error"`
}

// errUnsupported marks a request body whose Content-Type the greeter does
// not read.
var errUnsupported = errors.New("api greeter: unsupported content type")

// Hello greets the name given in the query (?name=Ann), in a JSON body
// ({"name":"Ann"}) or in a form body (name=Ann), in that order. It answers
// 200 with {"message":"Hello Ann"} and the [HeaderGreeter] header; 400 with
// {"error":...} when the name is missing, too long or not printable text,
// or the body is not valid JSON; 415 for a body of another type; 405 (with
// Allow) for another method than GET or POST. It never returns an error:
// every answer, the failures included, is an HTTP response of its own.
func (g *Greeter) Hello(_ context.Context, req *api.Request, rsp *api.Response) error {
	switch req.GetMethod() {
	case http.MethodGet, http.MethodPost:
	default:
		writeJSON(rsp, http.StatusMethodNotAllowed, failure{Error: fmt.Sprintf("method %s: use GET or POST", req.GetMethod())})
		setHeader(rsp, "Allow", "GET, POST")
		return nil
	}
	name, err := nameOf(req)
	switch {
	case errors.Is(err, errUnsupported):
		writeJSON(rsp, http.StatusUnsupportedMediaType, failure{Error: err.Error()})
		return nil
	case err != nil:
		writeJSON(rsp, http.StatusBadRequest, failure{Error: err.Error()})
		return nil
	}
	writeJSON(rsp, http.StatusOK, greeting{Message: "Hello " + name})
	setHeader(rsp, HeaderGreeter, "api example")
	return nil
}

// nameOf finds the name in the request and checks it.
func nameOf(req *api.Request) (string, error) {
	name, found := "", false
	if p := req.GetGet()["name"]; p != nil {
		name, found = api.Get(req.GetGet(), "name"), true
	}
	if !found && len(req.GetBody()) > 0 {
		var err error
		if name, found, err = nameInBody(req); err != nil {
			return "", err
		}
	}
	name = strings.TrimSpace(name)
	switch {
	case !found || name == "":
		return "", errors.New("api greeter: name is required: pass ?name=... or a JSON body {\"name\": ...}")
	case !utf8.ValidString(name):
		return "", errors.New("api greeter: name is not valid UTF-8")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return "", fmt.Errorf("api greeter: name is longer than %d characters", MaxNameLength)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return "", errors.New("api greeter: name holds a character that is not printable")
	}
	return name, nil
}

// nameInBody reads the name from a form body (which the gateway parsed into
// req.Post) or a JSON body (a body with no Content-Type is taken as JSON).
func nameInBody(req *api.Request) (name string, found bool, err error) {
	ct := api.Get(req.GetHeader(), "Content-Type")
	kind := "application/json"
	if ct != "" {
		if kind, _, err = mime.ParseMediaType(ct); err != nil {
			return "", false, fmt.Errorf("api greeter: Content-Type %q: %w", ct, err)
		}
	}
	switch {
	case kind == "application/x-www-form-urlencoded" || kind == "multipart/form-data":
		if p := req.GetPost()["name"]; p != nil {
			return api.Get(req.GetPost(), "name"), true, nil
		}
		return "", false, nil
	case kind == "application/json" || strings.HasSuffix(kind, "+json"):
		var body struct {
			Name *string `json:"name"`
		}
		if err := json.Unmarshal(req.GetBody(), &body); err != nil {
			return "", false, fmt.Errorf("api greeter: the body is not a JSON object with a name: %w", err)
		}
		if body.Name == nil {
			return "", false, nil
		}
		return *body.Name, true, nil
	}
	return "", false, fmt.Errorf("%w %q: send JSON or a form", errUnsupported, kind)
}

// writeJSON sets the status and a JSON body.
func writeJSON(rsp *api.Response, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the bodies here are plain structs of strings
		code, b = http.StatusInternalServerError, []byte(`{"error":"api greeter: encoding the answer failed"}`)
	}
	rsp.StatusCode = int32(code)
	rsp.Body = append(b, '\n')
	setHeader(rsp, "Content-Type", "application/json")
}

// setHeader sets one header of the response.
func setHeader(rsp *api.Response, key, value string) {
	if rsp.Header == nil {
		rsp.Header = make(map[string]*api.Pair)
	}
	rsp.Header[key] = &api.Pair{Key: key, Values: []string{value}}
}
