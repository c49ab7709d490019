package greeter

import (
	"context"
	"fmt"
	"io"

	pb "github.com/openmicro/examples/greeter/proto"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
)

// Greet calls the greeter through c with the generated client: Say.Hello
// for name, then Say.Stream for count greetings, writing each answer to
// out on a line of its own. opts apply to both calls; without
// client.WithAddress the client's selector finds the greeter in the
// registry. Errors name the endpoint and wrap the call's error, so
// errors.Code reads its code.
func Greet(ctx context.Context, c client.Client, out io.Writer, name string, count int, opts ...client.CallOption) error {
	say := pb.NewSayService(Name, c)
	rsp, err := say.Hello(ctx, &pb.HelloRequest{Name: name}, opts...)
	if err != nil {
		return fmt.Errorf("Say.Hello: %w", err)
	}
	fmt.Fprintln(out, rsp.GetMsg())

	if int(int32(count)) != count {
		// It would not fit the request; the server says the same of any
		// count out of range.
		return fmt.Errorf("Say.Stream: %w", errors.BadRequest(Name, "count must be between 1 and %d, not %d", MaxCount, count))
	}
	stream, err := say.Stream(ctx, &pb.StreamRequest{Name: name, Count: int32(count)}, opts...)
	if err != nil {
		return fmt.Errorf("Say.Stream: %w", err)
	}
	defer stream.Close()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("Say.Stream: %w", err)
		}
		fmt.Fprintln(out, msg.GetMsg())
	}
}
