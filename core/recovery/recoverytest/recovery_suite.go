package recoverytest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
)

// RecoveryStore is what TestRecoveryStore needs: the recovery port and the flows it consumes.
type RecoveryStore interface {
	recovery.RecoveryStore
	FlowStore
}

// TestRecoveryStore is the contract of recovery.RecoveryStore. newStore returns the store under
// test; it may return the same store to every subtest, as the subtests use fresh ids.
func TestRecoveryStore(t *testing.T, newStore func(t *testing.T) RecoveryStore) {
	ctx := context.Background()
	T0 := coretest.T0
	start := func(t *testing.T, store RecoveryStore, r core.PendingRecovery, flowID string) core.PendingRecovery {
		t.Helper()
		if err := store.StartRecovery(ctx, r, flowID, T0); err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		return StoredRecovery(r)
	}
	get := func(t *testing.T, store RecoveryStore, uid string, now time.Time) core.PendingRecovery {
		t.Helper()
		r, err := store.GetRecovery(ctx, uid, now)
		if err != nil {
			t.Fatalf("GetRecovery: %v", err)
		}
		return r
	}
	none := func(t *testing.T, store RecoveryStore, uid, what string) {
		t.Helper()
		_, err := store.GetRecovery(ctx, uid, T0)
		coretest.WantKind(t, err, core.KindNotFound, what)
	}
	putFlow := func(t *testing.T, store RecoveryStore, f core.EmailFlow) core.EmailFlow {
		t.Helper()
		if err := store.PutFlow(ctx, f, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		return StoredFlow(f)
	}

	t.Run("start then get returns every field, to the second", func(t *testing.T) {
		store := newStore(t)
		email := NewRecovery(t, coretest.RandomID(t), T0)
		code := NewRecovery(t, coretest.RandomID(t), T0)
		code.Method, code.AvailableAt, code.CancelHash = "code", code.StartedAt, nil
		for _, r := range []core.PendingRecovery{email, code} {
			want := start(t, store, r, "")
			SameRecovery(t, get(t, store, r.UserID, T0), want)
		}
	})

	t.Run("a user without a recovery has none", func(t *testing.T) {
		none(t, newStore(t), coretest.RandomID(t), "GetRecovery of a user without one")
	})

	t.Run("a new recovery replaces the pending one", func(t *testing.T) {
		store := newStore(t)
		uid := coretest.RandomID(t)
		start(t, store, NewRecovery(t, uid, T0), "")
		second := start(t, store, NewRecovery(t, uid, T0.Add(time.Minute)), "")
		SameRecovery(t, get(t, store, uid, T0.Add(time.Minute)), second)
	})

	t.Run("an expired recovery is absent though still stored", func(t *testing.T) {
		store := newStore(t)
		r := start(t, store, NewRecovery(t, coretest.RandomID(t), T0), "")
		for _, after := range []time.Duration{0, time.Second, 72 * time.Hour} {
			at := r.ExpiresAt.Add(after)
			_, err := store.GetRecovery(ctx, r.UserID, at)
			coretest.WantKind(t, err, core.KindNotFound, "GetRecovery at expiry + "+after.String())
			coretest.WantKind(t, store.CancelRecovery(ctx, r.UserID, nil, at), core.KindNotFound, "CancelRecovery at expiry + "+after.String())
			coretest.WantKind(t, store.CancelRecovery(ctx, r.UserID, r.CancelHash, at), core.KindNotFound, "CancelRecovery with its code at expiry + "+after.String())
		}
		SameRecovery(t, get(t, store, r.UserID, r.ExpiresAt.Add(-time.Second)), r)
	})

	t.Run("a recovery flow is consumed by exactly one start", func(t *testing.T) {
		store := newStore(t)
		f := putFlow(t, store, NewFlow(t, core.FlowRecovery, T0, 5))
		for range 5 { // every try spent: consuming does not need one
			if _, err := store.SpendTry(ctx, f.ID, T0); err != nil {
				t.Fatalf("SpendTry: %v", err)
			}
		}
		r := start(t, store, NewRecovery(t, f.UserID, T0), f.ID)
		_, err := store.GetFlow(ctx, f.ID, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow of the consumed flow")
		again := NewRecovery(t, f.UserID, T0)
		coretest.WantKind(t, store.StartRecovery(ctx, again, f.ID, T0), core.KindNotFound, "StartRecovery with a consumed flow")
		SameRecovery(t, get(t, store, f.UserID, T0), r)
	})

	t.Run("a flow that is expired, verified, a sign-up's or unknown starts nothing", func(t *testing.T) {
		store := newStore(t)
		expired := putFlow(t, store, NewFlow(t, core.FlowRecovery, T0, 5))
		signUp := putFlow(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		verified := putFlow(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		if err := store.VerifySignUp(ctx, verified.ID, Hash(t), T0.Add(time.Hour), T0); err != nil {
			t.Fatalf("VerifySignUp: %v", err)
		}
		for _, c := range []struct {
			what, flow string
			now        time.Time
		}{
			{"an expired flow", expired.ID, expired.ExpiresAt},
			{"a sign-up flow", signUp.ID, T0},
			{"a verified flow", verified.ID, T0},
			{"an unknown flow", coretest.RandomID(t), T0},
		} {
			uid := coretest.RandomID(t)
			coretest.WantKind(t, store.StartRecovery(ctx, NewRecovery(t, uid, c.now), c.flow, c.now), core.KindNotFound, "StartRecovery with "+c.what)
			none(t, store, uid, "GetRecovery after StartRecovery with "+c.what)
		}
		for _, f := range []core.EmailFlow{expired, signUp, verified} {
			if _, err := store.GetFlow(ctx, f.ID, T0); err != nil {
				t.Fatalf("a refused StartRecovery consumed flow %s: %v", f.ID, err)
			}
		}
	})

	t.Run("of parallel starts with one flow exactly one wins", func(t *testing.T) {
		store := newStore(t)
		f := putFlow(t, store, NewFlow(t, core.FlowRecovery, T0, 5))
		rs := make([]core.PendingRecovery, Racers)
		for i := range rs {
			rs[i] = NewRecovery(t, f.UserID, T0)
		}
		errs := make([]error, Racers)
		coretest.Race(Racers, func(i int) { errs[i] = store.StartRecovery(ctx, rs[i], f.ID, T0) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("starts %d and %d both consumed the flow", winner, i)
			case err == nil:
				winner = i
			default:
				coretest.WantKind(t, err, core.KindNotFound, "a losing StartRecovery")
			}
		}
		if winner < 0 {
			t.Fatal("no StartRecovery won")
		}
		SameRecovery(t, get(t, store, f.UserID, T0), StoredRecovery(rs[winner]))
	})

	t.Run("cancel with the wrong code is refused; with the right one, or signed in, it ends the recovery", func(t *testing.T) {
		store := newStore(t)
		r := start(t, store, NewRecovery(t, coretest.RandomID(t), T0), "")
		for what, h := range map[string][]byte{"a wrong cancel code": Hash(t), "an empty cancel code": {}, "the ticket hash": r.TicketHash} {
			coretest.WantKind(t, store.CancelRecovery(ctx, r.UserID, h, T0), core.KindNotFound, "CancelRecovery with "+what)
			SameRecovery(t, get(t, store, r.UserID, T0), r)
		}
		if err := store.CancelRecovery(ctx, r.UserID, bytes.Clone(r.CancelHash), T0.Add(time.Minute)); err != nil {
			t.Fatalf("CancelRecovery with its cancel code: %v", err)
		}
		none(t, store, r.UserID, "GetRecovery after the cancel")
		coretest.WantKind(t, store.CancelRecovery(ctx, r.UserID, r.CancelHash, T0), core.KindNotFound, "CancelRecovery twice")

		signedIn := start(t, store, NewRecovery(t, coretest.RandomID(t), T0), "")
		if err := store.CancelRecovery(ctx, signedIn.UserID, nil, T0); err != nil {
			t.Fatalf("CancelRecovery without a code: %v", err)
		}
		none(t, store, signedIn.UserID, "GetRecovery after the signed-in cancel")
		coretest.WantKind(t, store.CancelRecovery(ctx, coretest.RandomID(t), nil, T0), core.KindNotFound, "CancelRecovery of a user without one")
	})

	t.Run("a recovery without a cancel code is cancelled only signed in", func(t *testing.T) {
		store := newStore(t)
		r := NewRecovery(t, coretest.RandomID(t), T0)
		r.CancelHash = nil
		r = start(t, store, r, "")
		coretest.WantKind(t, store.CancelRecovery(ctx, r.UserID, Hash(t), T0), core.KindNotFound, "CancelRecovery with a code of a recovery without one")
		if err := store.CancelRecovery(ctx, r.UserID, nil, T0); err != nil {
			t.Fatalf("CancelRecovery signed in: %v", err)
		}
	})
}
