package errors

import (
	"context"
	stderrors "errors"
	"fmt"
	"net/http"
	"testing"
	"unicode/utf8"
)

func TestConstructors(t *testing.T) {
	cases := []struct {
		fn   func(id, format string, a ...any) *Error
		code int32
	}{
		{BadRequest, 400}, {Unauthorized, 401}, {Forbidden, 403}, {NotFound, 404},
		{MethodNotAllowed, 405}, {Timeout, 408}, {Conflict, 409}, {RequestEntityTooLarge, 413}, {UnsupportedMediaType, 415},
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

func TestNilError(t *testing.T) {
	var nilErr *Error
	if got := nilErr.Error(); got != "null" {
		t.Errorf("nil Error() = %q, want null", got)
	}
	wrapped := fmt.Errorf("call: %w", nilErr)
	tests := []struct {
		name string
		is   func() bool
	}{
		{"nil receiver", func() bool { return stderrors.Is(wrapped, &Error{Code: 404}) }},
		{"nil target", func() bool { return stderrors.Is(NotFound("a", "b"), nilErr) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.is() {
				t.Fatal("a nil *Error matched")
			}
		})
	}
}

func TestFromErrorLooksPastNil(t *testing.T) {
	var nilErr *Error
	real := NotFound("svc", "gone")
	tests := []struct {
		name string
		err  error
		want *Error
	}{
		{"nil *Error alone", nilErr, New("", "null", 500)},
		{"wrapped nil *Error", fmt.Errorf("call: %w", nilErr), New("", "call: null", 500)},
		{"joined nil then real", stderrors.Join(nilErr, real), real},
		{"wrapped join", fmt.Errorf("x: %w", stderrors.Join(stderrors.New("a"), fmt.Errorf("y: %w", nilErr), real)), real},
		{"join, real first", stderrors.Join(real, context.Canceled), real},
		{"join of context errors", stderrors.Join(stderrors.New("a"), context.DeadlineExceeded),
			New("", "a\ncontext deadline exceeded", 408)},
		{"canceled", context.Canceled, New("", "context canceled", 499)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromError(tt.err)
			if got == nil {
				t.Fatal("FromError of a non-nil error is nil")
			}
			if *got != *tt.want {
				t.Fatalf("FromError = %+v, want %+v", got, tt.want)
			}
			if c := Code(tt.err); c != tt.want.Code {
				t.Fatalf("Code = %d, want %d", c, tt.want.Code)
			}
		})
	}
	if !stderrors.Is(stderrors.Join(stderrors.New("a"), fmt.Errorf("b: %w", real)), &Error{Code: 404}) {
		t.Error("errors.Is does not find an *Error inside errors.Join")
	}
}

func TestParseEdgeCases(t *testing.T) {
	tests := []struct {
		in   string
		want Error
	}{
		{`{"code":"404","detail":"x"}`, Error{Code: 404, Detail: "x", Status: "Not Found"}},
		{`{"code":" 404"}`, Error{Code: 500, Status: "Internal Server Error"}},
		{`{"code":-1,"detail":"x"}`, Error{Code: -1, Detail: "x"}},
		{`{"code":99999999999,"detail":"x"}`, Error{Code: 500, Detail: "x", Status: "Internal Server Error"}},
		{`{"code":404.5,"id":"a"}`, Error{Id: "a", Code: 500, Status: "Internal Server Error"}},
		{`{"code":true,"id":"a"}`, Error{Id: "a", Code: 500, Status: "Internal Server Error"}},
		{`{"code":null,"id":"a"}`, Error{Id: "a", Code: 500, Status: "Internal Server Error"}},
		{`{"id":"a","code":404}`, Error{Id: "a", Code: 404, Status: "Not Found"}},
		{`{"id":"a","code":404,"detail":"d","status":"S","extra":[1]}`, Error{Id: "a", Code: 404, Detail: "d", Status: "S"}},
		{`{"code":0}`, Error{Code: 500, Status: "Internal Server Error"}},
		{`{"id":"","code":0,"detail":"","status":""}`, Error{Code: 500, Status: "Internal Server Error"}},
		{`{"status":"Teapot"}`, Error{Code: 500, Status: "Teapot"}},
		{`{"CODE":404,"Detail":"x"}`, Error{Code: 404, Detail: "x", Status: "Not Found"}},
		{`{"code":499,"detail":"x"}`, Error{Code: 499, Detail: "x", Status: "Client Closed Request"}},
		{`{"code":404,"id":5}`, Error{Code: 500, Detail: `{"code":404,"id":5}`, Status: "Internal Server Error"}},
		{`{"code":404} trailing`, Error{Code: 500, Detail: `{"code":404} trailing`, Status: "Internal Server Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Parse(tt.in); *got != tt.want {
				t.Fatalf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRoundTripAwkwardText(t *testing.T) {
	for _, detail := range []string{"", `"quoted" \ back`, "<b>&amp;</b>", "multi\nline\t", "héllo 😀", "\x00\u2028"} {
		for _, id := range []string{"", "go.micro.srv.x", detail} {
			for _, code := range []int32{400, 404, 499, 500, 504, 599, -7, 2147483647} {
				e := New(id, detail, code)
				if back := Parse(e.Error()); *back != *e {
					t.Fatalf("Parse(%q) = %+v, want %+v", e.Error(), back, e)
				}
			}
		}
	}
}

// FuzzParse checks that Parse never fails and that its result survives the
// wire: Parse(e.Error()) == e for every e that Parse returns, once text
// that JSON cannot carry (invalid UTF-8) has been through the wire once.
func FuzzParse(f *testing.F) {
	f.Add(`{"id":"a","code":404,"detail":"x","status":"Not Found"}`)
	f.Add("plain")
	f.Add(`{"code":"x"}`)
	f.Fuzz(func(t *testing.T, s string) {
		e := Parse(s)
		if e == nil || e.Code == 0 {
			t.Fatalf("Parse(%q) = %+v", s, e)
		}
		once := Parse(e.Error())
		if utf8.ValidString(e.Id) && utf8.ValidString(e.Detail) && utf8.ValidString(e.Status) && *once != *e {
			t.Fatalf("Parse(%q) = %+v, but its wire form %q parses as %+v", s, e, e.Error(), once)
		}
		if twice := Parse(once.Error()); *twice != *once {
			t.Fatalf("wire form %q parses as %+v, want %+v", once.Error(), twice, once)
		}
	})
}

// FuzzFromError builds an *Error from fuzzed fields, hides it in the ways
// errors travel (wrapped, joined, flattened to text) and checks that
// FromError and errors.Is find it again.
func FuzzFromError(f *testing.F) {
	f.Add("go.micro.srv.greeter", "not found", int32(404), "calling")
	f.Add("", "", int32(0), "")
	f.Add("x", "\xff", int32(-1), "%w")
	f.Fuzz(func(t *testing.T, id, detail string, code int32, prefix string) {
		e := New(id, detail, code)
		wrapped := []error{
			e,
			fmt.Errorf("%s: %w", prefix, e),
			stderrors.Join(stderrors.New(prefix), fmt.Errorf("%s: %w", prefix, (*Error)(nil)), e),
			fmt.Errorf("%s: %w", prefix, stderrors.Join(context.Canceled, e)),
		}
		for i, err := range wrapped {
			if got := FromError(err); got != e {
				t.Fatalf("case %d: FromError(%v) = %+v, want %+v", i, err, got, e)
			}
			if code != 0 && !stderrors.Is(err, &Error{Code: code}) {
				t.Fatalf("case %d: errors.Is(%v, code %d) = false", i, err, code)
			}
		}
		got := FromError(stderrors.New(e.Error()))
		if got == nil || got.Code == 0 {
			t.Fatalf("FromError of the wire form %q = %+v", e.Error(), got)
		}
		if code != 0 && utf8.ValidString(id) && utf8.ValidString(detail) && *got != *e {
			t.Fatalf("FromError of the wire form %q = %+v, want %+v", e.Error(), got, e)
		}
	})
}
