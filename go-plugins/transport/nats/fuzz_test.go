package nats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/openmicro/go-micro/transport"
)

func FuzzParseFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameOpen, protocolVersion, 0, DefaultWindow, ""))
	f.Add(appendFrame(nil, frameReset, 0, 0, codeRefused, "bye"))
	f.Add(appendFrame(nil, frameWindow, 0, 9, 4096, ""))
	f.Add(appendFrame(nil, framePing, 0, 3, 0, ""))
	f.Add(append(appendDataHeader(nil, flagFirst|flagLast, 1, 3), "abc"...))
	f.Add(append(appendDataHeader(nil, flagFirst, 1, 300), "abc"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		// What parses encodes back to something that parses the same.
		var again []byte
		if fr.typ == frameData {
			again = append(appendDataHeader(nil, fr.flags, fr.seq, int(fr.n)), fr.data...)
		} else {
			again = appendFrame(nil, fr.typ, fr.flags, fr.seq, fr.n, string(fr.data))
		}
		fr2, err := parseFrame(again)
		if err != nil {
			t.Fatalf("re-encoded frame %x does not parse: %v", again, err)
		}
		if fr2.typ != fr.typ || fr2.flags != fr.flags || fr2.seq != fr.seq || fr2.n != fr.n || !bytes.Equal(fr2.data, fr.data) {
			t.Fatalf("re-encoded frame differs: %+v, want %+v", fr2, fr)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []transport.Message{
		{},
		{Header: map[string]string{"Content-Type": "application/json", "": ""}, Body: []byte("{}")},
		{Header: map[string]string{"\x00": "\xff\r\n"}, Body: []byte{0}},
	} {
		f.Add(append(appendHeaderBlock(nil, m.Header), m.Body...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := decodeMessage(b)
		if err != nil {
			return
		}
		m := transport.Message{Header: h, Body: body}
		enc := append(appendHeaderBlock(nil, h), body...)
		if len(enc) != encodedSize(&m) {
			t.Fatalf("encodedSize %d, encoded %d bytes", encodedSize(&m), len(enc))
		}
		h2, body2, err := decodeMessage(enc)
		if err != nil || !maps.Equal(h, h2) || !bytes.Equal(body, body2) {
			t.Fatalf("re-encoded message differs: %q %q %v", h2, body2, err)
		}
	})
}

// fuzzStream returns an accepted stream of tr whose peer subject nobody
// subscribes to; it is not registered, so only the fuzz input reaches it.
func fuzzStream(tr *natsTransport) *stream {
	s := tr.newStream("fuzz.peer")
	s.remote = "fuzz.nowhere." + s.id
	s.established = true
	s.credit = DefaultWindow
	s.recvSeq = 1
	s.maxMsg = 64 << 10
	s.window = 16 << 10
	s.acceptLocked()
	return s
}

// drain reads what the stream holds without waiting and checks what Recv
// returns.
func drain(t *testing.T, s *stream) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 1000 {
		var m transport.Message
		err := s.Recv(ctx, &m)
		switch {
		case err == nil:
			continue
		case err == io.EOF, errors.Is(err, context.Canceled):
			return
		case errors.Is(err, transport.ErrClosed):
			return
		default:
			t.Fatalf("Recv = %v, which matches neither io.EOF nor transport.ErrClosed", err)
		}
	}
}

func checkStream(t *testing.T, s *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit := s.window + 2*int64(s.maxMsg) + 64*frameCost; s.inflight > limit {
		t.Fatalf("the stream holds %d bytes of credit, over the limit of %d", s.inflight, limit)
	}
	if s.partial != nil && len(s.partial) > s.maxMsg {
		t.Fatalf("a partial message of %d bytes, over %d", len(s.partial), s.maxMsg)
	}
	// Memory follows the bytes received, not the length announced.
	if cap(s.partial) > 2*len(s.partial) {
		t.Fatalf("a partial message of %d bytes holds %d", len(s.partial), cap(s.partial))
	}
}

// FuzzReceiveFrames feeds raw frames, each prefixed by a two-byte length,
// to a stream.
func FuzzReceiveFrames(f *testing.F) {
	ns := embedded(f, 0, nil)
	tr := newTestTransport(f, ns.ClientURL(), Keepalive(0))
	var seed []byte
	add := func(b []byte) {
		seed = binary.BigEndian.AppendUint16(seed, uint16(len(b)))
		seed = append(seed, b...)
	}
	msg := append(appendHeaderBlock(nil, map[string]string{"A": "b"}), "body"...)
	add(append(appendDataHeader(nil, flagFirst|flagLast, 1, len(msg)), msg...))
	add(appendFrame(nil, framePing, 0, 2, 0, ""))
	add(appendFrame(nil, frameEnd, 0, 3, 0, ""))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		s := fuzzStream(tr)
		defer func() { _ = s.Close() }()
		for len(in) >= 2 {
			n := int(binary.BigEndian.Uint16(in))
			in = in[2:]
			n = min(n, len(in))
			s.receive(&natsgo.Msg{Subject: s.local, Reply: s.remote, Data: in[:n]})
			in = in[n:]
			checkStream(t, s)
		}
		drain(t, s)
	})
}

// FuzzReceiveOps feeds well-formed frames with the right sequence numbers,
// built from the input, so that the fuzzer explores the stream's states
// rather than the frame parser: each op is a type, flags, a length or
// credit (two bytes) and a chunk length (one byte) followed by the chunk.
func FuzzReceiveOps(f *testing.F) {
	ns := embedded(f, 0, nil)
	tr := newTestTransport(f, ns.ClientURL(), Keepalive(0))
	f.Add([]byte{frameData, flagFirst | flagLast, 0, 3, 3, 0, 'a', 'b', frameEnd, 0, 0, 0, 0})
	f.Add([]byte{frameData, flagFirst, 0, 8, 3, 0, 'a', 'b', frameData, flagLast, 0, 0, 5, 1, 1, 'c', 'd', 'e', frameClose, 0, 0, 0, 0})
	f.Add([]byte{frameWindow, 0, 1, 0, 0, framePing, 0, 0, 0, 0, frameReset, 0, 0, 3, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := fuzzStream(tr)
		defer func() { _ = s.Close() }()
		seq := uint64(1)
		for len(in) >= 5 {
			typ, flags := in[0], in[1]
			n := uint64(binary.BigEndian.Uint16(in[2:]))
			k := min(int(in[4]), len(in)-5)
			chunk := in[5 : 5+k]
			in = in[5+k:]
			var b []byte
			if typ == frameData {
				b = append(appendDataHeader(nil, flags&(flagFirst|flagLast), seq, int(n)), chunk...)
			} else {
				b = appendFrame(nil, typ, flags&1, seq, n, string(chunk))
			}
			seq++
			s.receive(&natsgo.Msg{Subject: s.local, Reply: s.remote, Data: b})
			checkStream(t, s)
		}
		drain(t, s)
	})
}
