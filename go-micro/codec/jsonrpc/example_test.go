package jsonrpc_test

import (
	"bytes"
	"fmt"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/jsonrpc"
)

// buffer is an in-memory connection.
type buffer struct{ bytes.Buffer }

func (*buffer) Close() error { return nil }

func ExampleNewCodec() {
	type Request struct {
		Name string `json:"name"`
	}
	type Response struct {
		Msg string `json:"msg"`
	}
	conn := new(buffer)
	c := jsonrpc.NewCodec(conn)
	_ = c.Write(&codec.Message{Id: "1", Type: codec.Request, Endpoint: "Say.Hello"}, &Request{Name: "John"})
	_ = c.Write(&codec.Message{Id: "1", Type: codec.Response}, &Response{Msg: "Hello John"})
	_ = c.Write(&codec.Message{Id: "2", Type: codec.Error, Error: "not found"}, nil)
	fmt.Print(conn.String())

	var m codec.Message
	var req Request
	if err := c.ReadHeader(&m, codec.Request); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.ReadBody(&req); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Id, m.Type, m.Endpoint, req.Name)
	// Output:
	// {"id":"1","method":"Say.Hello","params":[{"name":"John"}]}
	// {"id":"1","result":{"msg":"Hello John"},"error":null}
	// {"id":"2","result":null,"error":"not found"}
	// 1 request Say.Hello John
}
