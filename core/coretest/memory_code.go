package coretest

import (
	"context"
	"errors"

	"github.com/latchkey/latchkey/core"
)

// recoveryCode is a stored recovery code: the account it opens and the set it belongs to.
type recoveryCode struct {
	uid, set string
}

// maxCodesPerSet is the most codes one set may have: the table writes a set in one
// transaction of at most 100 items, one of which is the user.
const maxCodesPerSet = 99

// ReplaceRecoveryCodes makes hashes the recovery codes of user uid as set set
// (recovery.CodeStore). The codes of earlier sets are deleted at once, where the table deletes
// them afterwards, best effort; either way a spend refuses them, as it checks the set.
func (m *Memory) ReplaceRecoveryCodes(_ context.Context, uid, set string, hashes [][]byte) error {
	const op core.Op = "coretest.Memory.ReplaceRecoveryCodes"
	if err := checkCodeSet(set, hashes); err != nil {
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

// checkCodeSet refuses what no store can write as one set: an unnamed set, too many codes, an
// empty hash or one hash twice. Each is a bug of the caller.
func checkCodeSet(set string, hashes [][]byte) error {
	if set == "" {
		return errors.New("a recovery code set needs a name")
	}
	if len(hashes) > maxCodesPerSet {
		return errors.New("too many recovery codes in one set")
	}
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if len(h) == 0 || seen[string(h)] {
			return errors.New("a recovery code hash is empty or repeated")
		}
		seen[string(h)] = true
	}
	return nil
}
