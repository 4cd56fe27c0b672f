package coretest

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/core"
)

// PutChallenge stores a copy of c unless a live challenge has its id (core.ChallengeStore).
func (m *Memory) PutChallenge(_ context.Context, c core.Challenge, now time.Time) error {
	const op core.Op = "coretest.Memory.PutChallenge"
	if c.Ceremony != core.CeremonyRegister && c.Ceremony != core.CeremonyLogin {
		return core.Wrap(op, errors.New("unknown ceremony"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.challenges[c.ID]; ok && live(old.ExpiresAt.Unix(), now) {
		return core.E(op, core.KindConflict, "", nil)
	}
	c.State = cloneBytes(c.State)
	c.ExpiresAt = time.Unix(c.ExpiresAt.Unix(), 0).UTC()
	m.challenges[c.ID] = c
	return nil
}

// TakeChallenge removes and returns the challenge id (core.ChallengeStore). An expired
// challenge answers KindNotFound and stays in the map, as it stays in the table.
func (m *Memory) TakeChallenge(_ context.Context, id string, now time.Time) (core.Challenge, error) {
	const op core.Op = "coretest.Memory.TakeChallenge"
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.challenges[id]
	if !ok || !live(c.ExpiresAt.Unix(), now) {
		return core.Challenge{}, core.E(op, core.KindNotFound, "", nil)
	}
	delete(m.challenges, id)
	c.State = cloneBytes(c.State)
	return c, nil
}

// cloneBytes copies b so that callers never share memory with the fake; empty is nil, as an
// omitted attribute reads back from the table.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
