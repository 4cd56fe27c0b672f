package coretest

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/latchkey/latchkey/core"
)

// CreateAccount stores u, reserves u.Email, stores its first passkey p and redeems the verified
// sign-up flow signUp.ID unless signUp is zero, all or nothing (passkey.AccountStore). A spent
// ticket is reported before a taken email, a taken email before the rest, as the table does.
func (m *Memory) CreateAccount(_ context.Context, u core.User, p core.Passkey, signUp core.Redemption) error {
	const op core.Op = "coretest.Memory.CreateAccount"
	m.mu.Lock()
	defer m.mu.Unlock()
	redeem := !zeroRedemption(signUp)
	if redeem && !m.redeemSignUp(signUp) {
		return core.E(op, core.KindConflict, "", core.ErrTicketSpent)
	}
	if _, taken := m.emails[u.Email]; taken && u.Email != "" {
		return core.E(op, core.KindConflict, "", core.ErrEmailTaken)
	}
	if _, taken := m.users[u.ID]; taken {
		return core.E(op, core.KindConflict, "", nil)
	}
	if _, taken := m.passkeys[p.ID]; taken {
		return core.E(op, core.KindConflict, "", core.ErrPasskeyTaken)
	}
	u = storedUser(u)
	m.users[u.ID] = u
	if u.Email != "" {
		m.emails[u.Email] = u.ID
	}
	m.passkeys[p.ID] = storedPasskey(p)
	m.counts[u.ID] = 1
	if redeem {
		delete(m.flows, signUp.ID)
	}
	return nil
}

// zeroRedemption reports whether r is the zero Redemption, which redeems nothing.
func zeroRedemption(r core.Redemption) bool {
	return r.ID == "" && len(r.TicketHash) == 0 && r.At.IsZero()
}

// UserIDByEmail returns the user holding email (core.AccountStore).
func (m *Memory) UserIDByEmail(_ context.Context, email string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	uid, ok := m.emails[email]
	if !ok || email == "" {
		return "", core.E("coretest.Memory.UserIDByEmail", core.KindNotFound, "", nil)
	}
	return uid, nil
}

// AddPasskey stores p for its existing user (core.CredentialStore).
func (m *Memory) AddPasskey(_ context.Context, p core.Passkey) error {
	const op core.Op = "coretest.Memory.AddPasskey"
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, taken := m.passkeys[p.ID]; taken {
		return core.E(op, core.KindConflict, "", core.ErrPasskeyTaken)
	}
	if _, ok := m.users[p.UserID]; !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if m.counts[p.UserID] >= core.MaxPasskeys {
		return core.E(op, core.KindConflict, "", core.ErrTooManyPasskeys)
	}
	m.passkeys[p.ID] = storedPasskey(p)
	m.counts[p.UserID]++
	return nil
}

// AddRecoveredPasskey stores p for its existing user as AddPasskey does, redeems the user's
// pending recovery with r and ends the user's sessions created at or before r.At but keep, all
// or nothing (passkey.CredentialStore). A spent ticket is reported first, then what AddPasskey
// reports, in its order.
func (m *Memory) AddRecoveredPasskey(_ context.Context, p core.Passkey, r core.Redemption, keep string) error {
	const op core.Op = "coretest.Memory.AddRecoveredPasskey"
	if r.ID != p.UserID {
		return core.Wrap(op, errors.New("the redemption is not of the passkey's user"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.redeemRecovery(r) {
		return core.E(op, core.KindConflict, "", core.ErrTicketSpent)
	}
	if _, taken := m.passkeys[p.ID]; taken {
		return core.E(op, core.KindConflict, "", core.ErrPasskeyTaken)
	}
	u, ok := m.users[p.UserID]
	if !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if m.counts[p.UserID] >= core.MaxPasskeys {
		return core.E(op, core.KindConflict, "", core.ErrTooManyPasskeys)
	}
	m.passkeys[p.ID] = storedPasskey(p)
	m.counts[p.UserID]++
	u.SessionsEndedAt, u.KeptSessionID = Milli(r.At), keep
	m.users[p.UserID] = u
	delete(m.recoveries, r.ID)
	return nil
}

// GetPasskey returns credential id (core.CredentialStore).
func (m *Memory) GetPasskey(_ context.Context, id string) (core.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok {
		return core.Passkey{}, core.E("coretest.Memory.GetPasskey", core.KindNotFound, "", nil)
	}
	return CopyPasskey(p), nil
}

// UserPasskeys lists user uid's passkeys, oldest first (core.CredentialStore).
func (m *Memory) UserPasskeys(_ context.Context, uid string) ([]core.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := []core.Passkey{}
	for _, p := range m.passkeys {
		if p.UserID == uid {
			list = append(list, CopyPasskey(p))
		}
	}
	slices.SortFunc(list, func(a, b core.Passkey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if len(list) > core.MaxPasskeys {
		list = list[:core.MaxPasskeys]
	}
	return list, nil
}

// RecordUse applies a sign-in to credential id of user uid unless the counter would not
// advance (core.CredentialStore).
func (m *Memory) RecordUse(_ context.Context, id, uid string, u core.PasskeyUse) error {
	const op core.Op = "coretest.Memory.RecordUse"
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok || p.UserID != uid {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if !(u.SignCount > p.SignCount || (u.SignCount == 0 && p.SignCount == 0)) {
		return core.E(op, core.KindConflict, "", core.ErrCounterRegressed)
	}
	p.SignCount = u.SignCount
	p.BackupState = u.BackupState
	p.UserVerified = u.UserVerified
	p.LastUsedAt = Second(u.At)
	m.passkeys[id] = p
	return nil
}

// RenamePasskey renames credential id of user uid (core.CredentialStore).
func (m *Memory) RenamePasskey(_ context.Context, uid, id, name string) (core.Passkey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok || p.UserID != uid {
		return core.Passkey{}, core.E("coretest.Memory.RenamePasskey", core.KindNotFound, "", nil)
	}
	p.Name = name
	m.passkeys[id] = p
	return CopyPasskey(p), nil
}

// DeletePasskey removes credential id of user uid unless it is the user's last
// (core.CredentialStore).
func (m *Memory) DeletePasskey(_ context.Context, uid, id string) error {
	const op core.Op = "coretest.Memory.DeletePasskey"
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.passkeys[id]
	if !ok || p.UserID != uid {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if m.counts[uid] <= 1 {
		return core.E(op, core.KindConflict, "", core.ErrLastPasskey)
	}
	delete(m.passkeys, id)
	m.counts[uid]--
	return nil
}

// storedPasskey is p as the store keeps it: times to the second, copies of every slice.
func storedPasskey(p core.Passkey) core.Passkey {
	p.CreatedAt = Second(p.CreatedAt)
	if !p.LastUsedAt.IsZero() {
		p.LastUsedAt = Second(p.LastUsedAt)
	}
	return CopyPasskey(p)
}

// CopyPasskey is p with its slices copied; empty slices are nil, as omitted attributes read
// back from the table.
func CopyPasskey(p core.Passkey) core.Passkey {
	p.PublicKey = cloneBytes(p.PublicKey)
	p.AAGUID = cloneBytes(p.AAGUID)
	if len(p.Transports) == 0 {
		p.Transports = nil
	} else {
		p.Transports = slices.Clone(p.Transports)
	}
	return p
}
