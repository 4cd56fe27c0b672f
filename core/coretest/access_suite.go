package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// AccessStore is what TestAccessStates needs: the access-state reader and the ports that write
// what it reads.
type AccessStore interface {
	core.SessionStore
	UserSeeder
	core.TokenDenylist
	core.AccessStates
}

// TestAccessStates is the contract of core.AccessStates. newStore returns the store under
// test; it may return the same store to every subtest, as the subtests use fresh ids.
func TestAccessStates(t *testing.T, newStore func(t *testing.T) AccessStore) {
	ctx := context.Background()
	// setup creates a user and a live session of theirs, and returns them with a fresh jti.
	setup := func(t *testing.T, store AccessStore) (core.User, core.Session, string) {
		t.Helper()
		u := NewUser(t)
		u.TokensNotBefore = T0.Add(-time.Minute + 250*time.Millisecond)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		s := newSession(t, u.ID, T0)
		if err := store.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return WholeSecondsUser(u), asStored(s), RandomID(t)
	}
	state := func(t *testing.T, store AccessStore, sid, jti, uid string, now time.Time) core.AccessState {
		t.Helper()
		st, err := store.AccessState(ctx, sid, jti, uid, now)
		if err != nil {
			t.Fatalf("AccessState: %v", err)
		}
		return st
	}

	t.Run("a live session, an undenied jti and a user read back whole", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		st := state(t, store, s.ID, jti, u.ID, T0)
		if !st.SessionFound || st.TokenDenied || !st.UserFound {
			t.Fatalf("AccessState = found %v, denied %v, user %v; want true, false, true", st.SessionFound, st.TokenDenied, st.UserFound)
		}
		sameSession(t, st.Session, s)
		SameUser(t, st.User, u) // TokensNotBefore included
	})

	t.Run("nothing stored reads as nothing found, without error", func(t *testing.T) {
		st := state(t, newStore(t), RandomID(t), RandomID(t), RandomID(t), T0)
		if st.SessionFound || st.TokenDenied || st.UserFound {
			t.Fatalf("AccessState of unknown ids = %+v, want nothing found", st)
		}
	})

	t.Run("a denied jti is denied until its exp", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		exp := T0.Add(10 * time.Minute)
		if err := store.DenyToken(ctx, jti, exp); err != nil {
			t.Fatalf("DenyToken: %v", err)
		}
		for _, tc := range []struct {
			now  time.Time
			want bool
		}{
			{T0, true},
			{exp.Add(-time.Second), true},
			{exp, false},
			{exp.Add(72 * time.Hour), false}, // the entry may still be stored
		} {
			if st := state(t, store, s.ID, jti, u.ID, tc.now); st.TokenDenied != tc.want {
				t.Errorf("TokenDenied at exp%+v = %v, want %v", tc.now.Sub(exp), st.TokenDenied, tc.want)
			}
		}
		if st := state(t, store, s.ID, RandomID(t), u.ID, T0); st.TokenDenied {
			t.Error("another jti of the same session is denied")
		}
	})

	t.Run("an empty sid or jti is not read", func(t *testing.T) {
		store := newStore(t)
		u, s, _ := setup(t, store)
		// A refresh has no jti: its session and user read back as for an access token.
		st := state(t, store, s.ID, "", u.ID, T0)
		if !st.SessionFound || st.TokenDenied || !st.UserFound {
			t.Fatalf("AccessState without a jti = found %v, denied %v, user %v; want true, false, true", st.SessionFound, st.TokenDenied, st.UserFound)
		}
		sameSession(t, st.Session, s)
		SameUser(t, st.User, u)
		st = state(t, store, "", "", u.ID, T0)
		if st.SessionFound || st.TokenDenied || !st.UserFound {
			t.Fatalf("AccessState of the user alone = found %v, denied %v, user %v; want false, false, true", st.SessionFound, st.TokenDenied, st.UserFound)
		}
		SameUser(t, st.User, u)
	})

	t.Run("a missing user is not found; the rest still reads", func(t *testing.T) {
		store := newStore(t)
		s := newSession(t, "user-"+RandomID(t), T0)
		if err := store.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		st := state(t, store, s.ID, RandomID(t), s.UserID, T0)
		if st.UserFound || !st.SessionFound {
			t.Fatalf("AccessState = user %v, session %v; want false, true", st.UserFound, st.SessionFound)
		}
	})

	t.Run("a disabled user is found and disabled", func(t *testing.T) {
		store := newStore(t)
		u := NewUser(t)
		u.Disabled = true
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		st := state(t, store, RandomID(t), RandomID(t), u.ID, T0)
		if !st.UserFound || !st.User.Disabled || !st.User.TokensNotBefore.IsZero() {
			t.Fatalf("AccessState user = %+v (found %v); want found, disabled, no not-before", st.User, st.UserFound)
		}
	})

	t.Run("an expired session is not found though still stored", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		for _, at := range []time.Time{s.ExpiresAt, s.ExpiresAt.Add(72 * time.Hour)} {
			if st := state(t, store, s.ID, jti, u.ID, at); st.SessionFound {
				t.Fatalf("AccessState at expiry + %v found the session", at.Sub(s.ExpiresAt))
			}
		}
		if st := state(t, store, s.ID, jti, u.ID, s.ExpiresAt.Add(-time.Second)); !st.SessionFound {
			t.Fatal("AccessState a second before expiry did not find the session")
		}
	})

	t.Run("revoked and idle sessions are found for the caller to judge", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		idle := state(t, store, s.ID, jti, u.ID, s.IdleExpiresAt)
		if !idle.SessionFound || idle.Session.Live(s.IdleExpiresAt) {
			t.Fatalf("AccessState at idle expiry: found %v, live %v; want found and not live", idle.SessionFound, idle.Session.Live(s.IdleExpiresAt))
		}
		if err := store.RevokeSession(ctx, s.ID, T0); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		if st := state(t, store, s.ID, jti, u.ID, T0); !st.SessionFound || !st.Session.Revoked {
			t.Fatalf("AccessState after revocation: found %v, revoked %v; want both", st.SessionFound, st.Session.Revoked)
		}
	})

	t.Run("ending a user's sessions is one write to the user, read back to the millisecond", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		cutoff := T0.Add(1500*time.Millisecond + 250*time.Microsecond)
		if err := store.EndSessionsBefore(ctx, u.ID, cutoff, s.ID); err != nil {
			t.Fatalf("EndSessionsBefore: %v", err)
		}
		st := state(t, store, s.ID, jti, u.ID, T0)
		want := u
		want.SessionsEndedAt, want.KeptSessionID = Milli(cutoff), s.ID
		SameUser(t, st.User, want)
		// The session item is untouched: the cut-off is the user's alone.
		sameSession(t, st.Session, s)
		// A later cut-off replaces the earlier one.
		later, other := cutoff.Add(time.Minute), RandomID(t)
		if err := store.EndSessionsBefore(ctx, u.ID, later, other); err != nil {
			t.Fatalf("EndSessionsBefore again: %v", err)
		}
		st = state(t, store, "", "", u.ID, T0)
		if !st.User.SessionsEndedAt.Equal(Milli(later)) || st.User.KeptSessionID != other {
			t.Fatalf("after a second cut-off: %v keeping %q, want %v keeping %q", st.User.SessionsEndedAt, st.User.KeptSessionID, Milli(later), other)
		}
	})

	t.Run("ending the sessions of an unknown user is not found and creates no user", func(t *testing.T) {
		store := newStore(t)
		uid := RandomID(t)
		WantKind(t, store.EndSessionsBefore(ctx, uid, T0, RandomID(t)), core.KindNotFound, "EndSessionsBefore")
		if st := state(t, store, "", "", uid, T0); st.UserFound {
			t.Fatalf("EndSessionsBefore of an unknown user created it: %+v", st.User)
		}
	})

	t.Run("writes show at the very next read", func(t *testing.T) {
		store := newStore(t)
		u, s, jti := setup(t, store)
		if _, ok, err := store.RotateRefresh(ctx, s.ID, 1, T0, T0.Add(time.Hour), core.RefreshCount{Window: T0, Count: 1}); err != nil || !ok {
			t.Fatalf("RotateRefresh: %v, %v", ok, err)
		}
		if st := state(t, store, s.ID, jti, u.ID, T0); st.Session.Generation != 2 {
			t.Fatalf("AccessState after rotation: generation %d, want 2", st.Session.Generation)
		}
		if err := store.DenyToken(ctx, jti, T0.Add(time.Minute)); err != nil {
			t.Fatalf("DenyToken: %v", err)
		}
		if st := state(t, store, s.ID, jti, u.ID, T0); !st.TokenDenied {
			t.Fatal("AccessState right after DenyToken: not denied")
		}
	})
}
