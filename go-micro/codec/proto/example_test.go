package proto_test

import (
	"bytes"
	"fmt"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// buffer is an in-memory connection.
type buffer struct{ bytes.Buffer }

func (*buffer) Close() error { return nil }

func ExampleNewCodec() {
	conn := new(buffer)
	c := proto.NewCodec(conn)
	m := &codec.Message{Type: codec.Response} // travels in transport headers
	if err := c.Write(m, wrapperspb.String("hi")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", conn.Bytes())

	rsp := new(wrapperspb.StringValue)
	if err := c.ReadBody(rsp); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rsp.GetValue())
	// Output:
	// 0a 02 68 69
	// hi
}
