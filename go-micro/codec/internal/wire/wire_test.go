package wire

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/openmicro/go-micro/codec"
)

func TestReadAll(t *testing.T) {
	buf := make([]byte, 0, 4)
	got, err := ReadAll(buf, iotest.OneByteReader(strings.NewReader("hello, world")))
	if err != nil || string(got) != "hello, world" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	got, err = ReadAll(got[:0], strings.NewReader(""))
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadAll(empty) = %q, %v", got, err)
	}
	boom := errors.New("boom")
	got, err = ReadAll(nil, io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || string(got) != "ab" {
		t.Fatalf("ReadAll(error) = %q, %v", got, err)
	}
}

func TestReadTracker(t *testing.T) {
	boom := errors.New("boom")
	rt := &ReadTracker{R: io.MultiReader(strings.NewReader("x"), iotest.ErrReader(boom))}
	if _, err := io.ReadAll(rt); !errors.Is(err, boom) || !errors.Is(rt.Err, boom) {
		t.Fatalf("err %v, tracked %v", err, rt.Err)
	}
	rt = &ReadTracker{R: strings.NewReader("x")}
	if _, err := io.ReadAll(rt); err != nil || rt.Err != nil {
		t.Fatalf("EOF must not be tracked: %v, %v", err, rt.Err)
	}
}

func TestSide(t *testing.T) {
	for typ, want := range map[codec.MessageType]string{
		codec.Request: "request", codec.Event: "request",
		codec.Response: "response", codec.Error: "response",
		0: "", 99: "",
	} {
		if got := Side(typ); got != want {
			t.Errorf("Side(%v) = %q, want %q", typ, got, want)
		}
	}
}
