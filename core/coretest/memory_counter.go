package coretest

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/core"
)

// counterKey identifies one counter: a key in one window of one length.
type counterKey struct {
	key    string
	window time.Duration
	start  int64
}

// counter is a count and its expiry in epoch seconds.
type counter struct {
	hits int64
	exp  int64
}

// Hit adds one to the counter for key in the window that contains now (core.Counters). Like
// the store it refuses windows that are not whole seconds, and restarts a counter that is not
// live at now.
func (m *Memory) Hit(_ context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	const op core.Op = "coretest.Memory.Hit"
	if window < time.Second || window%time.Second != 0 {
		return 0, core.Wrap(op, errors.New("counter window must be whole seconds"))
	}
	start := core.WindowStart(now, window)
	k := counterKey{key: key, window: window, start: start.Unix()}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counters[k]
	if !ok || !live(c.exp, now) {
		c = counter{exp: start.Add(2 * window).Unix()}
	}
	c.hits++
	m.counters[k] = c
	return c.hits, nil
}
