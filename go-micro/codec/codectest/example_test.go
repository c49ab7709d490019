package codectest_test

import (
	"fmt"

	"github.com/openmicro/go-micro/codec/codectest"
	"github.com/openmicro/go-micro/codec/jsonrpc"
)

// Decode is what a fuzz target calls with its input.
func ExampleDecode() {
	in := []byte(`{"id":"1","method":"Say.Hello","params":[{"name":"a"}]}
{"id":"2","method":"Say.Hello","params":[]}
{"id":`)
	fmt.Println(codectest.Decode(jsonrpc.NewCodec, in))
	// Output: 2
}

func ExampleBuffer() {
	buf := codectest.NewBuffer([]byte("hello"))
	_ = buf.Close()
	fmt.Println(buf.String(), buf.Closes())
	// Output: hello 1
}
