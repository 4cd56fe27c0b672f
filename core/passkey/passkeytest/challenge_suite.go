package passkeytest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
)

// TestChallengeStore is the contract of passkey.ChallengeStore. newStore returns the store under
// test; it may return the same store to every subtest, as the subtests use fresh ids.
func TestChallengeStore(t *testing.T, newStore func(t *testing.T) passkey.ChallengeStore) {
	ctx := context.Background()
	challenge := func(t *testing.T, state string, expiresAt time.Time) core.Challenge {
		return core.Challenge{
			ID:        coretest.RandomID(t),
			Ceremony:  core.CeremonyLogin,
			UserID:    "user-" + coretest.RandomID(t),
			State:     []byte(state),
			ExpiresAt: expiresAt,
		}
	}

	t.Run("put then take returns every field", func(t *testing.T) {
		store := newStore(t)
		for _, want := range []core.Challenge{
			{ID: coretest.RandomID(t), Ceremony: core.CeremonyRegister, UserID: "user-" + coretest.RandomID(t),
				State: []byte{0, 1, 2, 0xfe, 0xff, '{', '}'}, ExpiresAt: coretest.T0.Add(5 * time.Minute)},
			{ID: coretest.RandomID(t), Ceremony: core.CeremonyLogin, UserID: "", // discoverable login
				State: []byte(`{"challenge":"abc"}`), ExpiresAt: coretest.T0.Add(time.Minute)},
		} {
			if err := store.PutChallenge(ctx, want, coretest.T0); err != nil {
				t.Fatalf("PutChallenge: %v", err)
			}
			got, err := store.TakeChallenge(ctx, want.ID, coretest.T0.Add(time.Second))
			if err != nil {
				t.Fatalf("TakeChallenge: %v", err)
			}
			sameChallenge(t, got, want)
		}
	})

	t.Run("a challenge is taken once", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "once", coretest.T0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, c, coretest.T0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		if _, err := store.TakeChallenge(ctx, c.ID, coretest.T0); err != nil {
			t.Fatalf("first TakeChallenge: %v", err)
		}
		_, err := store.TakeChallenge(ctx, c.ID, coretest.T0)
		coretest.WantKind(t, err, core.KindNotFound, "second TakeChallenge")
	})

	t.Run("taking an unknown id is not found", func(t *testing.T) {
		_, err := newStore(t).TakeChallenge(ctx, coretest.RandomID(t), coretest.T0)
		coretest.WantKind(t, err, core.KindNotFound, "TakeChallenge")
	})

	t.Run("an expired challenge is not taken though still stored", func(t *testing.T) {
		store := newStore(t)
		for _, takeAt := range []time.Duration{5 * time.Minute, 5*time.Minute + time.Second, 72 * time.Hour} {
			c := challenge(t, "expired", coretest.T0.Add(5*time.Minute))
			if err := store.PutChallenge(ctx, c, coretest.T0); err != nil {
				t.Fatalf("PutChallenge: %v", err)
			}
			_, err := store.TakeChallenge(ctx, c.ID, coretest.T0.Add(takeAt))
			coretest.WantKind(t, err, core.KindNotFound, "TakeChallenge at expiry + "+(takeAt-5*time.Minute).String())
		}
	})

	t.Run("a challenge put already expired is not taken", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "born expired", coretest.T0.Add(-time.Second))
		if err := store.PutChallenge(ctx, c, coretest.T0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		_, err := store.TakeChallenge(ctx, c.ID, coretest.T0)
		coretest.WantKind(t, err, core.KindNotFound, "TakeChallenge")
	})

	t.Run("put replaces an expired challenge with the same id", func(t *testing.T) {
		store := newStore(t)
		old := challenge(t, "old", coretest.T0.Add(time.Minute))
		if err := store.PutChallenge(ctx, old, coretest.T0); err != nil {
			t.Fatalf("PutChallenge old: %v", err)
		}
		later := coretest.T0.Add(time.Minute) // old expires exactly now
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
		first := challenge(t, "first", coretest.T0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, first, coretest.T0); err != nil {
			t.Fatalf("PutChallenge first: %v", err)
		}
		second := challenge(t, "second", coretest.T0.Add(10*time.Minute))
		second.ID = first.ID
		err := store.PutChallenge(ctx, second, coretest.T0.Add(5*time.Minute-time.Second))
		coretest.WantKind(t, err, core.KindConflict, "PutChallenge over a live challenge")
		got, err := store.TakeChallenge(ctx, first.ID, coretest.T0)
		if err != nil {
			t.Fatalf("TakeChallenge: %v", err)
		}
		sameChallenge(t, got, first)
	})

	t.Run("an unknown ceremony is refused", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "no ceremony", coretest.T0.Add(5*time.Minute))
		c.Ceremony = 0
		if err := store.PutChallenge(ctx, c, coretest.T0); err == nil {
			t.Fatal("PutChallenge with ceremony 0: got no error")
		}
		_, err := store.TakeChallenge(ctx, c.ID, coretest.T0)
		coretest.WantKind(t, err, core.KindNotFound, "TakeChallenge after a refused put")
	})

	t.Run("of concurrent takers exactly one wins", func(t *testing.T) {
		store := newStore(t)
		c := challenge(t, "contested", coretest.T0.Add(5*time.Minute))
		if err := store.PutChallenge(ctx, c, coretest.T0); err != nil {
			t.Fatalf("PutChallenge: %v", err)
		}
		got := make([]core.Challenge, coretest.Concurrency)
		errs := make([]error, coretest.Concurrency)
		coretest.Race(coretest.Concurrency, func(i int) {
			got[i], errs[i] = store.TakeChallenge(ctx, c.ID, coretest.T0)
		})
		winners := 0
		for i, err := range errs {
			if err == nil {
				winners++
				sameChallenge(t, got[i], c)
				continue
			}
			coretest.WantKind(t, err, core.KindNotFound, "losing TakeChallenge")
		}
		if winners != 1 {
			t.Fatalf("%d of %d concurrent takers got the challenge, want exactly 1", winners, coretest.Concurrency)
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
