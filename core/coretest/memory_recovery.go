package coretest

import (
	"bytes"
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// StartRecovery makes r the pending recovery of r.UserID, replacing any, and consumes the
// recovery flow flowID when it is set: only if that flow is live at now and unverified, and
// then all or nothing (recovery.RecoveryStore). A sign-up flow is not consumed by a recovery:
// KindNotFound, as in the table.
func (m *Memory) StartRecovery(_ context.Context, r core.PendingRecovery, flowID string, now time.Time) error {
	const op core.Op = "coretest.Memory.StartRecovery"
	m.mu.Lock()
	defer m.mu.Unlock()
	if flowID != "" {
		f, ok := m.liveFlow(flowID, now)
		if !ok || f.Verified || f.Purpose != core.FlowRecovery {
			return core.E(op, core.KindNotFound, "", nil)
		}
		delete(m.flows, flowID)
	}
	m.recoveries[r.UserID] = storedRecovery(r)
	return nil
}

// GetRecovery returns the pending recovery of uid if it is live at now (recovery.RecoveryStore,
// passkey.TicketStore).
func (m *Memory) GetRecovery(_ context.Context, uid string, now time.Time) (core.PendingRecovery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.liveRecovery(uid, now)
	if !ok {
		return core.PendingRecovery{}, core.E("coretest.Memory.GetRecovery", core.KindNotFound, "", nil)
	}
	return copyRecovery(r), nil
}

// CancelRecovery deletes the pending recovery of uid if it is live at now and, when cancelHash
// is not nil, its CancelHash is cancelHash (recovery.RecoveryStore). A non-nil empty
// cancelHash matches no recovery.
func (m *Memory) CancelRecovery(_ context.Context, uid string, cancelHash []byte, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.liveRecovery(uid, now)
	if !ok || (cancelHash != nil && (len(cancelHash) == 0 || !bytes.Equal(r.CancelHash, cancelHash))) {
		return core.E("coretest.Memory.CancelRecovery", core.KindNotFound, "", nil)
	}
	delete(m.recoveries, uid)
	return nil
}

// liveRecovery is the pending recovery of uid if it is stored and live at now. The caller holds
// mu.
func (m *Memory) liveRecovery(uid string, now time.Time) (core.PendingRecovery, bool) {
	r, ok := m.recoveries[uid]
	if !ok || !live(r.ExpiresAt.Unix(), now) {
		return core.PendingRecovery{}, false
	}
	return r, true
}

// redeemRecovery checks that the pending recovery of r.ID can be redeemed with r: its ticket
// hash r.TicketHash, available at r.At (to the second) and live then. The caller holds mu, and
// deletes the recovery once the rest of its write is sure to succeed.
func (m *Memory) redeemRecovery(r core.Redemption) bool {
	p, ok := m.liveRecovery(r.ID, r.At)
	return ok && len(r.TicketHash) > 0 && bytes.Equal(p.TicketHash, r.TicketHash) &&
		p.AvailableAt.Unix() <= r.At.Unix()
}

// storedRecovery is r as the store keeps it: times to the second, its own copies of the hashes.
func storedRecovery(r core.PendingRecovery) core.PendingRecovery {
	r.StartedAt, r.AvailableAt, r.ExpiresAt = Second(r.StartedAt), Second(r.AvailableAt), Second(r.ExpiresAt)
	return copyRecovery(r)
}

// copyRecovery is r with its hashes copied; empty ones are nil, as omitted attributes read back.
func copyRecovery(r core.PendingRecovery) core.PendingRecovery {
	r.TicketHash, r.CancelHash = cloneBytes(r.TicketHash), cloneBytes(r.CancelHash)
	return r
}
