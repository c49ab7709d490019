package handler_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/openmicro/go-micro/errors"
	"github.com/openmicro/go-micro/registry/memory"
	"github.com/openmicro/go-micro/registry/micro"
	"github.com/openmicro/go-micro/registry/micro/handler"
)

// Whatever a request holds, the handler answers nil or a 400 or 404,
// never panics, and a registration it accepts can be read back.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"service":{"name":"x","version":"1","nodes":[{"id":"a","address":"127.0.0.1:1"}]},"ttl":1000000000}`))
	f.Add([]byte(`{"service":{"name":"x","nodes":[{"id":"a"},{"id":"a"}]}}`))
	f.Add([]byte(`{"service":{"name":"x","nodes":[null],"endpoints":[null,{"name":"E","request":{"values":[null,{"name":"v"}]}}]}}`))
	f.Add([]byte(`{"service":"x"}`))
	f.Add([]byte(`{"ttl":-5}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		h := handler.New(memory.New())
		defer handler.Close(h)
		allowed := func(what string, err error, codes ...int32) {
			t.Helper()
			if err == nil {
				return
			}
			e, ok := err.(*errors.Error)
			if !ok {
				t.Fatalf("%s: %T %v, want an *errors.Error", what, err, err)
			}
			for _, c := range codes {
				if e.Code == c {
					return
				}
			}
			t.Fatalf("%s: %v, want one of %v", what, err, codes)
		}

		var reg micro.RegisterRequest
		if json.Unmarshal(data, &reg) == nil {
			err := h.Register(ctx, &reg, new(micro.RegisterResponse))
			allowed("Register", err, 400)
			if err == nil && reg.TTL == 0 {
				rsp := new(micro.GetServiceResponse)
				if err := h.GetService(ctx, &micro.GetServiceRequest{Service: reg.Service.Name}, rsp); err != nil || len(rsp.Services) == 0 {
					t.Fatalf("GetService(%q) after an accepted Register: %v", reg.Service.Name, err)
				}
			}
		}
		var dereg micro.DeregisterRequest
		if json.Unmarshal(data, &dereg) == nil {
			allowed("Deregister", h.Deregister(ctx, &dereg, new(micro.DeregisterResponse)), 400)
		}
		var get micro.GetServiceRequest
		if json.Unmarshal(data, &get) == nil {
			allowed("GetService", h.GetService(ctx, &get, new(micro.GetServiceResponse)), 400, 404)
		}
		allowed("ListServices", h.ListServices(ctx, new(micro.ListServicesRequest), new(micro.ListServicesResponse)))
	})
}
