package recoverytest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
)

// FlowStore is what TestFlowStore needs: the flow port and the flow read of
// passkey.TicketStore, which shows what the writes did.
type FlowStore interface {
	recovery.FlowStore
	GetFlow(ctx context.Context, id string, now time.Time) (core.EmailFlow, error)
}

// TestFlowStore is the contract of recovery.FlowStore. newStore returns the store under test;
// it may return the same store to every subtest, as the subtests use fresh ids.
func TestFlowStore(t *testing.T, newStore func(t *testing.T) FlowStore) {
	ctx := context.Background()
	T0 := coretest.T0
	put := func(t *testing.T, store FlowStore, f core.EmailFlow) core.EmailFlow {
		t.Helper()
		if err := store.PutFlow(ctx, f, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		return StoredFlow(f)
	}
	get := func(t *testing.T, store FlowStore, id string, now time.Time) core.EmailFlow {
		t.Helper()
		f, err := store.GetFlow(ctx, id, now)
		if err != nil {
			t.Fatalf("GetFlow: %v", err)
		}
		return f
	}

	t.Run("put then get returns every field, to the second", func(t *testing.T) {
		store := newStore(t)
		for _, f := range []core.EmailFlow{NewFlow(t, core.FlowRecovery, T0, 5), NewFlow(t, core.FlowSignUp, T0, 5)} {
			want := put(t, store, f)
			SameFlow(t, get(t, store, f.ID, T0), want)
		}
	})

	t.Run("the store keeps its own copy of the hashes", func(t *testing.T) {
		store := newStore(t)
		f := NewFlow(t, core.FlowSignUp, T0, 5)
		want := put(t, store, f)
		want.CodeHash = bytes.Clone(f.CodeHash)
		f.CodeHash[0] ^= 0xff
		got := get(t, store, f.ID, T0)
		got.CodeHash[1] ^= 0xff
		SameFlow(t, get(t, store, f.ID, T0), want)
	})

	t.Run("an unknown flow is not found on every path", func(t *testing.T) {
		store := newStore(t)
		id := coretest.RandomID(t)
		_, err := store.GetFlow(ctx, id, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow")
		_, err = store.SpendTry(ctx, id, T0)
		coretest.WantKind(t, err, core.KindNotFound, "SpendTry")
		coretest.WantKind(t, store.VerifySignUp(ctx, id, Hash(t), T0.Add(time.Hour), T0), core.KindNotFound, "VerifySignUp")
		_, err = store.GetFlow(ctx, id, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow after the refused writes")
	})

	t.Run("a live flow's id is taken, an expired one's is reused", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		g := NewFlow(t, core.FlowRecovery, f.ExpiresAt, 3)
		g.ID = f.ID
		coretest.WantKind(t, store.PutFlow(ctx, g, f.ExpiresAt.Add(-time.Second)), core.KindConflict, "PutFlow of a live flow's id")
		SameFlow(t, get(t, store, f.ID, T0), f)
		if err := store.PutFlow(ctx, g, f.ExpiresAt); err != nil {
			t.Fatalf("PutFlow of an expired flow's id: %v", err)
		}
		SameFlow(t, get(t, store, f.ID, f.ExpiresAt), StoredFlow(g))
	})

	t.Run("an expired flow is absent on every path though still stored", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		for _, after := range []time.Duration{0, time.Second, 72 * time.Hour} {
			at := f.ExpiresAt.Add(after)
			_, err := store.GetFlow(ctx, f.ID, at)
			coretest.WantKind(t, err, core.KindNotFound, "GetFlow at expiry + "+after.String())
			_, err = store.SpendTry(ctx, f.ID, at)
			coretest.WantKind(t, err, core.KindNotFound, "SpendTry at expiry + "+after.String())
			coretest.WantKind(t, store.VerifySignUp(ctx, f.ID, Hash(t), at.Add(time.Hour), at), core.KindNotFound, "VerifySignUp at expiry + "+after.String())
		}
		// None of that wrote anything: a second before expiry the flow is as put.
		SameFlow(t, get(t, store, f.ID, f.ExpiresAt.Add(-time.Second)), f)
	})

	t.Run("each try is spent once, and a flow out of tries refuses more", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowRecovery, T0, 3))
		for left := 2; left >= 0; left-- {
			got, err := store.SpendTry(ctx, f.ID, T0.Add(time.Minute))
			if err != nil {
				t.Fatalf("SpendTry with %d left: %v", left+1, err)
			}
			want := f
			want.TriesLeft = left
			SameFlow(t, got, want)
		}
		_, err := store.SpendTry(ctx, f.ID, T0.Add(time.Minute))
		coretest.WantKind(t, err, core.KindNotFound, "SpendTry of a flow out of tries")
		if got := get(t, store, f.ID, T0); got.TriesLeft != 0 {
			t.Fatalf("TriesLeft after the refused try = %d, want 0", got.TriesLeft)
		}
	})

	t.Run("of parallel tries exactly as many succeed as the flow has", func(t *testing.T) {
		store := newStore(t)
		const tries = 5
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, tries))
		left := make([]int, Racers)
		errs := make([]error, Racers)
		coretest.Race(Racers, func(i int) {
			got, err := store.SpendTry(ctx, f.ID, T0)
			left[i], errs[i] = got.TriesLeft, err
		})
		var seen []int
		for i, err := range errs {
			if err == nil {
				seen = append(seen, left[i])
				continue
			}
			coretest.WantKind(t, err, core.KindNotFound, "a SpendTry beyond the tries")
		}
		slices.Sort(seen)
		if want := []int{0, 1, 2, 3, 4}; !slices.Equal(seen, want) {
			t.Fatalf("successful tries left %v, want %v: one each, no more than %d", seen, want, tries)
		}
		if got := get(t, store, f.ID, T0); got.TriesLeft != 0 {
			t.Fatalf("TriesLeft after the race = %d, want 0", got.TriesLeft)
		}
	})

	t.Run("a sign-up flow is verified once, keeping the ticket hash and the new expiry", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		if _, err := store.SpendTry(ctx, f.ID, T0); err != nil {
			t.Fatalf("SpendTry: %v", err)
		}
		ticket, until := Hash(t), T0.Add(time.Hour+900*time.Millisecond)
		if err := store.VerifySignUp(ctx, f.ID, ticket, until, T0.Add(time.Minute)); err != nil {
			t.Fatalf("VerifySignUp: %v", err)
		}
		want := f
		want.TriesLeft, want.Verified, want.TicketHash, want.ExpiresAt = 4, true, ticket, coretest.Second(until)
		// Past the flow's first expiry, before the new one.
		SameFlow(t, get(t, store, f.ID, f.ExpiresAt.Add(time.Minute)), want)
		coretest.WantKind(t, store.VerifySignUp(ctx, f.ID, Hash(t), until.Add(time.Hour), T0.Add(2*time.Minute)), core.KindNotFound, "VerifySignUp again")
		_, err := store.SpendTry(ctx, f.ID, T0.Add(2*time.Minute))
		coretest.WantKind(t, err, core.KindNotFound, "SpendTry of a verified flow")
		SameFlow(t, get(t, store, f.ID, T0), want)
		_, err = store.GetFlow(ctx, f.ID, until)
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow at the new expiry")
	})

	t.Run("the try that spent the last one can still verify", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, 1))
		if got, err := store.SpendTry(ctx, f.ID, T0); err != nil || got.TriesLeft != 0 {
			t.Fatalf("SpendTry = %d left, %v; want 0", got.TriesLeft, err)
		}
		if err := store.VerifySignUp(ctx, f.ID, Hash(t), T0.Add(time.Hour), T0); err != nil {
			t.Fatalf("VerifySignUp after the last try: %v", err)
		}
	})

	t.Run("of parallel verifications exactly one wins", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowSignUp, T0, 5))
		tickets := make([][]byte, Racers)
		for i := range tickets {
			tickets[i] = Hash(t)
		}
		errs := make([]error, Racers)
		coretest.Race(Racers, func(i int) { errs[i] = store.VerifySignUp(ctx, f.ID, tickets[i], T0.Add(time.Hour), T0) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("verifications %d and %d both won", winner, i)
			case err == nil:
				winner = i
			default:
				coretest.WantKind(t, err, core.KindNotFound, "a losing VerifySignUp")
			}
		}
		if winner < 0 {
			t.Fatal("no VerifySignUp won")
		}
		if got := get(t, store, f.ID, T0); !bytes.Equal(got.TicketHash, tickets[winner]) {
			t.Fatal("the stored ticket hash is not the winner's")
		}
	})

	t.Run("a recovery flow is not verified as a sign-up", func(t *testing.T) {
		store := newStore(t)
		f := put(t, store, NewFlow(t, core.FlowRecovery, T0, 5))
		coretest.WantKind(t, store.VerifySignUp(ctx, f.ID, Hash(t), T0.Add(time.Hour), T0), core.KindNotFound, "VerifySignUp of a recovery flow")
		SameFlow(t, get(t, store, f.ID, T0), f)
	})
}
