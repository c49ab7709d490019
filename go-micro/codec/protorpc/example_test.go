package protorpc_test

import (
	"bytes"
	"fmt"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/protorpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// buffer is an in-memory connection.
type buffer struct{ bytes.Buffer }

func (*buffer) Close() error { return nil }

func ExampleNewCodec() {
	conn := new(buffer)
	c := protorpc.NewCodec(conn)
	req := &codec.Message{Id: "1", Type: codec.Request, Endpoint: "Say.Hello"}
	if err := c.Write(req, wrapperspb.String("John")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", conn.Bytes())

	var m codec.Message
	body := new(wrapperspb.StringValue)
	if err := c.ReadHeader(&m, codec.Request); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.ReadBody(body); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Id, m.Type, m.Endpoint, body.GetValue())
	// Output:
	// 10 0a 01 31 10 01 22 09 53 61 79 2e 48 65 6c 6c 6f 06 0a 04 4a 6f 68 6e
	// 1 request Say.Hello John
}
