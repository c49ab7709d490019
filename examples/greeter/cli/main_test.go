package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/examples/greeter"
	pb "github.com/openmicro/examples/greeter/proto"
	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startGreeter serves the greeter on a loopback port and returns its
// address.
func startGreeter(t *testing.T) string {
	t.Helper()
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Name(greeter.Name), server.Registry(memory.New()), server.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	if err := pb.RegisterSayHandler(srv, &greeter.Say{}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
		tr.Close()
	})
	return srv.Options().Address
}

func TestCLI(t *testing.T) {
	addr := startGreeter(t)
	var out bytes.Buffer
	if err := run([]string{"cli", "--name=Ann", "--count=2", "--greeter_address=" + addr}, &out); err != nil {
		t.Fatal(err)
	}
	want := "Hello Ann\nHello Ann (1 of 2)\nHello Ann (2 of 2)\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestCLIErrors(t *testing.T) {
	addr := startGreeter(t)
	var out bytes.Buffer
	err := run([]string{"cli", "--name=", "--greeter_address=" + addr}, &out)
	if errors.Code(err) != 400 || !strings.Contains(err.Error(), "name is required") {
		t.Fatalf("empty name: %v, want a BadRequest saying the name is required", err)
	}
	err = run([]string{"cli", "--count=0", "--greeter_address=" + addr}, &out)
	if errors.Code(err) != 400 || !strings.Contains(err.Error(), "count") {
		t.Fatalf("count 0: %v, want a BadRequest about the count", err)
	}
	// Nothing registered under the greeter's name in this process's
	// memory registry.
	err = run([]string{"cli", "--registry=memory"}, &out)
	if errors.Code(err) != 404 {
		t.Fatalf("no greeter in the registry: %v, want NotFound", err)
	}
}

// TestJSON calls both endpoints with JSON bodies, as tools and other
// languages do without the .proto: the field names are the .proto's.
func TestJSON(t *testing.T) {
	addr := startGreeter(t)
	tr, err := httptransport.NewTransport()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c, err := client.New(client.Transport(tr))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	var rsp json.RawMessage
	req := c.NewRequest(greeter.Name, "Say.Hello", json.RawMessage(`{"name":"Ann"}`))
	if err := c.Call(ctx, req, &rsp, client.WithAddress(addr)); err != nil {
		t.Fatal(err)
	}
	if got, want := string(rsp), `{"msg":"Hello Ann"}`; got != want {
		t.Fatalf("Say.Hello answered %s, want %s", got, want)
	}

	stream, err := c.Stream(ctx, c.NewRequest(greeter.Name, "Say.Stream", nil), client.WithAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if err := stream.Send(json.RawMessage(`{"name":"Ann","count":2,"interval":1000000}`)); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		var msg json.RawMessage
		err := stream.Recv(&msg)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(msg))
	}
	want := []string{`{"msg":"Hello Ann (1 of 2)"}`, `{"msg":"Hello Ann (2 of 2)"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("Say.Stream sent %q, want %q", got, want)
	}
}
