package core

import (
	"context"
	"time"
)

// Counters are fixed-window hit counters shared by every node through the store; they back the
// distributed rate limiter.
type Counters interface {
	// Hit adds one to the counter for key in the window of the given length that contains now,
	// and returns the count after the increment. The addition is atomic: n concurrent hits on a
	// fresh window return 1..n, each once. A counter left over from an expired window never
	// leaks into a new one. KindUnavailable if the store cannot be reached.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error)
}

// WindowStart is the start of the fixed window of length w that contains t.
func WindowStart(t time.Time, w time.Duration) time.Time {
	return t.Truncate(w)
}
