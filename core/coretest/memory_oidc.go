package coretest

import (
	"context"
	"slices"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
)

var _ oidc.Store = (*Memory)(nil)

// PutRequest stores r unless a request with its id is stored, live or not (oidc.Store).
func (m *Memory) PutRequest(_ context.Context, r oidc.Request) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.oidcRequests[r.ID]; taken {
		return core.E("coretest.Memory.PutRequest", core.KindConflict, "", nil)
	}
	m.oidcRequests[r.ID] = storedRequest(r)
	return nil
}

// GetRequest returns request id if it is live at now, and leaves it stored (oidc.Store).
func (m *Memory) GetRequest(_ context.Context, id string, now time.Time) (oidc.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.oidcRequests[id]
	if !ok || !live(r.ExpiresAt.Unix(), now) {
		return oidc.Request{}, core.E("coretest.Memory.GetRequest", core.KindNotFound, "", nil)
	}
	return r, nil
}

// TakeRequest removes and returns request id if it is live at now and bound to binding
// (oidc.Store). Otherwise nothing changes: an expired request stays in the map, as it stays in
// the table.
func (m *Memory) TakeRequest(_ context.Context, id string, binding oidc.Hash, now time.Time) (oidc.Request, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.oidcRequests[id]
	if !ok || !live(r.ExpiresAt.Unix(), now) || r.Binding != binding {
		return oidc.Request{}, core.E("coretest.Memory.TakeRequest", core.KindNotFound, "", nil)
	}
	delete(m.oidcRequests, id)
	return r, nil
}

// PutCode stores c unless a code with its hash is stored, live or not (oidc.Store).
func (m *Memory) PutCode(_ context.Context, c oidc.Code) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.oidcCodes[c.Hash]; taken {
		return core.E("coretest.Memory.PutCode", core.KindConflict, "", nil)
	}
	m.oidcCodes[c.Hash] = storedCode(c)
	return nil
}

// TakeCode marks code hash used at now and keeps it until keepUntil if it is live and unused,
// and returns it (oidc.Store).
// A used code is returned as stored with KindConflict; an absent or expired one is
// KindNotFound.
func (m *Memory) TakeCode(_ context.Context, hash oidc.Hash, now, keepUntil time.Time) (oidc.Code, error) {
	const op core.Op = "coretest.Memory.TakeCode"
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.oidcCodes[hash]
	switch {
	case !ok || !live(c.ExpiresAt.Unix(), now):
		return oidc.Code{}, core.E(op, core.KindNotFound, "", nil)
	case !c.UsedAt.IsZero():
		return copyCode(c), core.E(op, core.KindConflict, "", nil)
	}
	c.UsedAt, c.ExpiresAt = Second(now), Second(keepUntil)
	m.oidcCodes[hash] = c
	return copyCode(c), nil
}

// PutProviderSession stores s unless a provider session with its hash is stored, live or not
// (oidc.Store).
func (m *Memory) PutProviderSession(_ context.Context, s oidc.ProviderSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.providerSessions[s.Hash]; taken {
		return core.E("coretest.Memory.PutProviderSession", core.KindConflict, "", nil)
	}
	s.AuthTime, s.CreatedAt, s.ExpiresAt = Second(s.AuthTime), Second(s.CreatedAt), Second(s.ExpiresAt)
	s.AMR = cloneAMR(s.AMR)
	m.providerSessions[s.Hash] = s
	return nil
}

// GetProviderSession returns provider session hash if it is live at now (oidc.Store).
func (m *Memory) GetProviderSession(_ context.Context, hash oidc.Hash, now time.Time) (oidc.ProviderSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.providerSessions[hash]
	if !ok || !live(s.ExpiresAt.Unix(), now) {
		return oidc.ProviderSession{}, core.E("coretest.Memory.GetProviderSession", core.KindNotFound, "", nil)
	}
	s.AMR = cloneAMR(s.AMR)
	return s, nil
}

// DeleteProviderSession deletes provider session hash, if it is stored (oidc.Store).
func (m *Memory) DeleteProviderSession(_ context.Context, hash oidc.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.providerSessions, hash)
	return nil
}

// storedRequest is r as the store keeps it: times to the second, MaxAge in whole seconds and
// only with HasMaxAge.
func storedRequest(r oidc.Request) oidc.Request {
	r.CreatedAt, r.ExpiresAt = Second(r.CreatedAt), Second(r.ExpiresAt)
	r.MaxAge = r.MaxAge.Truncate(time.Second)
	if !r.HasMaxAge {
		r.MaxAge = 0
	}
	return r
}

// storedCode is c as the store keeps it: times to the second, its own copy of the AMR.
func storedCode(c oidc.Code) oidc.Code {
	c.AuthTime, c.ExpiresAt = Second(c.AuthTime), Second(c.ExpiresAt)
	if !c.UsedAt.IsZero() {
		c.UsedAt = Second(c.UsedAt)
	}
	return copyCode(c)
}

// copyCode gives c its own AMR slice, so that callers never share memory with the fake.
func copyCode(c oidc.Code) oidc.Code {
	c.AMR = cloneAMR(c.AMR)
	return c
}

// cloneAMR copies amr; an empty one is nil, as an omitted attribute reads back from the table.
func cloneAMR(amr []string) []string {
	if len(amr) == 0 {
		return nil
	}
	return slices.Clone(amr)
}
