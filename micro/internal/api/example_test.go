package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/selector"
	"github.com/openmicro/go-micro/server"
	httptransport "github.com/openmicro/go-micro/transport/http"

	"github.com/openmicro/micro/internal/api"
)

type HelloRequest struct {
	Name string `json:"name"`
}

type HelloResponse struct {
	Msg string `json:"msg"`
}

type Greeter struct{}

func (g *Greeter) Hello(ctx context.Context, req *HelloRequest, rsp *HelloResponse) error {
	rsp.Msg = "Hello " + req.Name
	return nil
}

// A gateway in front of go.micro.api.greeter: POST /greeter/hello calls
// Greeter.Hello with the JSON body.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	tr, err := httptransport.NewTransport()
	if err != nil {
		panic(err)
	}
	defer tr.Close()

	// The service.
	srv, err := server.New(server.Name("go.micro.api.greeter"), server.Address("127.0.0.1:0"),
		server.Registry(reg), server.Transport(tr), server.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	if err := srv.Handle(srv.NewHandler(&Greeter{})); err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Stop(ctx)

	// The gateway, and its client.
	sel, err := selector.New(selector.Registry(reg))
	if err != nil {
		panic(err)
	}
	defer sel.Close()
	c, err := client.New(client.Selector(sel), client.Transport(tr))
	if err != nil {
		panic(err)
	}
	gw, err := api.New(api.Client(c), api.Logger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer gw.Stop(ctx)

	for _, path := range []string{"/greeter/hello", "/nosuch/hello"} {
		w := httptest.NewRecorder()
		gw.ServeHTTP(w, httptest.NewRequest("POST", path, strings.NewReader(`{"name":"Ann"}`)))
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 {"msg":"Hello Ann"}
	// 404 {"id":"go.micro.client","code":404,"detail":"service \"go.micro.api.nosuch\" not found","status":"Not Found"}
}

func ExampleResolve() {
	for _, path := range []string{"/foo", "/foo/bar", "/foo/bar/baz", "/v1/foo/bar", "/foo/say-hello"} {
		service, endpoint, _ := api.Resolve("go.micro.api", path)
		fmt.Println(path, service, endpoint)
	}
	// Output:
	// /foo go.micro.api.foo Foo.Call
	// /foo/bar go.micro.api.foo Foo.Bar
	// /foo/bar/baz go.micro.api.foo Bar.Baz
	// /v1/foo/bar go.micro.api.v1.foo Foo.Bar
	// /foo/say-hello go.micro.api.foo Foo.SayHello
}
