package parallel

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestDoRunsEveryFunctionConcurrently(t *testing.T) {
	// Each function waits for all the others to have started: only concurrent runs finish.
	const n = 4
	var started atomic.Int32
	release := make(chan struct{})
	fns := make([]func(), n)
	for i := range fns {
		fns[i] = func() {
			if started.Add(1) == n {
				close(release)
			}
			<-release
		}
	}
	Do(fns...)
	if started.Load() != n {
		t.Fatalf("%d of %d ran", started.Load(), n)
	}
	Do() // no functions: returns
}

func TestFirst(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	if First(nil, a, b) != a || First() != nil || First(nil, nil) != nil {
		t.Error("First does not return the first non-nil error")
	}
}
