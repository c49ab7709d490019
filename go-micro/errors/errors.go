// Package errors is the one error type that crosses the wire between go-micro
// services. An [Error] travels as JSON ({"id", "code", "detail", "status"})
// and comes back on the caller's side as *Error with its code intact.
//
// Constructors exist for the common HTTP-class codes; [FromError] recovers an
// *Error from any error (through wrapping, with context cancellation and
// deadlines mapped to their codes) and [Parse] decodes the wire form.
//
// The package is named errors so that callers write errors.NotFound(...); it
// re-exports nothing from the standard library's errors package.
//
// A nil *Error is safe to use: its Error method returns "null" (the JSON
// of nil), Is reports false, and [FromError] looks past it for a real
// *Error. Values are not changed after construction, so an *Error may be
// shared between goroutines.
package errors

import (
	"bytes"
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"net/http"
	"strconv"
)

// StatusClientClosedRequest (499) is the code of a request whose caller
// gave up: FromError maps context.Canceled to it.
const StatusClientClosedRequest = 499

// Error is the error type that crosses the wire.
type Error struct {
	// Id names the origin, usually the service that produced the error.
	Id string `json:"id"`
	// Code is an HTTP-class status code (400, 404, 500, ...).
	Code int32 `json:"code"`
	// Detail is the human-readable message.
	Detail string `json:"detail"`
	// Status is the text of the code, e.g. "Not Found".
	Status string `json:"status"`
}

// Error returns the wire form: the error as JSON, which [Parse] turns back
// into an equal *Error (strings that are not valid UTF-8 come back with
// U+FFFD in place of the bad bytes, as JSON cannot carry them). A nil
// *Error gives "null".
func (e *Error) Error() string {
	if e == nil {
		return "null"
	}
	b, err := json.Marshal(e)
	if err != nil { // cannot happen for this struct; keep Error total
		return fmt.Sprintf("%d %s: %s", e.Code, e.Status, e.Detail)
	}
	return string(b)
}

// Is reports whether target is an *Error with the same code and, when the
// target names one, the same id. It lets callers write
// errors.Is(err, &errors.Error{Code: 404}). A nil *Error, as receiver or
// target, matches nothing.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == nil || e == nil {
		return false
	}
	if t.Code != 0 && t.Code != e.Code {
		return false
	}
	if t.Id != "" && t.Id != e.Id {
		return false
	}
	return t.Code != 0 || t.Id != ""
}

// New returns an error with the given id, detail and code; the status is the
// code's standard text (empty for a code that has none).
func New(id, detail string, code int32) *Error {
	return &Error{Id: id, Code: code, Detail: detail, Status: StatusText(code)}
}

// StatusText returns the text of a code: http.StatusText, and "Client
// Closed Request" for [StatusClientClosedRequest].
func StatusText(code int32) string {
	if code == StatusClientClosedRequest {
		return "Client Closed Request"
	}
	return http.StatusText(int(code))
}

func newf(code int32, id, format string, a []any) *Error {
	detail := format
	if len(a) > 0 {
		detail = fmt.Sprintf(format, a...)
	}
	return New(id, detail, code)
}

// BadRequest (400): the request is malformed.
func BadRequest(id, format string, a ...any) *Error { return newf(400, id, format, a) }

// Unauthorized (401): no or invalid credentials.
func Unauthorized(id, format string, a ...any) *Error { return newf(401, id, format, a) }

// Forbidden (403): the caller may not do this.
func Forbidden(id, format string, a ...any) *Error { return newf(403, id, format, a) }

// NotFound (404): no such service, endpoint or resource.
func NotFound(id, format string, a ...any) *Error { return newf(404, id, format, a) }

// MethodNotAllowed (405).
func MethodNotAllowed(id, format string, a ...any) *Error { return newf(405, id, format, a) }

// Timeout (408): the request's deadline passed.
func Timeout(id, format string, a ...any) *Error { return newf(408, id, format, a) }

// Conflict (409): the request conflicts with current state.
func Conflict(id, format string, a ...any) *Error { return newf(409, id, format, a) }

// RequestEntityTooLarge (413): the body is over the size limit.
func RequestEntityTooLarge(id, format string, a ...any) *Error { return newf(413, id, format, a) }

