package recoverytest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// TicketStore is what TestTicketStore needs: the two reads of passkey.TicketStore, which
// register/begin checks a ticket with, and the writes whose results they must show at once.
type TicketStore interface {
	RecoveryStore
}

// TestTicketStore is the contract of the reads of passkey.TicketStore (GetFlow, GetRecovery):
// what a ticket names, live at now, and every write before the read. newStore returns the
// store under test; it may return the same store to every subtest, as the subtests use fresh
// ids.
func TestTicketStore(t *testing.T, newStore func(t *testing.T) TicketStore) {
	ctx := context.Background()
	T0 := coretest.T0

	t.Run("a flow reads as written until the second it expires", func(t *testing.T) {
		store := newStore(t)
		f := NewFlow(t, core.FlowSignUp, T0, 5)
		if err := store.PutFlow(ctx, f, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		want := StoredFlow(f)
		for _, at := range []time.Time{T0.Add(-time.Hour), want.ExpiresAt.Add(-time.Second)} {
			got, err := store.GetFlow(ctx, f.ID, at)
			if err != nil {
				t.Fatalf("GetFlow at %v: %v", at, err)
			}
			SameFlow(t, got, want)
		}
		for _, at := range []time.Time{want.ExpiresAt, f.ExpiresAt.Add(time.Hour)} {
			_, err := store.GetFlow(ctx, f.ID, at)
			coretest.WantKind(t, err, core.KindNotFound, "GetFlow at or past the expiry")
		}
	})

	t.Run("every write shows at the very next read", func(t *testing.T) {
		store := newStore(t)
		f := NewFlow(t, core.FlowSignUp, T0, 5)
		if err := store.PutFlow(ctx, f, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		if _, err := store.SpendTry(ctx, f.ID, T0); err != nil {
			t.Fatalf("SpendTry: %v", err)
		}
		if got, err := store.GetFlow(ctx, f.ID, T0); err != nil || got.TriesLeft != 4 {
			t.Fatalf("GetFlow after a try: %d left, %v; want 4", got.TriesLeft, err)
		}
		ticket := Hash(t)
		if err := store.VerifySignUp(ctx, f.ID, ticket, T0.Add(time.Hour), T0); err != nil {
			t.Fatalf("VerifySignUp: %v", err)
		}
		if got, err := store.GetFlow(ctx, f.ID, T0); err != nil || !got.Verified {
			t.Fatalf("GetFlow after VerifySignUp: verified %v, %v", got.Verified, err)
		}

		rf := NewFlow(t, core.FlowRecovery, T0, 5)
		if err := store.PutFlow(ctx, rf, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		r := NewRecovery(t, rf.UserID, T0)
		if err := store.StartRecovery(ctx, r, rf.ID, T0); err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		_, err := store.GetFlow(ctx, rf.ID, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow of the consumed flow")
		got, err := store.GetRecovery(ctx, r.UserID, T0)
		if err != nil {
			t.Fatalf("GetRecovery: %v", err)
		}
		SameRecovery(t, got, StoredRecovery(r))
		if err := store.CancelRecovery(ctx, r.UserID, r.CancelHash, T0); err != nil {
			t.Fatalf("CancelRecovery: %v", err)
		}
		_, err = store.GetRecovery(ctx, r.UserID, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery after the cancel")
	})

	t.Run("a recovery reads as written until the second it expires", func(t *testing.T) {
		store := newStore(t)
		r := NewRecovery(t, coretest.RandomID(t), T0)
		if err := store.StartRecovery(ctx, r, "", T0); err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		want := StoredRecovery(r)
		// Before it is available it is still there to read: register/begin says when.
		for _, at := range []time.Time{T0, want.AvailableAt, want.ExpiresAt.Add(-time.Second)} {
			got, err := store.GetRecovery(ctx, r.UserID, at)
			if err != nil {
				t.Fatalf("GetRecovery at %v: %v", at, err)
			}
			SameRecovery(t, got, want)
		}
		_, err := store.GetRecovery(ctx, r.UserID, want.ExpiresAt)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery at the expiry")
	})

	t.Run("unknown ids are not found", func(t *testing.T) {
		store := newStore(t)
		_, err := store.GetFlow(ctx, coretest.RandomID(t), T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow of an unknown flow")
		_, err = store.GetRecovery(ctx, coretest.RandomID(t), T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery of a user without one")
	})
}
