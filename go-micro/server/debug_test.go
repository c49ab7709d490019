package server_test

import (
	"testing"

	"github.com/openmicro/go-micro/server"
)

func TestDebugEndpoints(t *testing.T) {
	f := newFixture(t)
	f.start()
	c := f.client()

	var health server.HealthResponse
	if err := c.jsonCall("Debug.Health", &server.HealthRequest{}, &health); err != nil || health.Status != "ok" {
		t.Fatalf("Debug.Health: %v %+v", err, health)
	}
	in := c.roundTrip(map[string]string{"Content-Type": "application/json", "Micro-Endpoint": "Debug.Health"}, nil)
	if string(in.Body) != "{\"status\":\"ok\"}\n" {
		t.Fatalf("Debug.Health body %q", in.Body)
	}
	_ = c.jsonCall("Greeter.Nope", &Request{}, &Response{})
	_ = c.jsonCall("Greeter.Fail", &Request{}, &Response{})

	var st server.StatsResponse
	if err := c.jsonCall("Debug.Stats", &server.StatsRequest{}, &st); err != nil {
		t.Fatal(err)
	}
	// Five calls so far: two Health, two failing, this one.
	if st.Requests != 5 || st.Errors != 2 {
		t.Errorf("requests %d errors %d, want 5 and 2", st.Requests, st.Errors)
	}
	if st.Started <= 0 || st.Uptime < 0 || st.Memory == 0 || st.Goroutines <= 0 {
		t.Errorf("stats %+v", st)
	}
	// With a codec that cannot take the types: 415, counted.
	if err := c.call("application/protobuf", "Debug.Health", nil, nil, nil); errCode(err) != 415 {
		t.Fatalf("Debug.Health as protobuf: %v", err)
	}
}
