package cli

import (
	"context"
	stderrors "errors"
	"fmt"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry"
)

// ErrServiceNotFound is wrapped by the error of a command naming a service
// that the registry does not know.
var ErrServiceNotFound = stderrors.New("service not found")

// exitError is an error with the exit status it gives.
type exitError struct {
	code int
	err  error
	// printed is set when the message was already written to stderr.
	printed bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// failure is an error with status ExitFailure.
func failure(format string, args ...any) error {
	return &exitError{code: ExitFailure, err: fmt.Errorf(format, args...)}
}

// badInput is an error with status ExitUsage that prints no help: the
// command line was right, its JSON or values were not.
func badInput(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// interrupted is the status of a command stopped by a signal.
func interrupted() error { return &exitError{code: ExitInterrupted} }

// notFound is the error of a service the registry does not know.
func notFound(name string) error {
	return &exitError{code: ExitFailure, err: fmt.Errorf("%w: %s", ErrServiceNotFound, name)}
}

// describe renders an error for a person: an *errors.Error as its detail
// with its code, anything else as it is.
func describe(err error) string {
	var me *errors.Error
	if stderrors.As(err, &me) {
		detail := me.Detail
		if detail == "" {
			detail = me.Status
		}
		return fmt.Sprintf("%s (%d %s from %s)", detail, me.Code, me.Status, me.Id)
	}
	return err.Error()
}

// isCanceled reports whether err comes from a context that was canceled
// (the command was interrupted).
func isCanceled(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return true
	}
	if stderrors.Is(err, context.Canceled) {
		return true
	}
	var me *errors.Error
	return stderrors.As(err, &me) && me.Code == errors.StatusClientClosedRequest
}

// isNotFound reports whether a registry error means the service is not
// registered.
func isNotFound(err error) bool { return stderrors.Is(err, registry.ErrNotFound) }
