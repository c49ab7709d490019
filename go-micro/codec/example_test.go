package codec_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/openmicro/go-micro/codec"
	_ "github.com/openmicro/go-micro/codec/json"
)

// nopCloser turns a buffer into the io.ReadWriteCloser a codec frames on.
type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

var _ io.ReadWriteCloser = nopCloser{}

// A request's Content-Type picks the codec; parameters and case do not
// matter, and an unknown type is an error naming the registered ones.
func ExampleLookup() {
	newCodec, err := codec.Lookup("Application/JSON; charset=utf-8")
	if err != nil {
		fmt.Println(err)
		return
	}
	buf := nopCloser{new(bytes.Buffer)}
	c := newCodec(buf)
	if err := c.Write(&codec.Message{Type: codec.Request}, map[string]string{"name": "John"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s wrote %s", c, buf.String())

	var req map[string]string
	if err := c.ReadHeader(&codec.Message{}, codec.Request); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.ReadBody(&req); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("read", req["name"])

	_, err = codec.Lookup("application/xml")
	fmt.Println(err != nil)
	// Output:
	// json wrote {"name":"John"}
	// read John
	// true
}
