package greeter

import (
	"context"
	"fmt"
	"io"

	"github.com/openmicro/go-micro/client"
)

// Greet calls the greeter through c: Say.Hello for name, then Say.Stream
// for count greetings, writing each answer to out on a line of its own.
// opts apply to both calls; without client.WithAddress the client's
// selector finds the greeter in the registry. Errors name the endpoint
// and wrap the call's error, so errors.Code reads its code.
func Greet(ctx context.Context, c client.Client, out io.Writer, name string, count int, opts ...client.CallOption) error {
	var rsp HelloResponse
	req := c.NewRequest(Name, "Say.Hello", &HelloRequest{Name: name})
	if err := c.Call(ctx, req, &rsp, opts...); err != nil {
		return fmt.Errorf("Say.Hello: %w", err)
	}
	fmt.Fprintln(out, rsp.Msg)

	stream, err := c.Stream(ctx, c.NewRequest(Name, "Say.Stream", nil), opts...)
	if err != nil {
		return fmt.Errorf("Say.Stream: %w", err)
	}
	defer stream.Close()
	if err := stream.Send(&StreamRequest{Name: name, Count: count}); err != nil {
		return fmt.Errorf("Say.Stream: %w", err)
	}
	if err := stream.CloseSend(); err != nil {
		return fmt.Errorf("Say.Stream: %w", err)
	}
	for {
		var msg HelloResponse
		if err := stream.Recv(&msg); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("Say.Stream: %w", err)
		}
		fmt.Fprintln(out, msg.Msg)
	}
}
