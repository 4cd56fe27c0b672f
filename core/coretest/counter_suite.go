package coretest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// TestCounters is the contract of core.Counters. newStore returns the counters under test; it
// may return the same one to every subtest, as the subtests use fresh keys.
func TestCounters(t *testing.T, newStore func(t *testing.T) core.Counters) {
	ctx := context.Background()
	const window = time.Minute
	hit := func(t *testing.T, c core.Counters, key string, w time.Duration, now time.Time) int64 {
		t.Helper()
		n, err := c.Hit(ctx, key, w, now)
		if err != nil {
			t.Fatalf("Hit: %v", err)
		}
		return n
	}
	wantHits := func(t *testing.T, got, want int64, what string) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: got %d, want %d", what, got, want)
		}
	}

	t.Run("hits in one window count up", func(t *testing.T) {
		c, key := newStore(t), RandomID(t)
		for i, at := range []time.Duration{0, 30 * time.Second, window - time.Second} {
			wantHits(t, hit(t, c, key, window, T0.Add(at)), int64(i+1), "hit at +"+at.String())
		}
	})

	t.Run("keys count separately", func(t *testing.T) {
		c, a, b := newStore(t), RandomID(t), RandomID(t)
		hit(t, c, a, window, T0)
		hit(t, c, a, window, T0)
		wantHits(t, hit(t, c, b, window, T0), 1, "first hit on another key")
	})

	t.Run("a new window starts at one though the old counter is still stored", func(t *testing.T) {
		c, key := newStore(t), RandomID(t)
		for range 3 {
			hit(t, c, key, window, T0)
		}
		wantHits(t, hit(t, c, key, window, T0.Add(window)), 1, "first hit of the next window")
		wantHits(t, hit(t, c, key, window, T0.Add(window+time.Second)), 2, "second hit of the next window")
		wantHits(t, hit(t, c, key, window, T0.Add(10*window)), 1, "first hit ten windows later")
	})

	t.Run("windows of different lengths count separately", func(t *testing.T) {
		c, key := newStore(t), RandomID(t)
		hour := T0.Truncate(time.Hour) // the start of both a minute and an hour window
		hit(t, c, key, time.Minute, hour)
		hit(t, c, key, time.Minute, hour)
		wantHits(t, hit(t, c, key, time.Hour, hour), 1, "first hit of the hour window")
		wantHits(t, hit(t, c, key, time.Minute, hour), 3, "third hit of the minute window")
	})

	t.Run("windows that are not whole seconds are refused", func(t *testing.T) {
		c, key := newStore(t), RandomID(t)
		for _, w := range []time.Duration{0, -time.Minute, 500 * time.Millisecond, 1500 * time.Millisecond} {
			if _, err := c.Hit(ctx, key, w, T0); err == nil {
				t.Errorf("Hit with window %v: got no error", w)
			}
		}
	})

	t.Run("concurrent hits each get a distinct count", func(t *testing.T) {
		c, key := newStore(t), RandomID(t)
		got := make([]int64, Concurrency)
		errs := make([]error, Concurrency)
		Race(Concurrency, func(i int) {
			got[i], errs[i] = c.Hit(ctx, key, window, T0.Add(time.Duration(i%60)*time.Second))
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("Hit: %v", err)
			}
		}
		slices.Sort(got)
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("concurrent hits returned %v, want 1..%d each once", got, Concurrency)
			}
		}
	})
}
