package coretest

import (
	"context"

	"github.com/latchkey/latchkey/core"
)

// recoveryCode is a stored recovery code: the account it opens and the set it belongs to.
type recoveryCode struct {
	uid, set string
}

// ReplaceRecoveryCodes makes hashes the recovery codes of user uid as set set
// (recovery.CodeStore). The codes of earlier sets are deleted at once, where the table deletes
// them afterwards, best effort; either way a spend refuses them, as it checks the set.
func (m *Memory) ReplaceRecoveryCodes(_ context.Context, uid, set string, hashes [][]byte) error {
	const op core.Op = "coretest.Memory.ReplaceRecoveryCodes"
	if err := core.CheckRecoveryCodeSet(set, hashes); err != nil {
		return core.Wrap(op, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[uid]
	if !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	u.RecoveryCodeSet, u.RecoveryCodesLeft = set, len(hashes)
	m.users[uid] = u
	for h, c := range m.codes {
		if c.uid == uid && c.set != set {
			delete(m.codes, h)
		}
	}
	for _, h := range hashes {
		m.codes[string(h)] = recoveryCode{uid: uid, set: set}
	}
	return nil
}

// SpendRecoveryCode spends the code whose keyed hash is hash, if its set is still its user's,
// and makes r (for that user) the user's pending recovery, all or nothing (recovery.CodeStore).
func (m *Memory) SpendRecoveryCode(_ context.Context, hash []byte, r core.PendingRecovery) (core.PendingRecovery, error) {
	const op core.Op = "coretest.Memory.SpendRecoveryCode"
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.codes[string(hash)]
	if !ok || len(hash) == 0 {
		return core.PendingRecovery{}, core.E(op, core.KindNotFound, "", nil)
	}
	u, ok := m.users[c.uid]
	if !ok || u.RecoveryCodeSet != c.set {
		return core.PendingRecovery{}, core.E(op, core.KindNotFound, "", nil)
	}
	delete(m.codes, string(hash))
	u.RecoveryCodesLeft--
	m.users[c.uid] = u
	r.UserID = c.uid
	r = storedRecovery(r)
	m.recoveries[c.uid] = r
	return copyRecovery(r), nil
}
