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
package errors

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"net/http"
)

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

// Error returns the wire form: the error as JSON.
func (e *Error) Error() string {
	b, err := json.Marshal(e)
	if err != nil { // cannot happen for this struct; keep Error total
		return fmt.Sprintf("%d %s: %s", e.Code, e.Status, e.Detail)
	}
	return string(b)
}

// Is reports whether target is an *Error with the same code and, when the
// target names one, the same id. It lets callers write
// errors.Is(err, &errors.Error{Code: 404}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
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
// code's standard text.
func New(id, detail string, code int32) *Error {
	return &Error{Id: id, Code: code, Detail: detail, Status: http.StatusText(int(code))}
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

// Parse decodes the wire form of an error. Text that is not an Error's JSON
// becomes an InternalServerError carrying the text as its detail, so Parse
// never fails and never loses the message.
func Parse(s string) *Error {
	e := new(Error)
	if err := json.Unmarshal([]byte(s), e); err != nil || e.Code == 0 && e.Detail == "" && e.Id == "" {
		return New("", s, http.StatusInternalServerError)
	}
	if e.Code == 0 {
		e.Code = 500
	}
	if e.Status == "" {
		e.Status = http.StatusText(int(e.Code))
	}
	return e
}

// FromError returns the *Error that err is or wraps. A context deadline
// becomes a Timeout (408) and a cancellation 499 (client closed request); any
// other error is parsed from its text, so an error that crossed the wire as
// plain text still yields an *Error. FromError(nil) is nil.
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if stderrors.As(err, &e) {
		return e
	}
	switch {
	case stderrors.Is(err, context.DeadlineExceeded):
		return New("", err.Error(), http.StatusRequestTimeout)
	case stderrors.Is(err, context.Canceled):
		return &Error{Code: 499, Detail: err.Error(), Status: "Client Closed Request"}
	}
	return Parse(err.Error())
}

// Code returns the code of err as FromError sees it, 0 for nil.
func Code(err error) int32 {
	if e := FromError(err); e != nil {
		return e.Code
	}
	return 0
}
