package api

import (
	"net/http"
	"time"

	"github.com/openmicro/go-micro/errors"
)

// reqInfo is what the handlers tell the access log about a request.
type reqInfo struct {
	service, endpoint string
	topic             string
	err               *errors.Error // the error answered
	cause             string        // what the answer left out, for the log
	aborted           bool          // the handler panicked
}

// infoOf returns the reqInfo of the request w answers, nil when w is not
// the gateway's (a handler used on its own).
func infoOf(w http.ResponseWriter) *reqInfo {
	if sw, ok := w.(*statusWriter); ok {
		return &sw.info
	}
	return nil
}

// setTarget records the service and endpoint a request resolved to.
func setTarget(w http.ResponseWriter, service, endpoint string) {
	if info := infoOf(w); info != nil {
		info.service, info.endpoint = service, endpoint
	}
}

// readDeadliner is the part of the net/http ResponseWriters that bounds
// the reading of a request (http.ResponseController.SetReadDeadline).
type readDeadliner interface {
	SetReadDeadline(time.Time) error
}

// writeDeadliner is the part of the net/http ResponseWriters that bounds
// the writing of a response (http.ResponseController.SetWriteDeadline).
type writeDeadliner interface {
	SetWriteDeadline(time.Time) error
}

// bodyRead lifts the read deadline [Server] set for the request that w
// answers, once its body is read: the call that follows is bounded by its
// own deadline, and net/http's read of the connection's next request must
// not cancel it.
func bodyRead(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok && sw.deadline {
		sw.deadline = false
		_ = sw.rd.SetReadDeadline(time.Time{})
	}
}
