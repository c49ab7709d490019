// Command wrapper shows go-micro's middleware: a client wrapper that logs
// every call and adds a token to its metadata, and a handler wrapper that
// refuses calls without the token. It runs a service and calls it in one
// process over the memory registry.
//
//	go run ./wrapper
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	micro "github.com/openmicro/go-micro"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/metadata"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
)

// Token is the shared secret the handler wrapper expects in the
// "Authorization" metadata, as "Bearer " + Token.
const Token = "let-me-in"

// Request and Response of the Greeter.Hello endpoint.
type Request struct {
	Name string `json:"name"`
}

type Response struct {
	Msg string `json:"msg"`
}

// Greeter is the handler.
type Greeter struct{}

func (g *Greeter) Hello(ctx context.Context, req *Request, rsp *Response) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// logClient logs every call it makes, with its duration and outcome.
type logClient struct {
	client.Client
	log *slog.Logger
}

func (c *logClient) Call(ctx context.Context, req client.Request, rsp any, opts ...client.CallOption) error {
	start := time.Now()
	err := c.Client.Call(ctx, req, rsp, opts...)
	c.log.Info("call", "service", req.Service(), "endpoint", req.Endpoint(), "took", time.Since(start).Round(time.Microsecond), "err", err)
	return err
}

// LogWrapper is a client.Wrapper that logs calls.
func LogWrapper(log *slog.Logger) client.Wrapper {
	return func(c client.Client) client.Client { return &logClient{Client: c, log: log} }
}

// tokenClient adds the token to every call's metadata.
type tokenClient struct{ client.Client }

func (c *tokenClient) Call(ctx context.Context, req client.Request, rsp any, opts ...client.CallOption) error {
	ctx = metadata.Set(ctx, "Authorization", "Bearer "+Token)
	return c.Client.Call(ctx, req, rsp, opts...)
}

// TokenWrapper is a client.Wrapper that sends the token.
func TokenWrapper(c client.Client) client.Client { return &tokenClient{Client: c} }

// AuthWrapper is a server.HandlerWrapper that refuses calls whose
// metadata lacks the token with 401 Unauthorized. Debug endpoints stay open
// for health checks.
func AuthWrapper(next server.HandlerFunc) server.HandlerFunc {
	return func(ctx context.Context, req server.Request, rsp any) error {
		if req.Endpoint() == "Debug.Health" {
			return next(ctx, req, rsp)
		}
		if v, _ := metadata.Get(ctx, "Authorization"); v != "Bearer "+Token {
			return errors.Unauthorized(req.Service(), "a valid token is required for %s", req.Endpoint())
		}
		return next(ctx, req, rsp)
	}
}

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wrapper:", err)
		os.Exit(1)
	}
}

// run starts the service with AuthWrapper, calls it with a plain client
// (refused) and with the wrapped one (served), then stops.
func run(ctx context.Context, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "took" {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var callErr error
	var service micro.Service
	service = micro.NewService(
		micro.Name("greeter"),
		micro.Registry(memory.New()),
		micro.Args([]string{"wrapper"}),
		micro.Context(ctx),
		micro.Logger(slog.New(slog.DiscardHandler)),
		micro.WrapHandler(AuthWrapper),
		micro.AfterStart(func() error {
			defer cancel() // one round of calls, then stop
			plain := service.Client()
			wrapped := LogWrapper(log)(TokenWrapper(plain))
			req := plain.NewRequest("greeter", "Greeter.Hello", &Request{Name: "Ann"})

			var rsp Response
			err := LogWrapper(log)(plain).Call(ctx, req, &rsp)
			fmt.Fprintf(out, "without the token: %v\n", errors.FromError(err).Detail)
			if errors.Code(err) != 401 {
				callErr = fmt.Errorf("a call without the token got %v, want 401", err)
				return nil
			}
			if err := wrapped.Call(ctx, req, &rsp); err != nil {
				callErr = err
				return nil
			}
			fmt.Fprintf(out, "with the token: %s\n", rsp.Msg)
			return nil
		}),
	)
	if err := service.Init(); err != nil {
		return err
	}
	if err := service.Server().Handle(service.Server().NewHandler(&Greeter{})); err != nil {
		return err
	}
	if err := service.Run(); err != nil {
		return err
	}
	return callErr
}
