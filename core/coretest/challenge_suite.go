package coretest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// TestChallengeStore is the contract of core.ChallengeStore. newStore returns the store under
// test; it may return the same store to every subtest, as the subtests use fresh ids.
func TestChallengeStore(t *testing.T, newStore func(t *testing.T) core.ChallengeStore) {
	ctx := context.Background()
	challenge := func(t *testing.T, state string, expiresAt time.Time) core.Challenge {
		return core.Challenge{
			ID:        randomID(t),
			Ceremony:  core.CeremonyLogin,
			UserID:    "user-" + randomID(t),
			State:     []byte(state),
			ExpiresAt: expiresAt,
		}
	}

	t.Run("put then take returns every field", func(t *testing.T) {
		store := newStore(t)
		for _, want := range []core.Challenge{
			{ID: randomID(t), Ceremony: core.CeremonyRegister, UserID: "user-" + randomID(t),
				State: []byte{0, 1, 2, 0xfe, 0xff, '{', '}'}, ExpiresAt: t0.Add(5 * time.Minute)},
			{ID: randomID(t), Ceremony: core.CeremonyLogin, UserID: "", // discoverable login
				State: []byte(`{"challenge":"abc"}`), ExpiresAt: t0.Add(time.Minute)},
		} {
			if err := store.PutChallenge(ctx, want, t0); err != nil {
				t.Fatalf("PutChallenge: %v", err)
			}
			got, err := store.TakeChallenge(ctx, want.ID, t0.Add(time.Second))
			if err != nil {
				t.Fatalf("TakeChallenge: %v", err)
			}
			sameChallenge(t, got, want)
		}
	})

	t.Run("a challenge is taken once", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "once", t0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, c, t0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		if _, err := store.TakeChallenge(ctx, c.ID, t0); err != nil {
			t.Fatalf("first TakeChallenge: %v", err)
		}
		_, err := store.TakeChallenge(ctx, c.ID, t0)
		wantKind(t, err, core.KindNotFound, "second TakeChallenge")
	})

	t.Run("taking an unknown id is not found", func(t *testing.T) {
		_, err := newStore(t).TakeChallenge(ctx, randomID(t), t0)
		wantKind(t, err, core.KindNotFound, "TakeChallenge")
	})

	t.Run("an expired challenge is not taken though still stored", func(t *testing.T) {
		store := newStore(t)
		for _, takeAt := range []time.Duration{5 * time.Minute, 5*time.Minute + time.Second, 72 * time.Hour} {
			c := challenge(t, "expired", t0.Add(5*time.Minute))
			if err := store.PutChallenge(ctx, c, t0); err != nil {
				t.Fatalf("PutChallenge: %v", err)
			}
			_, err := store.TakeChallenge(ctx, c.ID, t0.Add(takeAt))
			wantKind(t, err, core.KindNotFound, "TakeChallenge at expiry + "+(takeAt-5*time.Minute).String())
		}
	})

	t.Run("a challenge put already expired is not taken", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "born expired", t0.Add(-time.Second))
		if err := store.PutChallenge(ctx, c, t0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		_, err := store.TakeChallenge(ctx, c.ID, t0)
		wantKind(t, err, core.KindNotFound, "TakeChallenge")
	})

	t.Run("put replaces an expired challenge with the same id", func(t *testing.T) {
		store := newStore(t)
		old := challenge(t, "old", t0.Add(time.Minute))
		if err := store.PutChallenge(ctx, old, t0); err != nil {
			t.Fatalf("PutChallenge old: %v", err)
		}
		later := t0.Add(time.Minute) // old expires exactly now
		fresh := challenge(t, "fresh", later.Add(5*time.Minute))
		fresh.ID = old.ID
		fresh.Ceremony = core.CeremonyRegister
		if err := store.PutChallenge(ctx, fresh, later); err != nil {
			t.Fatalf("PutChallenge over an expired challenge: %v", err)
		}
		got, err := store.TakeChallenge(ctx, fresh.ID, later)
		if err != nil {
			t.Fatalf("TakeChallenge: %v", err)
		}
		sameChallenge(t, got, fresh)
	})

	t.Run("put over a live challenge conflicts and keeps it", func(t *testing.T) {
		store := newStore(t)
		first := challenge(t, "first", t0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, first, t0); err != nil {
			t.Fatalf("PutChallenge first: %v", err)
		}
		second := challenge(t, "second", t0.Add(10*time.Minute))
		second.ID = first.ID
		err := store.PutChallenge(ctx, second, t0.Add(5*time.Minute-time.Second))
		wantKind(t, err, core.KindConflict, "PutChallenge over a live challenge")
		got, err := store.TakeChallenge(ctx, first.ID, t0)
		if err != nil {
			t.Fatalf("TakeChallenge: %v", err)
		}
		sameChallenge(t, got, first)
	})

	t.Run("an unknown ceremony is refused", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "no ceremony", t0.Add(5*time.Minute))
		c.Ceremony = 0
		if err := store.PutChallenge(ctx, c, t0); err == nil {
			t.Fatal("PutChallenge with ceremony 0: got no error")
		}
		_, err := store.TakeChallenge(ctx, c.ID, t0)
		wantKind(t, err, core.KindNotFound, "TakeChallenge after a refused put")
	})

	t.Run("of concurrent takers exactly one wins", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "contested", t0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, c, t0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		got := make([]core.Challenge, concurrency)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			got[i], errs[i] = store.TakeChallenge(ctx, c.ID, t0)
		})
		winners := 0
		for i, err := range errs {
			if err == nil {
				winners++
				sameChallenge(t, got[i], c)
				continue
			}
			wantKind(t, err, core.KindNotFound, "losing TakeChallenge")
		}
		if winners != 1 {
			t.Fatalf("%d of %d concurrent takers got the challenge, want exactly 1", winners, concurrency)
		}
	})
}

// sameChallenge fails the test unless got equals want field by field.
func sameChallenge(t *testing.T, got, want core.Challenge) {
	t.Helper()
	if got.ID != want.ID || got.Ceremony != want.Ceremony || got.UserID != want.UserID ||
		!bytes.Equal(got.State, want.State) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("got challenge\n%+v\nwant\n%+v", got, want)
	}
}