// UnsupportedMediaType (415): no codec for the request's content type.
func UnsupportedMediaType(id, format string, a ...any) *Error { return newf(415, id, format, a) }

// InternalServerError (500): the handler failed.
func InternalServerError(id, format string, a ...any) *Error { return newf(500, id, format, a) }

// NotImplemented (501).
func NotImplemented(id, format string, a ...any) *Error { return newf(501, id, format, a) }

// BadGateway (502): an upstream answered badly.
func BadGateway(id, format string, a ...any) *Error { return newf(502, id, format, a) }

// ServiceUnavailable (503): no node could take the request.
func ServiceUnavailable(id, format string, a ...any) *Error { return newf(503, id, format, a) }

// GatewayTimeout (504): an upstream did not answer in time.
func GatewayTimeout(id, format string, a ...any) *Error { return newf(504, id, format, a) }

// wireError is what Parse reads: pointers tell a member that is absent
// from one that holds a zero value, and the code is kept raw so that a code
// written as a string ("404") is understood too.
type wireError struct {
	Id     *string         `json:"id"`
	Code   json.RawMessage `json:"code"`
	Detail *string         `json:"detail"`
	Status *string         `json:"status"`
}

// Parse decodes the wire form of an error. Text that is not a JSON object
// with at least one of the members id, code, detail and status becomes an
// InternalServerError carrying the whole text as its detail, so Parse never
// fails and never loses the message. A code that is missing, zero, or not
// an integer in int32 range (as a number or a string) becomes 500; a
// missing status is filled in from the code. Unknown members are ignored.
func Parse(s string) *Error {
	var w wireError
	if err := json.Unmarshal([]byte(s), &w); err != nil ||
		w.Id == nil && w.Code == nil && w.Detail == nil && w.Status == nil {
		return New("", s, http.StatusInternalServerError)
	}
	e := new(Error)
	if w.Id != nil {
		e.Id = *w.Id
	}
	if w.Detail != nil {
		e.Detail = *w.Detail
	}
	if w.Status != nil {
		e.Status = *w.Status
	}
	e.Code = parseCode(w.Code)
	if e.Code == 0 {
		e.Code = http.StatusInternalServerError
	}
	if e.Status == "" {
		e.Status = StatusText(e.Code)
	}
	return e
}

// parseCode reads a code written as a JSON number or string; 0 when it is
// missing, null or not an int32.
func parseCode(raw json.RawMessage) int32 {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0
		}
		raw = []byte(s)
	}
	n, err := strconv.ParseInt(string(raw), 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// FromError returns the *Error that err is or wraps (through %w and
// errors.Join, the first non-nil one in errors.As order). A context
// deadline becomes a Timeout (408) and a cancellation 499 (client closed
// request); any other error is parsed from its text, so an error that
// crossed the wire as plain text still yields an *Error. FromError(nil) is
// nil, and FromError of any other error is never nil.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	if e := find(err); e != nil {
		return e
	}
	switch {
	case stderrors.Is(err, context.DeadlineExceeded):
		return New("", err.Error(), http.StatusRequestTimeout)
	case stderrors.Is(err, context.Canceled):
		return New("", err.Error(), StatusClientClosedRequest)
	}
	return Parse(err.Error())
}

// find walks the tree of err as errors.As does and returns the first
// non-nil *Error in it; errors.As alone would stop at a nil one.
func find(err error) *Error {
	var e *Error
	if !stderrors.As(err, &e) {
		return nil
	}
	if e != nil {
		return e
	}
	// A nil *Error came first: look further, depth first.
	for err != nil {
		if x, ok := err.(*Error); ok && x != nil {
			return x
		}
		if x, ok := err.(interface{ As(any) bool }); ok {
			var t *Error
			if x.As(&t) && t != nil {
				return t
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, err := range u.Unwrap() {
				if err == nil {
					continue
				}
				if e := find(err); e != nil {
					return e
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// Code returns the code of err as FromError sees it, 0 for nil.
func Code(err error) int32 {
	if e := FromError(err); e != nil {
		return e.Code
	}
	return 0
}
