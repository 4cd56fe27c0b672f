package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// EmailRacers is how many goroutines race to claim one email.
const EmailRacers = 10

// NewUser returns a user with a fresh id and email.
func NewUser(t *testing.T) core.User {
	id := RandomID(t)
	return core.User{ID: id, Email: id + "@example.com", DisplayName: "User " + id[:6], CreatedAt: T0}
}

// UserStore is what TestUserStore needs: reading users, as the use cases do
// (passkey.AccountStore.GetUser), and seeding them.
type UserStore interface {
	UserSeeder
	GetUser(ctx context.Context, id string) (core.User, error)
}

// TestUserStore is the contract of the stores' user items: GetUser of the use-case ports and
// CreateUser of UserSeeder. newStore returns the store under test; it may return the same
// store to every subtest, as the subtests use fresh ids and emails.
func TestUserStore(t *testing.T, newStore func(t *testing.T) UserStore) {
	ctx := context.Background()
	create := func(t *testing.T, store UserStore, u core.User) core.User {
		t.Helper()
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		return u
	}
	absent := func(t *testing.T, store UserStore, id string) {
		t.Helper()
		_, err := store.GetUser(ctx, id)
		WantKind(t, err, core.KindNotFound, "GetUser of a user that was never created")
	}

	t.Run("create then get returns every field, to the second (the cut-off to the millisecond)", func(t *testing.T) {
		store := newStore(t)
		full := core.User{
			ID:              RandomID(t),
			Email:           RandomID(t) + "@example.com",
			DisplayName:     "Zoë O'Brien 🔑",
			CreatedAt:       T0.Add(-time.Hour + 600*time.Millisecond),
			Disabled:        true,
			TokensNotBefore: T0.Add(900 * time.Millisecond),
			SessionsEndedAt: T0.Add(1234567 * time.Microsecond),
			KeptSessionID:   RandomID(t),

			RecoveryCodesLeft: 7,
			RecoveryCodeSet:   RandomID(t),
		}
		bare := core.User{ID: RandomID(t), CreatedAt: T0} // no email, name or not-before
		for _, want := range []core.User{full, bare} {
			create(t, store, want)
			got, err := store.GetUser(ctx, want.ID)
			if err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			SameUser(t, got, WholeSecondsUser(want))
		}
	})

	t.Run("an unknown user is not found", func(t *testing.T) {
		absent(t, newStore(t), RandomID(t))
	})

	t.Run("an id is created once, and a refused create claims no email", func(t *testing.T) {
		store := newStore(t)
		u := create(t, store, NewUser(t))
		again := NewUser(t)
		again.ID = u.ID
		WantKind(t, store.CreateUser(ctx, again), core.KindConflict, "CreateUser with a taken id")
		got, err := store.GetUser(ctx, u.ID)
		if err != nil || got.Email != u.Email {
			t.Fatalf("GetUser after a conflicting create: %+v, %v; want the first user", got, err)
		}
		// The refused user's email was not reserved: the transaction wrote nothing.
		other := NewUser(t)
		other.Email = again.Email
		create(t, store, other)
	})

	t.Run("an email belongs to one user, and a refused create writes no user", func(t *testing.T) {
		store := newStore(t)
		u := create(t, store, NewUser(t))
		again := NewUser(t)
		again.Email = u.Email
		WantKind(t, store.CreateUser(ctx, again), core.KindConflict, "CreateUser with a taken email")
		absent(t, store, again.ID)
	})

	t.Run("users without an email do not collide", func(t *testing.T) {
		store := newStore(t)
		for range 3 {
			u := NewUser(t)
			u.Email = ""
			create(t, store, u)
		}
	})

	t.Run("of concurrent claims of one email exactly one wins", func(t *testing.T) {
		store := newStore(t)
		email := RandomID(t) + "@example.com"
		users := make([]core.User, EmailRacers)
		for i := range users {
			users[i] = NewUser(t)
			users[i].Email = email
		}
		errs := make([]error, EmailRacers)
		Race(EmailRacers, func(i int) { errs[i] = store.CreateUser(ctx, users[i]) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("users %d and %d both claimed %s", winner, i, email)
			case err == nil:
				winner = i
			default:
				WantKind(t, err, core.KindConflict, "losing CreateUser")
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

// WholeSecondsUser is u with its times as the store keeps them: to the second, SessionsEndedAt
// to the millisecond.
func WholeSecondsUser(u core.User) core.User {
	return storedUser(u)
}

// SameUser fails the test unless got and want agree on every field.
func SameUser(t *testing.T, got, want core.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.DisplayName != want.DisplayName ||
		!got.CreatedAt.Equal(want.CreatedAt) || got.Disabled != want.Disabled ||
		!got.TokensNotBefore.Equal(want.TokensNotBefore) || got.TokensNotBefore.IsZero() != want.TokensNotBefore.IsZero() ||
		!got.SessionsEndedAt.Equal(want.SessionsEndedAt) || got.SessionsEndedAt.IsZero() != want.SessionsEndedAt.IsZero() ||
		got.KeptSessionID != want.KeptSessionID ||
		got.RecoveryCodesLeft != want.RecoveryCodesLeft || got.RecoveryCodeSet != want.RecoveryCodeSet {
		t.Fatalf("got user\n%+v\nwant\n%+v", got, want)
	}
}
