package errors_test

import (
	"context"
	stderrors "errors"
	"fmt"

	"github.com/openmicro/go-micro/errors"
)

// An *Error travels as JSON and is parsed back on the caller's side; errors.Is
// matches it by code (and by id, when the target names one).
func Example() {
	err := errors.NotFound("go.micro.srv.greeter", "user %s not found", "42")
	wire := err.Error()
	fmt.Println(wire)

	back := errors.Parse(wire)
	fmt.Println(back.Code, back.Status)
	wrapped := fmt.Errorf("calling greeter: %w", back)
	fmt.Println(stderrors.Is(wrapped, &errors.Error{Code: 404}))
	fmt.Println(stderrors.Is(wrapped, &errors.Error{Code: 500}))
	fmt.Println(errors.Code(wrapped))
	// Output:
	// {"id":"go.micro.srv.greeter","code":404,"detail":"user 42 not found","status":"Not Found"}
	// 404 Not Found
	// true
	// false
	// 404
}

// FromError turns any error into an *Error: context errors map to their
// codes and plain text becomes a 500 that keeps the text.
func ExampleFromError() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(errors.FromError(ctx.Err()).Code)
	fmt.Println(errors.FromError(context.DeadlineExceeded).Code)
	e := errors.FromError(stderrors.New("disk full"))
	fmt.Println(e.Code, e.Detail)
	// Output:
	// 499
	// 408
	// 500 disk full
}
