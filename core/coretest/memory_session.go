package coretest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/latchkey/latchkey/core"
)

// CreateSession stores a copy of s unless a session with its id is live at s.CreatedAt
// (core.SessionStore).
func (m *Memory) CreateSession(_ context.Context, s core.Session) error {
	const op core.Op = "coretest.Memory.CreateSession"
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.sessions[s.ID]; ok && live(old.ExpiresAt.Unix(), s.CreatedAt) {
		return core.E(op, core.KindConflict, "", nil)
	}
	m.sessions[s.ID] = storedSession(s)
	return nil
}

// GetSession returns session id (core.SessionStore).
func (m *Memory) GetSession(_ context.Context, id string, now time.Time) (core.Session, error) {
	const op core.Op = "coretest.Memory.GetSession"
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.liveSession(id, now)
	if !ok {
		return core.Session{}, core.E(op, core.KindNotFound, "", nil)
	}
	return copySession(s), nil
}

// RotateRefresh advances session id from generation from to from+1 if it is live at now and
// at generation from (core.SessionStore).
func (m *Memory) RotateRefresh(_ context.Context, id string, from uint64, now, idleUntil time.Time, count core.RefreshCount) (core.Session, bool, error) {
	const op core.Op = "coretest.Memory.RotateRefresh"
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.liveSession(id, now)
	if !ok {
		return core.Session{}, false, core.E(op, core.KindNotFound, "", nil)
	}
	if s.Revoked || !live(s.IdleExpiresAt.Unix(), now) || s.Generation != from {
		return copySession(s), false, nil
	}
	s.Generation = from + 1
	s.RotatedAt = Second(now)
	s.LastUsedAt = Second(now)
	s.IdleExpiresAt = Second(idleUntil)
	if count.Count != 0 {
		s.RefreshWindow, s.RefreshCount = Second(count.Window), count.Count
	}
	m.sessions[id] = s
	return copySession(s), true, nil
}

// Reauthenticate records a new authentication on session id of user uid (core.SessionStore).
func (m *Memory) Reauthenticate(_ context.Context, id, uid string, authTime time.Time, amr []string, now time.Time) (core.Session, error) {
	const op core.Op = "coretest.Memory.Reauthenticate"
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.liveSession(id, now)
	if !ok || s.Revoked || !live(s.IdleExpiresAt.Unix(), now) || s.UserID != uid {
		return core.Session{}, core.E(op, core.KindNotFound, "", nil)
	}
	s.AuthTime, s.AMR = Second(authTime), slices.Clone(amr)
	s.Generation += 2 // past the grace window's reach: see core.SessionStore
	s.RotatedAt, s.LastUsedAt = Second(now), Second(now)
	m.sessions[id] = copySession(s)
	return copySession(s), nil
}

// RevokeSession marks session id revoked (core.SessionStore).
func (m *Memory) RevokeSession(_ context.Context, id string, now time.Time) error {
	const op core.Op = "coretest.Memory.RevokeSession"
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.liveSession(id, now)
	if !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	s.Revoked = true
	m.sessions[id] = s
	return nil
}

// UserSessions lists every session of user uid live at now, newest first, in the store's order:
// by CreatedAt to the second, then by id, both descending (core.SessionStore).
func (m *Memory) UserSessions(_ context.Context, uid string, now time.Time) ([]core.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []core.Session
	for _, s := range m.sessions {
		if s.UserID == uid {
			all = append(all, s)
		}
	}
	slices.SortFunc(all, func(a, b core.Session) int {
		return cmp.Or(Second(b.CreatedAt).Compare(Second(a.CreatedAt)), cmp.Compare(b.ID, a.ID))
	})
	list := []core.Session{}
	for _, s := range all {
		if s.Live(now) {
			list = append(list, copySession(s))
		}
	}
	return list, nil
}

// liveSession is session id if it is stored and not past ExpiresAt at now. The caller holds mu.
func (m *Memory) liveSession(id string, now time.Time) (core.Session, bool) {
	s, ok := m.sessions[id]
	if !ok || !live(s.ExpiresAt.Unix(), now) {
		return core.Session{}, false
	}
	return s, true
}

// storedSession is s as the store keeps it: times to the second in UTC (CreatedAt to the
// millisecond), its own AMR slice.
func storedSession(s core.Session) core.Session {
	s.AuthTime = Second(s.AuthTime)
	s.CreatedAt = Milli(s.CreatedAt)
	s.LastUsedAt = Second(s.LastUsedAt)
	s.ExpiresAt = Second(s.ExpiresAt)
	s.IdleExpiresAt = Second(s.IdleExpiresAt)
	s.RotatedAt = Second(s.RotatedAt)
	return copySession(s)
}

// copySession gives s its own AMR slice, so that callers never share memory with the fake; an
// empty AMR is nil, as an omitted attribute reads back from the table.
func copySession(s core.Session) core.Session {
	if len(s.AMR) == 0 {
		s.AMR = nil
	} else {
		s.AMR = slices.Clone(s.AMR)
	}
	return s
}

// Second is t as the store keeps times: whole seconds, rounded down, in UTC.
func Second(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }

// Milli is t as the store keeps the times the "log out other devices" cut-off compares (a
// session's CreatedAt, a user's SessionsEndedAt): whole milliseconds, rounded down, in UTC.
func Milli(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// EndSessionsBefore sets user uid's cut-off (core.SessionStore).
func (m *Memory) EndSessionsBefore(_ context.Context, uid string, cutoff time.Time, keep string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[uid]
	if !ok {
		return core.E("coretest.Memory.EndSessionsBefore", core.KindNotFound, "", nil)
	}
	u.SessionsEndedAt, u.KeptSessionID = Milli(cutoff), keep
	m.users[uid] = u
	return nil
}
