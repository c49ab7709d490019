package http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"testing"
)

func frames(parts ...[]byte) *frameReader {
	return &frameReader{r: bufio.NewReader(bytes.NewReader(bytes.Join(parts, nil))), max: 64}
}

func dataFrame(flags uint8, id uint32, h map[string]string, body []byte) []byte {
	p := appendMessagePayload(nil, h, body)
	return append(appendFrameHeader(nil, frameData, flags, id, len(p)), p...)
}

func TestReadFrame(t *testing.T) {
	type want struct {
		typ  uint8
		id   uint32
		size int
		err  error
	}
	tests := []struct {
		name  string
		input []byte
		want  []want
	}{
		{"data then EOF", dataFrame(0, 1, map[string]string{"a": "b"}, []byte("hi")),
			[]want{{frameData, 1, 7, nil}, {err: io.EOF}}},
		{"bare end", appendFrameHeader(nil, frameData, flagEnd, 3, 0),
			[]want{{frameData, 3, 0, nil}, {err: io.EOF}}},
		{"control frames", appendCtrlFrame(appendCtrlFrame(nil, frameReset, 5, codeClosed), frameWindow, 5, 99),
			[]want{{frameReset, 5, 4, nil}, {frameWindow, 5, 4, nil}, {err: io.EOF}}},
		{"too large skipped, next frame fine",
			append(dataFrame(0, 1, nil, make([]byte, 100)), dataFrame(0, 3, nil, []byte("ok"))...),
			[]want{{typ: frameData, id: 1, err: errFrameTooLarge}, {frameData, 3, 3, nil}, {err: io.EOF}}},
		{"huge declared length", appendFrameHeader(nil, frameData, 0, 1, 1<<31),
			[]want{{err: io.EOF}}},
		{"truncated payload", appendFrameHeader(nil, frameData, 0, 1, 10),
			[]want{{err: io.ErrUnexpectedEOF}}},
		{"truncated header", []byte{0, 0, 0}, []want{{err: io.ErrUnexpectedEOF}}},
		{"unknown type", appendFrameHeader(nil, 9, 0, 1, 0), []want{{err: errBadFrame}}},
		{"control with bad size", appendFrameHeader(nil, frameWindow, 0, 1, 8), []want{{err: errBadFrame}}},
		{"data on stream 0", appendFrameHeader(nil, frameData, 0, 0, 0), []want{{err: errBadFrame}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fr := frames(tc.input)
			for i, w := range tc.want {
				h, p, err := fr.readFrame()
				if !errors.Is(err, w.err) {
					t.Fatalf("frame %d: err = %v, want %v", i, err, w.err)
				}
				if w.err != nil && !errors.Is(w.err, errFrameTooLarge) {
					return
				}
				if h.typ != w.typ || h.id != w.id || (w.err == nil && len(p) != w.size) {
					t.Fatalf("frame %d: got type %d id %d size %d, want %+v", i, h.typ, h.id, len(p), w)
				}
			}
		})
	}
}

func TestDecodeMessage(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		body   []byte
	}{
		{"empty", nil, nil},
		{"header only", map[string]string{"Content-Type": "application/protobuf", "Micro-Id": "42"}, nil},
		{"long value", map[string]string{"k": string(bytes.Repeat([]byte("v"), 300))}, []byte{1, 2, 3}},
		{"empty key and value", map[string]string{"": ""}, []byte("x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := appendMessagePayload(nil, tc.header, tc.body)
			if len(p) != messageLen(headerLen(tc.header), len(tc.body)) {
				t.Fatalf("encoded %d bytes, messageLen says %d", len(p), messageLen(headerLen(tc.header), len(tc.body)))
			}
			if q := appendMessage([]byte("prefix"), tc.header, headerLen(tc.header), tc.body); len(q) != len("prefix")+len(p) {
				t.Fatalf("appendMessage appended %d bytes, want %d", len(q)-len("prefix"), len(p))
			}
			h, body, err := decodeMessage(p)
			if err != nil {
				t.Fatal(err)
			}
			if h == nil || !maps.Equal(h, tc.header) || !bytes.Equal(body, tc.body) {
				t.Fatalf("decoded %v %q, want %v %q", h, body, tc.header, tc.body)
			}
		})
	}
	bad := []struct {
		name string
		p    []byte
	}{
		{"no payload", nil},
		{"header length past end", []byte{5, 1}},
		{"key without value", []byte{2, 1, 'k'}},
		{"value past end", []byte{4, 1, 'k', 9, 'v'}},
		{"overlong varint", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeMessage(tc.p); !errors.Is(err, errBadHeader) {
				t.Fatalf("decodeMessage(%v) = %v, want errBadHeader", tc.p, err)
			}
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(dataFrame(0, 1, map[string]string{"a": "b"}, []byte("body")))
	f.Add(appendCtrlFrame(nil, frameGoAway, 0, 7))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := &frameReader{r: bufio.NewReader(bytes.NewReader(in)), max: 1 << 10}
		for range 1000 {
			h, p, err := fr.readFrame()
			if errors.Is(err, errFrameTooLarge) {
				continue
			}
			if err != nil {
				return
			}
			if len(p) > fr.max || len(p) != int(h.size) {
				t.Fatalf("payload of %d bytes for declared %d, limit %d", len(p), h.size, fr.max)
			}
			if h.typ == frameData && len(p) > 0 {
				_, _, _ = decodeMessage(p)
			}
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(appendMessagePayload(nil, map[string]string{"Content-Type": "application/json", "X": ""}, []byte("{}")))
	f.Fuzz(func(t *testing.T, p []byte) {
		h, body, err := decodeMessage(p)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		q := appendMessagePayload(nil, h, body)
		h2, body2, err := decodeMessage(q)
		if err != nil || !maps.Equal(h, h2) || !bytes.Equal(body, body2) {
			t.Fatalf("re-encoding %v %q did not round trip: %v", h, body, err)
		}
	})
}
