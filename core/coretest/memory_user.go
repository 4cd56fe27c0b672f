package coretest

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// CreateUser stores u and reserves u.Email for it, both or neither (core.UserStore).
func (m *Memory) CreateUser(_ context.Context, u core.User) error {
	const op core.Op = "coretest.Memory.CreateUser"
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.users[u.ID]; taken {
		return core.E(op, core.KindConflict, "", nil)
	}
	if _, taken := m.emails[u.Email]; taken && u.Email != "" {
		return core.E(op, core.KindConflict, "", nil)
	}
	u = storedUser(u)
	m.users[u.ID] = u
	if u.Email != "" {
		m.emails[u.Email] = u.ID
	}
	return nil
}

// GetUser returns user id (core.UserStore).
func (m *Memory) GetUser(_ context.Context, id string) (core.User, error) {
	const op core.Op = "coretest.Memory.GetUser"
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return core.User{}, core.E(op, core.KindNotFound, "", nil)
	}
	return u, nil
}

// AccessState reads session sid, the denial of jti and user uid at once; an empty sid or jti
// is not read (core.AccessStates).
func (m *Memory) AccessState(_ context.Context, sid, jti, uid string, now time.Time) (core.AccessState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var st core.AccessState
	if s, ok := m.liveSession(sid, now); ok && sid != "" {
		st.Session, st.SessionFound = copySession(s), true
	}
	if exp, ok := m.denied[jti]; ok && jti != "" {
		st.TokenDenied = live(exp, now)
	}
	st.User, st.UserFound = m.users[uid]
	return st, nil
}

// ReplaceUser overwrites the stored user u.ID, or stores it: an operator's change to an account
// (disabling it, refusing its older tokens) that no use case makes, for tests of how the use
// cases honour it. Times are kept as CreateUser keeps them.
func (m *Memory) ReplaceUser(u core.User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u = storedUser(u)
	m.users[u.ID] = u
}

// storedUser is u as the store keeps it: times to the second, SessionsEndedAt to the
// millisecond, zero times left zero.
func storedUser(u core.User) core.User {
	u.CreatedAt = Second(u.CreatedAt)
	if !u.TokensNotBefore.IsZero() {
		u.TokensNotBefore = Second(u.TokensNotBefore)
	}
	if !u.SessionsEndedAt.IsZero() {
		u.SessionsEndedAt = Milli(u.SessionsEndedAt)
	}
	return u
}
