package server

import (
	"context"
	"runtime"
	"time"
)

// HealthRequest is the request of Debug.Health.
type HealthRequest struct{}

// HealthResponse is the response of Debug.Health.
type HealthResponse struct {
	// Status is "ok" while the server serves.
	Status string `json:"status"`
}

// StatsRequest is the request of Debug.Stats.
type StatsRequest struct{}

// StatsResponse is the response of Debug.Stats.
type StatsResponse struct {
	// Started is when the server last started, in Unix seconds.
	Started int64 `json:"started"`
	// Uptime is how long it has been running, in seconds.
	Uptime int64 `json:"uptime"`
	// Memory is the heap memory allocated and still in use, in bytes
	// (runtime.MemStats.Alloc).
	Memory uint64 `json:"memory"`
	// Goroutines is the number of goroutines of the process.
	Goroutines int `json:"goroutines"`
	// Requests counts the calls received since the server was built, Debug
	// calls and failed calls included.
	Requests uint64 `json:"requests"`
	// Errors counts the calls that ended with an error.
	Errors uint64 `json:"errors"`
}

// debugHandler is the built-in Debug handler.
type debugHandler struct {
	s *rpcServer
}

// Health reports that the server serves.
func (d *debugHandler) Health(_ context.Context, _ *HealthRequest, rsp *HealthResponse) error {
	rsp.Status = "ok"
	return nil
}

// Stats reports the server's counters and the process's memory and
// goroutines.
func (d *debugHandler) Stats(_ context.Context, _ *StatsRequest, rsp *StatsResponse) error {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	started := d.s.started.Load()
	rsp.Started = started
	if started > 0 {
		rsp.Uptime = max(time.Now().Unix()-started, 0)
	}
	rsp.Memory = ms.Alloc
	rsp.Goroutines = runtime.NumGoroutine()
	rsp.Requests = d.s.requests.Load()
	rsp.Errors = d.s.errs.Load()
	return nil
}
