package client_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/openmicro/go-micro/client"
	"github.com/openmicro/go-micro/errors"
)

func TestRetryOnError(t *testing.T) {
	done, cancel := context.WithCancel(t.Context())
	cancel()
	req := client.NewRequest("greeter", "Say.Hello", nil)
	tests := []struct {
		ctx  context.Context
		err  error
		want bool
	}{
		{t.Context(), nil, false},
		{t.Context(), errors.Timeout("x", "y"), true},
		{t.Context(), errors.InternalServerError("x", "y"), true},
		{t.Context(), errors.BadGateway("x", "y"), true},
		{t.Context(), errors.ServiceUnavailable("x", "y"), true},
		{t.Context(), errors.GatewayTimeout("x", "y"), true},
		{t.Context(), fmt.Errorf("wrapped: %w", errors.ServiceUnavailable("x", "y")), true},
		{t.Context(), errors.BadRequest("x", "y"), false},
		{t.Context(), errors.NotFound("x", "y"), false},
		{t.Context(), errors.RequestEntityTooLarge("x", "y"), false},
		{t.Context(), errors.UnsupportedMediaType("x", "y"), false},
		{t.Context(), errors.New("x", "y", errors.StatusClientClosedRequest), false},
		{t.Context(), errors.NotImplemented("x", "y"), false},
		{done, errors.ServiceUnavailable("x", "y"), false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.ctx.Err(), errors.Code(tt.err)), func(t *testing.T) {
			if got := client.RetryOnError(tt.ctx, req, 1, tt.err); got != tt.want {
				t.Errorf("RetryOnError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestExponentialBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		bound   time.Duration
	}{
		{-1, 0}, {0, 0},
		{1, 10 * time.Millisecond}, {2, 20 * time.Millisecond}, {3, 40 * time.Millisecond},
		{7, 640 * time.Millisecond}, {8, time.Second}, {9, time.Second}, {1000, time.Second},
	}
	req := client.NewRequest("greeter", "Say.Hello", nil)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt), func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := client.ExponentialBackoff(t.Context(), req, tt.attempt)
				if d < tt.bound/2 || d > tt.bound {
					t.Fatalf("backoff %v, want within [%v, %v]", d, tt.bound/2, tt.bound)
				}
				seen[d] = true
			}
			if tt.bound > 0 && len(seen) < 2 {
				t.Errorf("200 backoffs all equal %v: no jitter", seen)
			}
		})
	}
}
