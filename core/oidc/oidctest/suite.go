package oidctest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/oidc"
)

// TestStore is the contract of oidc.Store. newStore returns the store under test; it may
// return the same store to every subtest, as they use fresh ids and hashes.
func TestStore(t *testing.T, newStore func(t *testing.T) oidc.Store) {
	ctx := context.Background()
	T0 := coretest.T0
	later := []time.Duration{0, time.Second, 72 * time.Hour} // at expiry, and after

	putRequest := func(t *testing.T, store oidc.Store, r oidc.Request) oidc.Request {
		t.Helper()
		if err := store.PutRequest(ctx, r); err != nil {
			t.Fatalf("PutRequest: %v", err)
		}
		return StoredRequest(r)
	}
	getRequest := func(t *testing.T, store oidc.Store, id string, now time.Time) oidc.Request {
		t.Helper()
		r, err := store.GetRequest(ctx, id, now)
		if err != nil {
			t.Fatalf("GetRequest: %v", err)
		}
		return r
	}
	takeRequest := func(t *testing.T, store oidc.Store, r oidc.Request, now time.Time) oidc.Request {
		t.Helper()
		got, err := store.TakeRequest(ctx, r.ID, r.Binding, now)
		if err != nil {
			t.Fatalf("TakeRequest: %v", err)
		}
		return got
	}
	noRequest := func(t *testing.T, store oidc.Store, r oidc.Request, now time.Time, what string) {
		t.Helper()
		_, err := store.GetRequest(ctx, r.ID, now)
		coretest.WantKind(t, err, core.KindNotFound, "GetRequest "+what)
		_, err = store.TakeRequest(ctx, r.ID, r.Binding, now)
		coretest.WantKind(t, err, core.KindNotFound, "TakeRequest "+what)
	}
	putCode := func(t *testing.T, store oidc.Store, c oidc.Code) oidc.Code {
		t.Helper()
		if err := store.PutCode(ctx, c); err != nil {
			t.Fatalf("PutCode: %v", err)
		}
		return StoredCode(c)
	}
	// takeCode takes code hash at now and checks that it is the first take: want, marked used
	// at now.
	// The code keeps its own expiry (keepUntil = ExpiresAt) unless a case says otherwise.
	takeCode := func(t *testing.T, store oidc.Store, want oidc.Code, now time.Time) oidc.Code {
		t.Helper()
		got, err := store.TakeCode(ctx, want.Hash, now, want.ExpiresAt)
		if err != nil {
			t.Fatalf("TakeCode: %v", err)
		}
		want.UsedAt = coretest.Second(now)
		SameCode(t, got, want)
		return want
	}
	// usedCode takes code hash at now and checks that it finds it used: want, with KindConflict.
	usedCode := func(t *testing.T, store oidc.Store, want oidc.Code, now time.Time, what string) {
		t.Helper()
		got, err := store.TakeCode(ctx, want.Hash, now, now.Add(time.Hour))
		coretest.WantKind(t, err, core.KindConflict, what)
		SameCode(t, got, want)
	}
	putSession := func(t *testing.T, store oidc.Store, s oidc.ProviderSession) oidc.ProviderSession {
		t.Helper()
		if err := store.PutProviderSession(ctx, s); err != nil {
			t.Fatalf("PutProviderSession: %v", err)
		}
		return StoredProviderSession(s)
	}
	getSession := func(t *testing.T, store oidc.Store, hash oidc.Hash, now time.Time) oidc.ProviderSession {
		t.Helper()
		s, err := store.GetProviderSession(ctx, hash, now)
		if err != nil {
			t.Fatalf("GetProviderSession: %v", err)
		}
		return s
	}
	noSession := func(t *testing.T, store oidc.Store, hash oidc.Hash, now time.Time, what string) {
		t.Helper()
		_, err := store.GetProviderSession(ctx, hash, now)
		coretest.WantKind(t, err, core.KindNotFound, "GetProviderSession "+what)
	}

	// Authorization requests.

	t.Run("a request reads back with every field, to the second, and reading it does not take it", func(t *testing.T) {
		store := newStore(t)
		want := putRequest(t, store, NewRequest(t, T0))
		SameRequest(t, getRequest(t, store, want.ID, T0), want)
		SameRequest(t, getRequest(t, store, want.ID, T0.Add(time.Minute)), want)
		SameRequest(t, takeRequest(t, store, want, T0.Add(2*time.Minute)), want)
	})

	t.Run("a request without the optional parameters reads back without them", func(t *testing.T) {
		store := newStore(t)
		r := NewRequest(t, T0)
		r.State, r.Nonce, r.Prompt, r.LoginHint, r.MaxAge, r.HasMaxAge = "", "", "", "", 0, false
		r.Scope = "openid"
		want := putRequest(t, store, r)
		SameRequest(t, getRequest(t, store, r.ID, T0), want)
		SameRequest(t, takeRequest(t, store, r, T0), want)
	})

	t.Run("max_age=0 is kept apart from no max_age, and max_age is kept in whole seconds", func(t *testing.T) {
		store := newStore(t)
		for _, tc := range []struct {
			name      string
			maxAge    time.Duration
			hasMaxAge bool
			want      time.Duration
		}{
			{"max_age=0", 0, true, 0},
			{"no max_age", 0, false, 0},
			{"max_age=1", time.Second, true, time.Second},
			{"a day", 24 * time.Hour, true, 24 * time.Hour},
			{"a fraction", 90*time.Second + 700*time.Millisecond, true, 90 * time.Second},
			{"a MaxAge without HasMaxAge", time.Hour, false, 0},
		} {
			r := NewRequest(t, T0)
			r.MaxAge, r.HasMaxAge = tc.maxAge, tc.hasMaxAge
			want := putRequest(t, store, r)
			if want.MaxAge != tc.want || want.HasMaxAge != tc.hasMaxAge {
				t.Fatalf("%s: StoredRequest has MaxAge %v, HasMaxAge %v", tc.name, want.MaxAge, want.HasMaxAge)
			}
			got := getRequest(t, store, r.ID, T0)
			if got.MaxAge != tc.want || got.HasMaxAge != tc.hasMaxAge {
				t.Fatalf("%s: GetRequest read MaxAge %v, HasMaxAge %v; want %v, %v", tc.name, got.MaxAge, got.HasMaxAge, tc.want, tc.hasMaxAge)
			}
			SameRequest(t, takeRequest(t, store, r, T0), want)
		}
	})

	t.Run("a request is taken once", func(t *testing.T) {
		store := newStore(t)
		r := putRequest(t, store, NewRequest(t, T0))
		SameRequest(t, takeRequest(t, store, r, T0), r)
		noRequest(t, store, r, T0, "after the take")
	})

	t.Run("a request bound to another browser is not taken, and stays for its own", func(t *testing.T) {
		store := newStore(t)
		r := putRequest(t, store, NewRequest(t, T0))
		for _, binding := range []oidc.Hash{Hash(t), {}, oidc.HashOf(r.ID)} {
			_, err := store.TakeRequest(ctx, r.ID, binding, T0)
			coretest.WantKind(t, err, core.KindNotFound, "TakeRequest with another binding")
		}
		SameRequest(t, getRequest(t, store, r.ID, T0), r)
		SameRequest(t, takeRequest(t, store, r, T0), r)
	})

	t.Run("of parallel takes exactly one wins", func(t *testing.T) {
		store := newStore(t)
		r := putRequest(t, store, NewRequest(t, T0))
		got := make([]oidc.Request, coretest.Concurrency)
		errs := make([]error, coretest.Concurrency)
		coretest.Race(coretest.Concurrency, func(i int) {
			binding := r.Binding
			if i%2 == 1 {
				binding = Hash(t) // another browser racing with the request's id
			}
			got[i], errs[i] = store.TakeRequest(ctx, r.ID, binding, T0)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && i%2 == 1:
				t.Fatalf("take %d won with another browser's binding", i)
			case err == nil && winner >= 0:
				t.Fatalf("takes %d and %d both won", winner, i)
			case err == nil:
				winner = i
			default:
				coretest.WantKind(t, err, core.KindNotFound, "a losing TakeRequest")
			}
		}
		if winner < 0 {
			t.Fatal("no TakeRequest won")
		}
		SameRequest(t, got[winner], r)
		noRequest(t, store, r, T0, "after the race")
	})

	t.Run("an expired request is absent on every path though still stored", func(t *testing.T) {
		store := newStore(t)
		r := putRequest(t, store, NewRequest(t, T0))
		for _, after := range later {
			noRequest(t, store, r, r.ExpiresAt.Add(after), "at expiry + "+after.String())
		}
		// None of that wrote anything: a second before expiry the request is as put.
		last := r.ExpiresAt.Add(-time.Second)
		SameRequest(t, getRequest(t, store, r.ID, last), r)
		SameRequest(t, takeRequest(t, store, r, last), r)
	})

	t.Run("an unknown request is not found", func(t *testing.T) {
		noRequest(t, newStore(t), NewRequest(t, T0), T0, "of an unknown id")
	})

	t.Run("a put never replaces a stored request", func(t *testing.T) {
		store := newStore(t)
		r := putRequest(t, store, NewRequest(t, T0))
		other := NewRequest(t, T0.Add(time.Hour))
		other.ID = r.ID
		coretest.WantKind(t, store.PutRequest(ctx, other), core.KindConflict, "PutRequest of a stored id")
		coretest.WantKind(t, store.PutRequest(ctx, r), core.KindConflict, "PutRequest of the same request again")
		SameRequest(t, getRequest(t, store, r.ID, T0), r)
		// Nor an expired one: a put passes no now, so a stored id is taken until TTL deletes it.
		noRequest(t, store, r, r.ExpiresAt, "at expiry")
		coretest.WantKind(t, store.PutRequest(ctx, other), core.KindConflict, "PutRequest of an expired request's id")
		SameRequest(t, getRequest(t, store, r.ID, T0), r)
	})

	// Authorization codes.

	t.Run("a code is taken once: the first take marks it used, later ones find it used", func(t *testing.T) {
		store := newStore(t)
		c := putCode(t, store, NewCode(t, coretest.RandomID(t), T0))
		used := takeCode(t, store, c, T0.Add(5*time.Second+800*time.Millisecond))
		usedCode(t, store, used, T0.Add(10*time.Second), "TakeCode again")
		usedCode(t, store, used, c.ExpiresAt.Add(-time.Second), "TakeCode a third time, just before expiry")
	})

	t.Run("a used code is kept until keepUntil, past its own expiry, so a late replay is one", func(t *testing.T) {
		store := newStore(t)
		c := putCode(t, store, NewCode(t, coretest.RandomID(t), T0))
		keep := c.ExpiresAt.Add(30 * 24 * time.Hour)
		got, err := store.TakeCode(ctx, c.Hash, T0.Add(time.Second), keep)
		if err != nil {
			t.Fatalf("TakeCode: %v", err)
		}
		want := c
		want.UsedAt, want.ExpiresAt = T0.Add(time.Second), keep
		SameCode(t, got, want)
		usedCode(t, store, want, c.ExpiresAt.Add(time.Hour), "TakeCode an hour past the code's own expiry")
		usedCode(t, store, want, keep.Add(-time.Second), "TakeCode a second before keepUntil")
		_, err = store.TakeCode(ctx, c.Hash, keep, keep.Add(time.Hour))
		coretest.WantKind(t, err, core.KindNotFound, "TakeCode at keepUntil")
	})

	t.Run("a code without the optional claims reads back without them", func(t *testing.T) {
		store := newStore(t)
		for _, amr := range [][]string{nil, {}} {
			c := NewCode(t, coretest.RandomID(t), T0)
			c.Nonce, c.AMR, c.Email, c.EmailVerified, c.Name, c.Scope = "", amr, "", false, "", "openid"
			used := takeCode(t, store, putCode(t, store, c), T0)
			usedCode(t, store, used, T0, "TakeCode again")
		}
	})

	t.Run("of parallel takes of a code exactly one wins, and every other finds it used", func(t *testing.T) {
		store := newStore(t)
		c := putCode(t, store, NewCode(t, coretest.RandomID(t), T0))
		got := make([]oidc.Code, coretest.Concurrency)
		errs := make([]error, coretest.Concurrency)
		at := func(i int) time.Time { return T0.Add(time.Duration(i) * time.Second) } // all within the code's life
		coretest.Race(coretest.Concurrency, func(i int) { got[i], errs[i] = store.TakeCode(ctx, c.Hash, at(i), c.ExpiresAt) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("takes %d and %d both won", winner, i)
			case err == nil:
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no TakeCode won")
		}
		used := c
		used.UsedAt = at(winner)
		for i, err := range errs {
			if i == winner {
				SameCode(t, got[i], used)
				continue
			}
			coretest.WantKind(t, err, core.KindConflict, "a losing TakeCode")
			SameCode(t, got[i], used)
		}
		usedCode(t, store, used, T0, "TakeCode after the race")
	})

	t.Run("an expired code is not found, used or not, though still stored", func(t *testing.T) {
		store := newStore(t)
		c := putCode(t, store, NewCode(t, coretest.RandomID(t), T0))
		for _, after := range later {
			_, err := store.TakeCode(ctx, c.Hash, c.ExpiresAt.Add(after), c.ExpiresAt.Add(after+time.Hour))
			coretest.WantKind(t, err, core.KindNotFound, "TakeCode at expiry + "+after.String())
		}
		// None of that marked it used: a second before expiry it is taken for the first time.
		used := takeCode(t, store, c, c.ExpiresAt.Add(-time.Second))
		for _, after := range later {
			_, err := store.TakeCode(ctx, c.Hash, c.ExpiresAt.Add(after), c.ExpiresAt.Add(after+time.Hour))
			coretest.WantKind(t, err, core.KindNotFound, "TakeCode of a used code at expiry + "+after.String())
		}
		usedCode(t, store, used, T0, "TakeCode before expiry")
	})

	t.Run("an unknown code is not found", func(t *testing.T) {
		_, err := newStore(t).TakeCode(ctx, Hash(t), T0, T0.Add(time.Hour))
		coretest.WantKind(t, err, core.KindNotFound, "TakeCode of an unknown hash")
	})

	t.Run("a put never replaces a stored code", func(t *testing.T) {
		store := newStore(t)
		c := putCode(t, store, NewCode(t, coretest.RandomID(t), T0))
		other := NewCode(t, coretest.RandomID(t), T0.Add(time.Hour))
		other.Hash = c.Hash
		coretest.WantKind(t, store.PutCode(ctx, other), core.KindConflict, "PutCode of a stored hash")
		used := takeCode(t, store, c, T0)
		// Nor a used one, which would make a replayed code redeemable again.
		coretest.WantKind(t, store.PutCode(ctx, c), core.KindConflict, "PutCode of a used code")
		usedCode(t, store, used, T0, "TakeCode after the refused puts")
	})

	t.Run("the store keeps its own copy of a code's AMR", func(t *testing.T) {
		store := newStore(t)
		c := NewCode(t, coretest.RandomID(t), T0)
		c.AMR = []string{"hwk", "user"}
		want := putCode(t, store, c)
		want.AMR = []string{"hwk", "user"}
		c.AMR[0] = "pwd"
		got, err := store.TakeCode(ctx, c.Hash, T0, c.ExpiresAt)
		if err != nil {
			t.Fatalf("TakeCode: %v", err)
		}
		got.AMR[1] = "otp"
		want.UsedAt = coretest.Second(T0)
		usedCode(t, store, want, T0, "TakeCode again")
	})

	// Provider sessions.

	t.Run("a provider session reads back with every field, to the second", func(t *testing.T) {
		store := newStore(t)
		s := putSession(t, store, NewProviderSession(t, coretest.RandomID(t), T0))
		SameProviderSession(t, getSession(t, store, s.Hash, T0), s)
		SameProviderSession(t, getSession(t, store, s.Hash, s.ExpiresAt.Add(-time.Second)), s)
	})

	t.Run("a provider session without AMR reads back without it", func(t *testing.T) {
		store := newStore(t)
		for _, amr := range [][]string{nil, {}} {
			s := NewProviderSession(t, coretest.RandomID(t), T0)
			s.AMR = amr
			want := putSession(t, store, s)
			got := getSession(t, store, s.Hash, T0)
			if len(got.AMR) != 0 {
				t.Fatalf("AMR %q, want none", got.AMR)
			}
			SameProviderSession(t, got, want)
		}
	})

	t.Run("the store keeps its own copy of a provider session's AMR", func(t *testing.T) {
		store := newStore(t)
		s := NewProviderSession(t, coretest.RandomID(t), T0)
		s.AMR = []string{"hwk", "user"}
		want := putSession(t, store, s)
		want.AMR = []string{"hwk", "user"}
		s.AMR[0] = "pwd"
		getSession(t, store, s.Hash, T0).AMR[1] = "otp"
		SameProviderSession(t, getSession(t, store, s.Hash, T0), want)
	})

	t.Run("a deleted provider session is gone, and deleting one that is absent is fine", func(t *testing.T) {
		store := newStore(t)
		s := putSession(t, store, NewProviderSession(t, coretest.RandomID(t), T0))
		if err := store.DeleteProviderSession(ctx, s.Hash); err != nil {
			t.Fatalf("DeleteProviderSession: %v", err)
		}
		noSession(t, store, s.Hash, T0, "after the delete")
		if err := store.DeleteProviderSession(ctx, s.Hash); err != nil {
			t.Fatalf("DeleteProviderSession again: %v", err)
		}
		if err := store.DeleteProviderSession(ctx, Hash(t)); err != nil {
			t.Fatalf("DeleteProviderSession of an unknown hash: %v", err)
		}
	})

	t.Run("an expired provider session is absent though still stored, and can be deleted", func(t *testing.T) {
		store := newStore(t)
		s := putSession(t, store, NewProviderSession(t, coretest.RandomID(t), T0))
		for _, after := range later {
			noSession(t, store, s.Hash, s.ExpiresAt.Add(after), "at expiry + "+after.String())
		}
		SameProviderSession(t, getSession(t, store, s.Hash, s.ExpiresAt.Add(-time.Second)), s)
		if err := store.DeleteProviderSession(ctx, s.Hash); err != nil {
			t.Fatalf("DeleteProviderSession of an expired session: %v", err)
		}
		noSession(t, store, s.Hash, s.ExpiresAt.Add(-time.Second), "before expiry, after the delete")
	})

	t.Run("an unknown provider session is not found", func(t *testing.T) {
		noSession(t, newStore(t), Hash(t), T0, "of an unknown hash")
	})

	t.Run("a put never replaces a stored provider session", func(t *testing.T) {
		store := newStore(t)
		s := putSession(t, store, NewProviderSession(t, coretest.RandomID(t), T0))
		other := NewProviderSession(t, coretest.RandomID(t), T0.Add(time.Hour))
		other.Hash = s.Hash
		coretest.WantKind(t, store.PutProviderSession(ctx, other), core.KindConflict, "PutProviderSession of a stored hash")
		SameProviderSession(t, getSession(t, store, s.Hash, T0), s)
	})

	// All three.

	t.Run("requests, codes and provider sessions are kept apart", func(t *testing.T) {
		store := newStore(t)
		h := Hash(t)
		r := NewRequest(t, T0)
		r.ID, r.Binding = h.String(), h
		c := NewCode(t, coretest.RandomID(t), T0)
		c.Hash = h
		s := NewProviderSession(t, c.UserID, T0)
		s.Hash = h
		r, c, s = putRequest(t, store, r), putCode(t, store, c), putSession(t, store, s)
		if err := store.DeleteProviderSession(ctx, h); err != nil {
			t.Fatalf("DeleteProviderSession: %v", err)
		}
		SameRequest(t, getRequest(t, store, r.ID, T0), r)
		used := takeCode(t, store, c, T0)
		SameRequest(t, takeRequest(t, store, r, T0), r)
		usedCode(t, store, used, T0, "TakeCode again")
		s = putSession(t, store, s)
		SameProviderSession(t, getSession(t, store, h, T0), s)
	})
}
