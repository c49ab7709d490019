package client

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/openmicro/go-micro/errors"
)

// Bounds of [ExponentialBackoff].
const (
	backoffBase = 10 * time.Millisecond
	backoffMax  = time.Second
)

// ExponentialBackoff is the default [BackoffFunc]: before retry number
// attempt (1 for the first retry) it waits about 10ms*2^(attempt-1),
// capped at 1s, with jitter: the wait is drawn uniformly from the upper
// half of that bound, so retries of many callers spread out. attempt <= 0
// gives no wait.
func ExponentialBackoff(_ context.Context, _ Request, attempt int) time.Duration {
	if attempt <= 0 {
		return 0
	}
	d := backoffMax
	if attempt <= 8 { // 10ms<<7 = 1.28s is already past the cap
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// RetryOnError is the default [RetryFunc]. It retries when the failure may
// pass on another attempt or another node: codes 408 (an attempt timed
// out), 500 (but not the client's own 500 for an answer it cannot decode:
// the handler ran), 502, 503 (the node could not be reached or went away)
// and 504. It never retries once ctx is done, nor a nil error, nor the
// caller's own mistakes (every other 4xx, 413 and 415 included) or 501.
func RetryOnError(ctx context.Context, _ Request, _ int, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	switch errors.Code(err) {
	case 500:
		// A 500 the client made means the node answered with something
		// it cannot decode: the handler ran, and must not run again.
		return !madeByClient(err)
	case 408, 502, 503, 504:
		return true
	}
	return false
}
