// Package wire holds the small I/O helpers the built-in codecs share.
package wire

import (
	"io"

	"github.com/openmicro/go-micro/codec"
)

// ReadAll appends everything r yields until io.EOF to b and returns the
// extended slice; unlike io.ReadAll it reuses b's spare capacity, so a
// codec can keep one scratch buffer between messages.
func ReadAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// ReadTracker wraps a reader and remembers its last error other than
// io.EOF, so that a decoder can tell a broken connection from malformed
// input.
type ReadTracker struct {
	R   io.Reader
	Err error
}

func (t *ReadTracker) Read(p []byte) (int, error) {
	n, err := t.R.Read(p)
	if err != nil && err != io.EOF {
		t.Err = err
	}
	return n, err
}

// Side names the side of a call that sends messages of type t: "request"
// for requests and events, "response" for responses and errors, and ""
// for any other type. The rpc codecs use it to refuse a message of the
// wrong side.
func Side(t codec.MessageType) string {
	switch t {
	case codec.Request, codec.Event:
		return "request"
	case codec.Response, codec.Error:
		return "response"
	}
	return ""
}
