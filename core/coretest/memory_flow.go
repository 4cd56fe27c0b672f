package coretest

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/core"
)

// PutFlow stores a copy of f unless a live flow has its id (recovery.FlowStore).
func (m *Memory) PutFlow(_ context.Context, f core.EmailFlow, now time.Time) error {
	const op core.Op = "coretest.Memory.PutFlow"
	if f.Purpose != core.FlowSignUp && f.Purpose != core.FlowRecovery {
		return core.Wrap(op, errors.New("unknown flow purpose"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.flows[f.ID]; ok && live(old.ExpiresAt.Unix(), now) {
		return core.E(op, core.KindConflict, "", nil)
	}
	m.flows[f.ID] = storedFlow(f)
	return nil
}

// SpendTry takes one try of flow id if it is live at now, unverified and has one left, and
// returns the flow after that (recovery.FlowStore).
func (m *Memory) SpendTry(_ context.Context, id string, now time.Time) (core.EmailFlow, error) {
	const op core.Op = "coretest.Memory.SpendTry"
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.liveFlow(id, now)
	if !ok || f.Verified || f.TriesLeft <= 0 {
		return core.EmailFlow{}, core.E(op, core.KindNotFound, "", nil)
	}
	f.TriesLeft--
	m.flows[id] = f
	return copyFlow(f), nil
}

// VerifySignUp marks sign-up flow id verified with ticketHash and the new expiry, if it is live
// at now and not verified yet (recovery.FlowStore). A recovery flow is not a sign-up flow, and
// answers KindNotFound as the table does.
func (m *Memory) VerifySignUp(_ context.Context, id string, ticketHash []byte, expiresAt, now time.Time) error {
	const op core.Op = "coretest.Memory.VerifySignUp"
	if len(ticketHash) == 0 {
		return core.Wrap(op, errors.New("a verified flow needs a ticket hash"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.liveFlow(id, now)
	if !ok || f.Verified || f.Purpose != core.FlowSignUp {
		return core.E(op, core.KindNotFound, "", nil)
	}
	f.Verified, f.TicketHash, f.ExpiresAt = true, cloneBytes(ticketHash), Second(expiresAt)
	m.flows[id] = f
	return nil
}

// GetFlow returns flow id if it is live at now (passkey.TicketStore).
func (m *Memory) GetFlow(_ context.Context, id string, now time.Time) (core.EmailFlow, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.liveFlow(id, now)
	if !ok {
		return core.EmailFlow{}, core.E("coretest.Memory.GetFlow", core.KindNotFound, "", nil)
	}
	return copyFlow(f), nil
}

// liveFlow is flow id if it is stored and live at now. The caller holds mu.
func (m *Memory) liveFlow(id string, now time.Time) (core.EmailFlow, bool) {
	f, ok := m.flows[id]
	if !ok || !live(f.ExpiresAt.Unix(), now) {
		return core.EmailFlow{}, false
	}
	return f, true
}

// redeemSignUp checks that the verified sign-up flow r.ID can be redeemed with r: verified, its
// ticket hash r.TicketHash, live at r.At. The caller holds mu, and deletes the flow once the
// rest of its write is sure to succeed.
func (m *Memory) redeemSignUp(r core.Redemption) bool {
	f, ok := m.liveFlow(r.ID, r.At)
	return ok && f.Verified && len(r.TicketHash) > 0 && bytes.Equal(f.TicketHash, r.TicketHash)
}

// storedFlow is f as the store keeps it: times to the second, its own copies of the hashes.
func storedFlow(f core.EmailFlow) core.EmailFlow {
	f.CreatedAt, f.ExpiresAt = Second(f.CreatedAt), Second(f.ExpiresAt)
	return copyFlow(f)
}

// copyFlow is f with its hashes copied; empty ones are nil, as omitted attributes read back.
func copyFlow(f core.EmailFlow) core.EmailFlow {
	f.CodeHash, f.TicketHash = cloneBytes(f.CodeHash), cloneBytes(f.TicketHash)
	return f
}
