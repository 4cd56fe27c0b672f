package coretest

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// T0 is the suites' clock: every call passes an explicit now derived from it, never the wall
// clock. It lies far in the future so that a store reading the wall clock instead of now
// fails the expiry tests.
var T0 = time.Date(2100, time.March, 1, 12, 0, 0, 0, time.UTC)

// Concurrency is how many goroutines race for one item in the concurrency tests.
const Concurrency = 50

// RandomID returns a fresh random id, so tests sharing one table never see each other's items.
func RandomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// WantKind fails the test unless err has kind want.
func WantKind(t *testing.T, err error, want core.Kind, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, want)
	}
	if got := core.KindOf(err); got != want {
		t.Fatalf("%s: got kind %v (%v), want %v", what, got, err, want)
	}
}

// ManySessions is how many sessions the suites give one user to show that listings and "log
// out other devices" have no cut-off: more than DynamoDB would return in one bounded page of
// 1,000.
const ManySessions = 1001

// Each runs f(i) for i in [0, n) on a few goroutines at a time, failing the test at the first
// error: bulk setup against a real store without one round trip after another.
func Each(n int, f func(i int) error, t *testing.T) {
	t.Helper()
	const workers = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				errs[i] = f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("#%d: %v", i, err)
		}
	}
}

// Race runs f(i) for i in [0, n) on n goroutines released at the same moment, and waits for
// all of them.
func Race(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}
