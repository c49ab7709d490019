package bytes_test

import (
	stdbytes "bytes"
	"fmt"

	"github.com/openmicro/go-micro/codec"
	"github.com/openmicro/go-micro/codec/bytes"
)

// buffer is an in-memory connection.
type buffer struct{ stdbytes.Buffer }

func (*buffer) Close() error { return nil }

func ExampleNewCodec() {
	conn := new(buffer)
	c := bytes.NewCodec(conn)
	if err := c.Write(&codec.Message{Type: codec.Event}, []byte("raw \x00 data")); err != nil {
		fmt.Println(err)
		return
	}
	var f bytes.Frame
	if err := c.ReadBody(&f); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", f.Data)
	// Output:
	// "raw \x00 data"
}
