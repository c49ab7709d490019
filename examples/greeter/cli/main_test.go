package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openmicro/examples/greeter"
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
	if err := srv.Handle(srv.NewHandler(&greeter.Say{})); err != nil {
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
	// Nothing registered under the greeter's name in this process.
	err = run([]string{"cli"}, &out)
	if errors.Code(err) != 404 {
		t.Fatalf("no greeter in the registry: %v, want NotFound", err)
	}
}
