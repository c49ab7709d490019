package sidecar_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/micro/internal/sidecar"
)

// An app registers a service through the sidecar and looks it up.
func Example() {
	s, err := sidecar.New(
		sidecar.Registry(memory.New()),
		sidecar.Address("127.0.0.1:0"),
		sidecar.Logger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop(context.Background())
	url := "http://" + s.Addr() + "/registry"

	show := func(rsp *http.Response, err error) {
		if err != nil {
			fmt.Println(err)
			return
		}
		defer rsp.Body.Close()
		b, _ := io.ReadAll(rsp.Body)
		fmt.Print(rsp.StatusCode, " ", string(b))
	}
	show(http.Post(url, "application/json", strings.NewReader(
		`{"name":"greeter","version":"1","nodes":[{"id":"greeter-1","address":"127.0.0.1:9090"}]}`)))
	show(http.Get(url + "?service=greeter"))
	show(http.Get(url + "?service=nobody"))
	// Output:
	// 200 {}
	// 200 [{"name":"greeter","version":"1","nodes":[{"id":"greeter-1","address":"127.0.0.1:9090"}]}]
	// 404 {"id":"go.micro.sidecar","code":404,"detail":"sidecar: looking up: registry: service not found: \"nobody\"","status":"Not Found"}
}
