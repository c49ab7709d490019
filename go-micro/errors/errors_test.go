package errors

import (
	"context"
	stderrors "errors"
	"fmt"
	"net/http"
	"testing"
)

func TestConstructors(t *testing.T) {
	cases := []struct {
		fn   func(id, format string, a ...any) *Error
		code int32
	}{
		{BadRequest, 400}, {Unauthorized, 401}, {Forbidden, 403}, {NotFound, 404},
		{MethodNotAllowed, 405}, {Timeout, 408}, {Conflict, 409}, {RequestEntityTooLarge, 413},
		{InternalServerError, 500}, {NotImplemented, 501}, {BadGateway, 502},
		{ServiceUnavailable, 503}, {GatewayTimeout, 504},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.code), func(t *testing.T) {
			e := c.fn("go.micro.test", "thing %s is %d", "x", 7)
			if e.Code != c.code || e.Id != "go.micro.test" || e.Detail != "thing x is 7" ||
				e.Status != http.StatusText(int(c.code)) {
				t.Fatalf("got %+v", e)
			}
			// Round trip through the wire form.
			back := Parse(e.Error())
			if *back != *e {
				t.Fatalf("round trip: got %+v want %+v", back, e)
			}
			// And through a wrapped, flattened error.
			if got := FromError(fmt.Errorf("call: %w", e)); got != e {
				t.Fatalf("FromError did not unwrap: %v", got)
			}
			if got := FromError(stderrors.New(e.Error())); *got != *e {
				t.Fatalf("FromError of flattened text: got %+v", got)
			}
		})
	}
}

func TestFormatWithoutArgsKeepsPercent(t *testing.T) {
	e := BadRequest("x", "100% wrong")
	if e.Detail != "100% wrong" {
		t.Fatalf("detail = %q", e.Detail)
	}
}

func TestParseGarbage(t *testing.T) {
	for _, s := range []string{"", "boom", "{", "[]", `{"foo":1}`, "null"} {
		e := Parse(s)
		if e.Code != 500 || e.Detail != s {
			t.Errorf("Parse(%q) = %+v", s, e)
		}
	}
}

func TestFromErrorContext(t *testing.T) {
	if c := Code(context.DeadlineExceeded); c != 408 {
		t.Errorf("deadline: code %d", c)
	}
	if c := Code(fmt.Errorf("x: %w", context.Canceled)); c != 499 {
		t.Errorf("canceled: code %d", c)
	}
	if FromError(nil) != nil || Code(nil) != 0 {
		t.Error("nil error should map to nil / 0")
	}
}

func TestIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", NotFound("svc", "no"))
	if !stderrors.Is(err, &Error{Code: 404}) {
		t.Error("Is by code failed")
	}
	if !stderrors.Is(err, &Error{Id: "svc"}) {
		t.Error("Is by id failed")
	}
	if stderrors.Is(err, &Error{Code: 500}) {
		t.Error("Is matched a different code")
	}
	if stderrors.Is(err, &Error{}) {
		t.Error("Is matched an empty target")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(`{"id":"a","code":404,"detail":"x","status":"Not Found"}`)
	f.Add("plain")
	f.Add(`{"code":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		e := Parse(s)
		if e == nil || e.Code == 0 {
			t.Fatalf("Parse(%q) = %+v", s, e)
		}
	})
}
