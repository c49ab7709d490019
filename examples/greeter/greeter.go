// Package greeter is the service of the greeter example: its messages and
// its handler, shared by the server (greeter/srv) and the client
// (greeter/cli).
//
// Endpoints:
//
//   - Say.Hello: one greeting for a name.
//   - Say.Stream: a server stream of Count greetings, one every Interval.
//
// The server also subscribes to [Topic] and logs each [Event].
package greeter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/server"
)

// Name is the service name the greeter registers under.
const Name = "greeter"

// Topic is the topic the greeter listens on.
const Topic = "greeter.events"

// MaxCount bounds how many greetings one Say.Stream call asks for.
const MaxCount = 10000

// HelloRequest asks for a greeting.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is a greeting.
type HelloResponse struct {
	Msg string `json:"msg"`
}

// StreamRequest asks Say.Stream for Count greetings, one every Interval.
type StreamRequest struct {
	Name     string        `json:"name"`
	Count    int           `json:"count"`
	Interval time.Duration `json:"interval"`
}

// Event is what the greeter's subscriber receives.
type Event struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Say is the greeter's handler.
type Say struct{}

// Hello greets req.Name; an empty name is a bad request.
func (s *Say) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	if req.Name == "" {
		return errors.BadRequest(Name, "name is required")
	}
	rsp.Msg = "Hello " + req.Name
	return nil
}

// Stream reads one StreamRequest and sends its greetings, then ends the
// stream.
func (s *Say) Stream(ctx context.Context, stream server.Stream) error {
	var req StreamRequest
	if err := stream.Recv(&req); err != nil {
		if err == io.EOF {
			return errors.BadRequest(Name, "the stream carried no request")
		}
		return err
	}
	if req.Count < 1 || req.Count > MaxCount {
		return errors.BadRequest(Name, "count must be between 1 and %d, not %d", MaxCount, req.Count)
	}
	for i := range req.Count {
		if i > 0 && req.Interval > 0 {
			t := time.NewTimer(req.Interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		msg := &HelloResponse{Msg: fmt.Sprintf("Hello %s (%d of %d)", req.Name, i+1, req.Count)}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// Subscriber returns the function the server subscribes to Topic: it logs
// each event.
func Subscriber(log *slog.Logger) func(context.Context, *Event) error {
	return func(ctx context.Context, e *Event) error {
		log.Info("greeter: event", "name", e.Name, "message", e.Message)
		return nil
	}
}
