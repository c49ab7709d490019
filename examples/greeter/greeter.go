// Package greeter is the service of the greeter example: its handler and
// subscriber, shared by the server (greeter/srv), and the calls its client
// (greeter/cli) makes. The API is greeter/proto/greeter.proto; its
// messages, client and handler interfaces are generated into the package
// github.com/openmicro/examples/greeter/proto by protoc-gen-go and
// protoc-gen-micro (scripts/generate.sh).
//
// Endpoints:
//
//   - Say.Hello: one greeting for a name.
//   - Say.Stream: a server stream of Count greetings, one every Interval.
//
// The server also subscribes to [Topic] and logs each event.
package greeter

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	pb "github.com/openmicro/examples/greeter/proto"
	"github.com/openmicro/go-micro/errors"
)

// Name is the service name the greeter registers under.
const Name = "greeter"

// Topic is the topic the greeter listens on.
const Topic = "greeter.events"

// MaxCount bounds how many greetings one Say.Stream call asks for.
const MaxCount = 10000

// Say is the greeter's handler: it implements pb.SayHandler.
type Say struct{}

var _ pb.SayHandler = (*Say)(nil)

// Hello greets req.Name; an empty name is a bad request.
func (s *Say) Hello(ctx context.Context, req *pb.HelloRequest, rsp *pb.HelloResponse) error {
	if req.GetName() == "" {
		return errors.BadRequest(Name, "name is required")
	}
	rsp.Msg = "Hello " + req.GetName()
	return nil
}

// Stream sends the greetings req asks for, then ends the stream. (A
// stream that carries no request is answered with a bad request by the
// generated code before Stream is called.)
func (s *Say) Stream(ctx context.Context, req *pb.StreamRequest, stream pb.Say_StreamStream) error {
	count := req.GetCount()
	if count < 1 || count > MaxCount {
		return errors.BadRequest(Name, "count must be between 1 and %d, not %d", MaxCount, count)
	}
	interval := time.Duration(req.GetInterval())
	for i := range count {
		if i > 0 && interval > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		msg := &pb.HelloResponse{Msg: fmt.Sprintf("Hello %s (%d of %d)", req.GetName(), i+1, count)}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

// Subscriber returns the function the server subscribes to Topic: it logs
// each event.
func Subscriber(log *slog.Logger) func(context.Context, *pb.Event) error {
	return func(ctx context.Context, e *pb.Event) error {
		log.Info("greeter: event", "name", e.GetName(), "message", e.GetMessage())
		return nil
	}
}
