package json_test

import (
	"bytes"
	"fmt"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/json"
)

// buffer is an in-memory connection.
type buffer struct{ bytes.Buffer }

func (*buffer) Close() error { return nil }

func ExampleNewCodec() {
	type Request struct {
		Name string `json:"name"`
	}
	conn := new(buffer)
	c := json.NewCodec(conn)
	m := &codec.Message{Type: codec.Request, Endpoint: "Say.Hello"} // travels in transport headers
	if err := c.Write(m, &Request{Name: "John"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", conn.String())

	var req Request
	if err := c.ReadHeader(m, codec.Request); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.ReadBody(&req); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Name)
	// Output:
	// "{\"name\":\"John\"}\n"
	// John
}
