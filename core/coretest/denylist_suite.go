package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// DenylistStore is what TestTokenDenylist needs: the denylist and the reader that production
// code reads it back through.
type DenylistStore interface {
	core.TokenDenylist
	core.AccessStates
}

// TestTokenDenylist is the contract of core.TokenDenylist, read back through
// core.AccessStates as every Bearer check reads it. newStore returns the store under test; it
// may return the same one to every subtest, as the subtests use fresh ids.
func TestTokenDenylist(t *testing.T, newStore func(t *testing.T) DenylistStore) {
	ctx := context.Background()
	denied := func(t *testing.T, list DenylistStore, jti string, now time.Time) bool {
		t.Helper()
		st, err := list.AccessState(ctx, RandomID(t), jti, RandomID(t), now)
		if err != nil {
			t.Fatalf("AccessState: %v", err)
		}
		return st.TokenDenied
	}

	t.Run("an unknown jti is not denied", func(t *testing.T) {
		list := newStore(t)
		if denied(t, list, RandomID(t), T0) {
			t.Fatal("unknown jti is denied")
		}
	})

	t.Run("a jti is denied until its exp", func(t *testing.T) {
		list := newStore(t)
		jti, exp := RandomID(t), T0.Add(10*time.Minute)
		if err := list.DenyToken(ctx, jti, exp); err != nil {
			t.Fatalf("DenyToken: %v", err)
		}
		for _, tc := range []struct {
			now  time.Time
			want bool
		}{
			{T0, true},
			{exp.Add(-time.Second), true},
			{exp, false}, // the token itself is expired from exp on (RFC 7519 §4.1.4)
			{exp.Add(time.Second), false},
			{exp.Add(72 * time.Hour), false}, // TTL may not have deleted the entry yet
		} {
			if got := denied(t, list, jti, tc.now); got != tc.want {
				t.Errorf("denied at exp%+v = %v, want %v", tc.now.Sub(exp), got, tc.want)
			}
		}
	})

	t.Run("denying twice is not an error", func(t *testing.T) {
		list := newStore(t)
		jti, exp := RandomID(t), T0.Add(10*time.Minute)
		for i := range 2 {
			if err := list.DenyToken(ctx, jti, exp); err != nil {
				t.Fatalf("DenyToken #%d: %v", i+1, err)
			}
		}
		if !denied(t, list, jti, T0) {
			t.Fatal("jti denied twice is not denied")
		}
	})

	t.Run("denying replaces an expired entry", func(t *testing.T) {
		list := newStore(t)
		jti := RandomID(t)
		if err := list.DenyToken(ctx, jti, T0); err != nil {
			t.Fatalf("DenyToken: %v", err)
		}
		later := T0.Add(time.Hour)
		if err := list.DenyToken(ctx, jti, later.Add(10*time.Minute)); err != nil {
			t.Fatalf("DenyToken again: %v", err)
		}
		if !denied(t, list, jti, later) {
			t.Fatal("jti denied again after its first entry expired is not denied")
		}
	})

	t.Run("denials are per jti", func(t *testing.T) {
		list := newStore(t)
		jti := RandomID(t)
		if err := list.DenyToken(ctx, jti, T0.Add(time.Minute)); err != nil {
			t.Fatalf("DenyToken: %v", err)
		}
		if denied(t, list, jti+"x", T0) || denied(t, list, RandomID(t), T0) {
			t.Fatal("a denial leaked to another jti")
		}
	})

	t.Run("concurrent denials of one jti all succeed", func(t *testing.T) {
		list := newStore(t)
		jti := RandomID(t)
		errs := make([]error, Concurrency)
		Race(Concurrency, func(i int) {
			errs[i] = list.DenyToken(ctx, jti, T0.Add(time.Minute))
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("DenyToken: %v", err)
			}
		}
		if !denied(t, list, jti, T0) {
			t.Fatal("jti not denied")
		}
	})
}
