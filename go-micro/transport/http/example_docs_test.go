package http_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	nethttp "net/http"

	"github.com/openmicro/go-micro/transport"
	httptransport "github.com/openmicro/go-micro/transport/http"
)

// The wire form by hand: an HTTP/1.1 upgrade to micro-mux/1, then frames
// with a 10-byte header (type, flags, stream id, payload length).
func Example_wire() {
	tr, err := httptransport.NewTransport()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	ctx := context.Background()
	l, err := tr.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go l.Accept(func(s transport.Socket) {
		defer s.Close() // ends the stream with the End flag
		var m transport.Message
		if err := s.Recv(ctx, &m); err != nil {
			return
		}
		fmt.Printf("listener got %v %q\n", m.Header, m.Body)
		_ = s.Send(ctx, &transport.Message{Body: []byte("hello")})
	})

	nc, err := net.Dial("tcp", l.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: micro-mux/1\r\n\r\n", l.Addr())
	br := bufio.NewReader(nc)
	rsp, err := nethttp.ReadResponse(br, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rsp.Status)

	// DATA payload: uvarint(len(header block)), the header block
	// (uvarint-prefixed key and value), the body.
	block := binary.AppendUvarint(nil, uint64(len("Micro-Id")))
	block = append(block, "Micro-Id"...)
	block = binary.AppendUvarint(block, 1)
	block = append(block, "1"...)
	payload := binary.AppendUvarint(nil, uint64(len(block)))
	payload = append(payload, block...)
	payload = append(payload, "hi"...)
	// Frame header: type 0 (DATA), flags 1 (End: half-close), stream 1.
	frame := []byte{0, 1}
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(payload)))
	frame = append(frame, payload...)
	fmt.Printf("sent     % x\n", frame)
	if _, err := nc.Write(frame); err != nil {
		fmt.Println(err)
		return
	}

	// The reply, then the End flag of the listener's Close: set on the
	// reply itself when the reply was still queued, or a bare End frame.
	for end := false; !end; {
		hdr := make([]byte, 10)
		if _, err := io.ReadFull(br, hdr); err != nil {
			fmt.Println(err)
			return
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[6:]))
		if _, err := io.ReadFull(br, p); err != nil {
			fmt.Println(err)
			return
		}
		if len(p) > 0 {
			fmt.Printf("received type %d, stream %d, %d bytes | % x\n", hdr[0], binary.BigEndian.Uint32(hdr[2:]), len(p), p)
		}
		end = hdr[0] == 0 && hdr[1]&1 != 0
	}
	fmt.Println("stream 1 ended")
	// Output:
	// 101 Switching Protocols
	// sent     00 01 00 00 00 01 00 00 00 0e 0b 08 4d 69 63 72 6f 2d 49 64 01 31 68 69
	// listener got map[Micro-Id:1] "hi"
	// received type 0, stream 1, 6 bytes | 00 68 65 6c 6c 6f
	// stream 1 ended
}
