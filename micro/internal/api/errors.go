package api

import (
	"context"
	stdjson "encoding/json"
	stderrors "errors"
	"net/http"

	"github.com/openmicro/go-micro/errors"
)

// errorId is the Id of the errors the gateway makes itself.
const errorId = "go.micro.api"

var (
	// ErrNoClient is the error of a handler that needs a client and was
	// given none ([Client]); it is answered with 500.
	ErrNoClient = stderrors.New("api: no client (use api.Client)")
	// ErrNoBroker is the error of the event handler without a broker
	// ([Broker]); it is answered with 503.
	ErrNoBroker = stderrors.New("api: no broker (use api.Broker)")
)

// WriteError writes err as a JSON error response: the body is the
// errors.Error JSON ({"id","code","detail","status"}) and the status its
// code. It finds the code this way:
//
//   - an *errors.Error anywhere in err's chain gives its code, except
//     that a 408 is written as 504 Gateway Timeout: behind a gateway a 408
//     means the call's deadline passed, whether the go-micro client
//     ("go.micro.client") or the service's server noticed first;
//   - context.DeadlineExceeded gives 504 and context.Canceled 499;
//   - *http.MaxBytesError gives 413;
//   - [ErrNoService] gives 404, [ErrInvalidPath] 400, [ErrNoBroker] 503;
//   - anything else 500, with the detail "internal error".
//
// A code outside 400-599 (but 499) is written as 500, so an error is never
// sent with a success status. The errors of the gateway and of the go-micro
// client that carry the text of a lower-level error (an unreachable node's
// address, a registry's or broker's failure) are answered with a short
// detail naming the service or topic; the gateway's access log has the
// rest. WriteError sets Content-Type to application/json. On the
// gateway's own ResponseWriter it writes nothing when a response was
// already started, but still tells the access log.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e, cause := toError(err)
	if sw, ok := w.(*statusWriter); ok {
		sw.info.err, sw.info.cause = e, cause
		if sw.status != 0 {
			return
		}
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h.Del("Content-Length")
	w.WriteHeader(int(e.Code))
	if r != nil && r.Method == http.MethodHead {
		return
	}
	b, _ := stdjson.Marshal(e) // a struct of strings and an int: cannot fail
	b = append(b, '\n')
	_, _ = w.Write(b)
}

// Header values set on every answer, shared: net/http never changes them.
var (
	jsonContentType = []string{"application/json"}
	nosniff         = []string{"nosniff"}
)

// hidden is an error answered with a public detail, its cause going to the
// access log only: the gateway's errors built around a lower-level error.
type hidden struct {
	public *errors.Error
	cause  error
}

func (h *hidden) Error() string { return h.public.Detail + ": " + h.cause.Error() }
func (h *hidden) Unwrap() error { return h.cause }

// hide returns an error answered as public, with cause in the access log.
func hide(public *errors.Error, cause error) error { return &hidden{public: public, cause: cause} }

// clientErrorId is the Id of the errors the go-micro client makes itself.
const clientErrorId = "go.micro.client"

// callError is the error of a failed call to service: the go-micro client's
// own errors that hold the text of a lower-level one (a node's address,
// the registry's failure) are hidden behind a detail naming the service.
func callError(service string, err error) error {
	e, ok := stderrors.AsType[*errors.Error](err)
	if !ok || e == nil || e.Id != clientErrorId {
		return err
	}
	switch e.Code {
	case http.StatusServiceUnavailable:
		return hide(errors.ServiceUnavailable(clientErrorId, "service %q unavailable", service), err)
	case http.StatusInternalServerError:
		return hide(errors.InternalServerError(clientErrorId, "call to service %q failed", service), err)
	case http.StatusRequestEntityTooLarge:
		return hide(errors.RequestEntityTooLarge(clientErrorId, "request to service %q over the transport's message size limit", service), err)
	}
	return err
}

// errSlowBody is the error of a request body not received within the
// request timeout; it is answered with 408.
var errSlowBody = stderrors.New("api: request body not received within the request timeout")

// toError turns any error into the *errors.Error a response carries, and
// what it leaves out for the access log.
func toError(err error) (*errors.Error, string) {
	if err == nil {
		return errors.InternalServerError(errorId, "unknown error"), ""
	}
	var mbe *http.MaxBytesError
	var e *errors.Error
	var h *hidden
	cause := ""
	switch {
	case stderrors.As(err, &h):
		e, cause = h.public, h.cause.Error()
	case stderrors.Is(err, errSlowBody):
		e = errors.New(errorId, err.Error(), http.StatusRequestTimeout)
	case stderrors.As(err, &e) && e != nil:
		if e.Code == http.StatusRequestTimeout {
			e = errors.New(e.Id, e.Detail, http.StatusGatewayTimeout)
		}
	case stderrors.As(err, &mbe):
		e = errors.RequestEntityTooLarge(errorId, "request body over the limit of %d bytes", mbe.Limit)
	case stderrors.Is(err, context.DeadlineExceeded):
		e = errors.GatewayTimeout(errorId, "%v", err)
	case stderrors.Is(err, context.Canceled):
		e = errors.New(errorId, err.Error(), errors.StatusClientClosedRequest)
	case stderrors.Is(err, ErrNoService):
		e = errors.NotFound(errorId, "%v", err)
	case stderrors.Is(err, ErrInvalidPath):
		e = errors.BadRequest(errorId, "%v", err)
	case stderrors.Is(err, ErrNoBroker):
		e = errors.ServiceUnavailable(errorId, "%v", err)
	default:
		e = errors.FromError(err)
		if e.Id == "" && e.Code == http.StatusInternalServerError {
			e, cause = errors.InternalServerError(errorId, "internal error"), err.Error()
		} else if e.Id == "" {
			e = errors.New(errorId, e.Detail, e.Code)
		}
	}
	if e.Code != errors.StatusClientClosedRequest && (e.Code < 400 || e.Code > 599) {
		e = errors.New(e.Id, e.Detail, http.StatusInternalServerError)
	}
	if e.Status == "" {
		e = errors.New(e.Id, e.Detail, e.Code)
	}
	return e, cause
}
