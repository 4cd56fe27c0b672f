package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// emailRacers is how many goroutines race to claim one email.
const emailRacers = 10

// newUser returns a user with a fresh id and email.
func newUser(t *testing.T) core.User {
	id := randomID(t)
	return core.User{ID: id, Email: id + "@example.com", DisplayName: "User " + id[:6], CreatedAt: t0}
}

// TestUserStore is the contract of core.UserStore. newStore returns the store under test; it
// may return the same store to every subtest, as the subtests use fresh ids and emails.
func TestUserStore(t *testing.T, newStore func(t *testing.T) core.UserStore) {
	ctx := context.Background()
	create := func(t *testing.T, store core.UserStore, u core.User) core.User {
		t.Helper()
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		return u
	}
	absent := func(t *testing.T, store core.UserStore, id string) {
		t.Helper()
		_, err := store.GetUser(ctx, id)
		wantKind(t, err, core.KindNotFound, "GetUser of a user that was never created")
	}

	t.Run("create then get returns every field, to the second", func(t *testing.T) {
		store := newStore(t)
		full := core.User{
			ID:              randomID(t),
			Email:           randomID(t) + "@example.com",
			DisplayName:     "Zoë O'Brien 🔑",
			CreatedAt:       t0.Add(-time.Hour + 600*time.Millisecond),
			Disabled:        true,
			TokensNotBefore: t0.Add(900 * time.Millisecond),
		}
		bare := core.User{ID: randomID(t), CreatedAt: t0} // no email, name or not-before
		for _, want := range []core.User{full, bare} {
			create(t, store, want)
			got, err := store.GetUser(ctx, want.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			sameUser(t, got, wholeSecondsUser(want))
		}
	})

	t.Run("an unknown user is not found", func(t *testing.T) {
		absent(t, newStore(t), randomID(t))
	})

	t.Run("an id is created once, and a refused create claims no email", func(t *testing.T) {
		store := newStore(t)
		u := create(t, store, newUser(t))
		again := newUser(t)
		again.ID = u.ID
		wantKind(t, store.CreateUser(ctx, again), core.KindConflict, "CreateUser with a taken id")
		got, err := store.GetUser(ctx, u.ID)
		if err != nil || got.Email != u.Email {
			t.Fatalf("GetUser after a conflicting create: %+v, %v; want the first user", got, err)
		}
		// The refused user's email was not reserved: the transaction wrote nothing.
		other := newUser(t)
		other.Email = again.Email
		create(t, store, other)
	})

	t.Run("an email belongs to one user, and a refused create writes no user", func(t *testing.T) {
		store := newStore(t)
		u := create(t, store, newUser(t))
		again := newUser(t)
		again.Email = u.Email
		wantKind(t, store.CreateUser(ctx, again), core.KindConflict, "CreateUser with a taken email")
		absent(t, store, again.ID)
	})

	t.Run("users without an email do not collide", func(t *testing.T) {
		store := newStore(t)
		for range 3 {
			u := newUser(t)
			u.Email = ""
			create(t, store, u)
		}
	})

	t.Run("of concurrent claims of one email exactly one wins", func(t *testing.T) {
		store := newStore(t)
		email := randomID(t) + "@example.com"
		users := make([]core.User, emailRacers)
		for i := range users {
			users[i] = newUser(t)
			users[i].Email = email
		}
		errs := make([]error, emailRacers)
		race(emailRacers, func(i int) { errs[i] = store.CreateUser(ctx, users[i]) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("users %d and %d both claimed %s", winner, i, email)
			case err == nil:
				winner = i
			default:
				wantKind(t, err, core.KindConflict, "losing CreateUser")
			}
		}
		if winner < 0 {
			t.Fatal("no CreateUser won")
		}
		for i, u := range users {
			if i == winner {
				if _, err := store.GetUser(ctx, u.ID); err != nil {
					t.Fatalf("GetUser of the winner: %v", err)
				}
				continue
			}
			absent(t, store, u.ID)
		}
	})
}

// wholeSecondsUser is u with its times as the store keeps them.
func wholeSecondsUser(u core.User) core.User {
	u.CreatedAt = second(u.CreatedAt)
	if !u.TokensNotBefore.IsZero() {
		u.TokensNotBefore = second(u.TokensNotBefore)
	}
	return u
}

// sameUser fails the test unless got and want agree on every field.
func sameUser(t *testing.T, got, want core.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.DisplayName != want.DisplayName ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.Disabled != want.Disabled ||
		!got.TokensNotBefore.Equal(want.TokensNotBefore) || got.TokensNotBefore.IsZero() != want.TokensNotBefore.IsZero() {
		t.Fatalf("got user\n%+v\nwant\n%+v", got, want)
	}
}
