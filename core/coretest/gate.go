package coretest

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Gate holds the calls of a use case at the door until a test lets a whole stage through, so
// the test can check which calls are in flight together and in what order the stages come:
// the wrappers of the ports under test call Pass with the port method's name. No sleeps: Stage
// waits on the calls themselves, bounded by a deadline that fails the test.
type Gate struct {
	mu      sync.Mutex
	waiting []string // the calls blocked now; open releases them
	open    chan struct{}
	changed chan struct{}
}

// NewGate returns a closed gate.
func NewGate() *Gate {
	return &Gate{open: make(chan struct{}), changed: make(chan struct{}, 256)}
}

// Pass blocks the call name until a Stage that names it lets it through.
func (g *Gate) Pass(name string) {
	g.mu.Lock()
	g.waiting = append(g.waiting, name)
	open := g.open
	g.mu.Unlock()
	g.changed <- struct{}{}
	<-open
}

// Stage waits until exactly the named calls are in flight together, then lets them go. It
// fails the test if that does not happen within 5 seconds.
func (g *Gate) Stage(t *testing.T, names ...string) {
	t.Helper()
	want := slices.Sorted(slices.Values(names))
	deadline := time.After(5 * time.Second)
	for {
		g.mu.Lock()
		got := slices.Sorted(slices.Values(g.waiting))
		if slices.Equal(got, want) {
			g.waiting = nil
			close(g.open)
			g.open = make(chan struct{})
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		select {
		case <-g.changed:
		case <-deadline:
			t.Fatalf("stage: %v in flight, want exactly %v together", got, want)
		}
	}
}

// None fails the test if a call is waiting at the gate.
func (g *Gate) None(t *testing.T) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.waiting) != 0 {
		t.Fatalf("calls after the last stage: %v", g.waiting)
	}
}
