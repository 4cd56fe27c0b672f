package passkeytest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
)

// PasskeyStore is what the passkey contract suite needs: the passkey ports and the user store
// that sees the accounts they create.
type PasskeyStore interface {
	passkey.CredentialStore
	passkey.AccountStore
	coretest.UserSeeder
}

// newPasskey returns a passkey of user uid with a fresh random id and every field set.
func newPasskey(t *testing.T, uid string, created time.Time) core.Passkey {
	t.Helper()
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	return core.Passkey{
		ID:                base64.RawURLEncoding.EncodeToString(raw),
		UserID:            uid,
		Name:              "Passkey ✓ " + uid[:4],
		PublicKey:         []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x00, 0xff},
		SignCount:         3,
		AAGUID:            []byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd},
		Transports:        []string{"internal", "hybrid"},
		AttestationFormat: "none",
		AttestationType:   "none",
		UserVerified:      true,
		BackupEligible:    true,
		BackupState:       false,
		CreatedAt:         created,
	}
}

// TestPasskeyStore is the contract of passkey.CredentialStore and passkey.AccountStore. newStore
// returns the store under test; it may return the same store to every subtest, as the
// subtests use fresh ids and emails.
func TestPasskeyStore(t *testing.T, newStore func(t *testing.T) PasskeyStore) {
	ctx := context.Background()
	account := func(t *testing.T, store PasskeyStore) (core.User, core.Passkey) {
		t.Helper()
		u := coretest.NewUser(t)
		p := newPasskey(t, u.ID, coretest.T0)
		if err := store.CreateAccount(ctx, u, p, core.Redemption{}); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		return u, p
	}
	add := func(t *testing.T, store PasskeyStore, uid string, created time.Time) core.Passkey {
		t.Helper()
		p := newPasskey(t, uid, created)
		if err := store.AddPasskey(ctx, p); err != nil {
			t.Fatalf("AddPasskey: %v", err)
		}
		return p
	}
	conflict := func(t *testing.T, err error, cause error, what string) {
		t.Helper()
		coretest.WantKind(t, err, core.KindConflict, what)
		if cause != nil && !errors.Is(err, cause) {
			t.Fatalf("%s: %v, want the cause %v", what, err, cause)
		}
	}
	absent := func(t *testing.T, store PasskeyStore, id string) {
		t.Helper()
		_, err := store.GetPasskey(ctx, id)
		coretest.WantKind(t, err, core.KindNotFound, "GetPasskey of a passkey that should not exist")
	}

	t.Run("create account then read user, email and passkey, every field to the second", func(t *testing.T) {
		store := newStore(t)
		u := coretest.NewUser(t)
		u.CreatedAt = coretest.T0.Add(300 * time.Millisecond)
		p := newPasskey(t, u.ID, coretest.T0.Add(700*time.Millisecond))
		if err := store.CreateAccount(ctx, u, p, core.Redemption{}); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil {
			t.Fatalf("GetPasskey: %v", err)
		}
		samePasskey(t, got, wholeSecondsPasskey(p))
		gotUser, err := store.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		coretest.SameUser(t, gotUser, coretest.WholeSecondsUser(u))
		uid, err := store.UserIDByEmail(ctx, u.Email)
		if err != nil || uid != u.ID {
			t.Fatalf("UserIDByEmail = %q, %v; want %q", uid, err, u.ID)
		}
	})

	t.Run("a minimal passkey reads back with empty fields empty", func(t *testing.T) {
		store := newStore(t)
		u := coretest.NewUser(t)
		u.Email = ""
		p := newPasskey(t, u.ID, coretest.T0)
		p.Name, p.AAGUID, p.Transports, p.AttestationFormat, p.AttestationType = "", nil, nil, "", ""
		p.SignCount, p.UserVerified, p.BackupEligible = 0, false, false
		if err := store.CreateAccount(ctx, u, p, core.Redemption{}); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil {
			t.Fatalf("GetPasskey: %v", err)
		}
		samePasskey(t, got, wholeSecondsPasskey(p))
	})

	t.Run("unknown ids and emails are not found", func(t *testing.T) {
		store := newStore(t)
		absent(t, store, coretest.RandomID(t))
		_, err := store.UserIDByEmail(ctx, coretest.RandomID(t)+"@example.com")
		coretest.WantKind(t, err, core.KindNotFound, "UserIDByEmail of an unknown email")
	})

	t.Run("an email belongs to one account; the refused account writes nothing", func(t *testing.T) {
		store := newStore(t)
		u, _ := account(t, store)
		v := coretest.NewUser(t)
		v.Email = u.Email
		p := newPasskey(t, v.ID, coretest.T0)
		conflict(t, store.CreateAccount(ctx, v, p, core.Redemption{}), core.ErrEmailTaken, "CreateAccount with a taken email")
		absent(t, store, p.ID)
		_, err := store.GetUser(ctx, v.ID)
		coretest.WantKind(t, err, core.KindNotFound, "GetUser of the refused account")
	})

	t.Run("a credential id belongs to one user, at sign-up and when added", func(t *testing.T) {
		store := newStore(t)
		u, p := account(t, store)
		v := coretest.NewUser(t)
		stolen := newPasskey(t, v.ID, coretest.T0)
		stolen.ID = p.ID
		conflict(t, store.CreateAccount(ctx, v, stolen, core.Redemption{}), core.ErrPasskeyTaken, "CreateAccount with a taken credential id")
		_, err := store.GetUser(ctx, v.ID)
		coretest.WantKind(t, err, core.KindNotFound, "GetUser of the refused account")
		if _, err := store.UserIDByEmail(ctx, v.Email); !core.Is(err, core.KindNotFound) {
			t.Fatalf("the refused account's email was claimed: %v", err)
		}

		w, _ := account(t, store)
		again := newPasskey(t, w.ID, coretest.T0)
		again.ID = p.ID
		conflict(t, store.AddPasskey(ctx, again), core.ErrPasskeyTaken, "AddPasskey of another user's credential id")
		same := newPasskey(t, u.ID, coretest.T0)
		same.ID = p.ID
		conflict(t, store.AddPasskey(ctx, same), core.ErrPasskeyTaken, "AddPasskey of the user's own credential id again")
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil || got.UserID != u.ID || !slices.Equal(got.PublicKey, p.PublicKey) {
			t.Fatalf("GetPasskey after refused reuse: %+v, %v; want the first owner's", got, err)
		}
	})

	t.Run("adding to a user that does not exist is not found", func(t *testing.T) {
		store := newStore(t)
		p := newPasskey(t, coretest.RandomID(t), coretest.T0)
		coretest.WantKind(t, store.AddPasskey(ctx, p), core.KindNotFound, "AddPasskey for an unknown user")
		absent(t, store, p.ID)
	})

	t.Run("a user created without passkeys can add one, and cannot delete it", func(t *testing.T) {
		store := newStore(t)
		u := coretest.NewUser(t)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		p := add(t, store, u.ID, coretest.T0)
		conflict(t, store.DeletePasskey(ctx, u.ID, p.ID), core.ErrLastPasskey, "DeletePasskey of the only passkey")
	})

	t.Run("an account holds at most MaxPasskeys", func(t *testing.T) {
		store := newStore(t)
		u, _ := account(t, store)
		for i := 1; i < core.MaxPasskeys; i++ {
			add(t, store, u.ID, coretest.T0.Add(time.Duration(i)*time.Second))
		}
		extra := newPasskey(t, u.ID, coretest.T0.Add(time.Hour))
		conflict(t, store.AddPasskey(ctx, extra), core.ErrTooManyPasskeys, "AddPasskey beyond the limit")
		absent(t, store, extra.ID)
	})

	t.Run("a user's passkeys list oldest first, and only theirs", func(t *testing.T) {
		store := newStore(t)
		u, first := account(t, store)
		newest := add(t, store, u.ID, coretest.T0.Add(2*time.Second))
		middle := add(t, store, u.ID, coretest.T0.Add(time.Second))
		account(t, store) // another user's passkey
		list, err := store.UserPasskeys(ctx, u.ID)
		if err != nil {
			t.Fatalf("UserPasskeys: %v", err)
		}
		var got []string
		for _, p := range list {
			got = append(got, p.ID)
		}
		if want := []string{first.ID, middle.ID, newest.ID}; !slices.Equal(got, want) {
			t.Fatalf("UserPasskeys = %v, want %v", got, want)
		}
		samePasskey(t, list[0], wholeSecondsPasskey(first))
		none, err := store.UserPasskeys(ctx, coretest.RandomID(t))
		if err != nil || len(none) != 0 {
			t.Fatalf("UserPasskeys of a user without passkeys: %v, %v; want none", none, err)
		}
	})

	t.Run("a use advances the counter and never lowers it", func(t *testing.T) {
		store := newStore(t)
		u, p := account(t, store) // SignCount 3
		at := coretest.T0.Add(90*time.Second + 500*time.Millisecond)
		use := core.PasskeyUse{SignCount: 4, BackupState: true, UserVerified: true, At: at}
		if err := store.RecordUse(ctx, p.ID, u.ID, use); err != nil {
			t.Fatalf("RecordUse 3 → 4: %v", err)
		}
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil {
			t.Fatalf("GetPasskey: %v", err)
		}
		if got.SignCount != 4 || !got.BackupState || !got.LastUsedAt.Equal(coretest.Second(at)) || got.Name != p.Name {
			t.Fatalf("after RecordUse: %+v", got)
		}
		for _, n := range []uint32{4, 2, 0} {
			conflict(t, store.RecordUse(ctx, p.ID, u.ID, core.PasskeyUse{SignCount: n, At: at.Add(time.Minute)}), core.ErrCounterRegressed,
				"RecordUse with a counter that does not advance")
		}
		got, _ = store.GetPasskey(ctx, p.ID)
		if got.SignCount != 4 || !got.LastUsedAt.Equal(coretest.Second(at)) {
			t.Fatalf("a refused use changed the passkey: %+v", got)
		}
	})

	t.Run("an authenticator without a counter stays at zero", func(t *testing.T) {
		store := newStore(t)
		u := coretest.NewUser(t)
		p := newPasskey(t, u.ID, coretest.T0)
		p.SignCount = 0
		if err := store.CreateAccount(ctx, u, p, core.Redemption{}); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		for i := range 3 {
			if err := store.RecordUse(ctx, p.ID, u.ID, core.PasskeyUse{At: coretest.T0.Add(time.Duration(i) * time.Minute)}); err != nil {
				t.Fatalf("RecordUse 0 → 0: %v", err)
			}
		}
		if err := store.RecordUse(ctx, p.ID, u.ID, core.PasskeyUse{SignCount: 7, At: coretest.T0}); err != nil {
			t.Fatalf("RecordUse 0 → 7: %v", err)
		}
		conflict(t, store.RecordUse(ctx, p.ID, u.ID, core.PasskeyUse{At: coretest.T0}), core.ErrCounterRegressed, "RecordUse 7 → 0")
	})

	t.Run("a use of an unknown or another user's passkey is not found", func(t *testing.T) {
		store := newStore(t)
		_, p := account(t, store)
		v, _ := account(t, store)
		coretest.WantKind(t, store.RecordUse(ctx, p.ID, v.ID, core.PasskeyUse{SignCount: 9, At: coretest.T0}), core.KindNotFound, "RecordUse by another user")
		coretest.WantKind(t, store.RecordUse(ctx, coretest.RandomID(t), v.ID, core.PasskeyUse{SignCount: 9, At: coretest.T0}), core.KindNotFound, "RecordUse of an unknown passkey")
		got, _ := store.GetPasskey(ctx, p.ID)
		if got.SignCount != p.SignCount {
			t.Fatalf("another user's use changed the counter to %d", got.SignCount)
		}
	})

	t.Run("of concurrent uses the counter ends at the highest, which always wins", func(t *testing.T) {
		store := newStore(t)
		u, p := account(t, store) // SignCount 3
		errs := make([]error, coretest.Concurrency)
		coretest.Race(coretest.Concurrency, func(i int) {
			errs[i] = store.RecordUse(ctx, p.ID, u.ID, core.PasskeyUse{SignCount: uint32(10 + i), At: coretest.T0})
		})
		for i, err := range errs {
			if err != nil && !errors.Is(err, core.ErrCounterRegressed) {
				t.Fatalf("RecordUse %d: %v", 10+i, err)
			}
		}
		if errs[coretest.Concurrency-1] != nil {
			t.Fatalf("the highest count was refused: %v", errs[coretest.Concurrency-1])
		}
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil || got.SignCount != uint32(10+coretest.Concurrency-1) {
			t.Fatalf("counter after the race = %d, %v; want %d", got.SignCount, err, 10+coretest.Concurrency-1)
		}
	})

	t.Run("rename changes the name of one's own passkey only", func(t *testing.T) {
		store := newStore(t)
		u, p := account(t, store)
		v, _ := account(t, store)
		got, err := store.RenamePasskey(ctx, u.ID, p.ID, "Work laptop")
		if err != nil || got.Name != "Work laptop" || got.ID != p.ID || got.SignCount != p.SignCount {
			t.Fatalf("RenamePasskey: %+v, %v", got, err)
		}
		_, err = store.RenamePasskey(ctx, v.ID, p.ID, "Mine now")
		coretest.WantKind(t, err, core.KindNotFound, "RenamePasskey by another user")
		_, err = store.RenamePasskey(ctx, u.ID, coretest.RandomID(t), "Ghost")
		coretest.WantKind(t, err, core.KindNotFound, "RenamePasskey of an unknown passkey")
		again, _ := store.GetPasskey(ctx, p.ID)
		if again.Name != "Work laptop" {
			t.Fatalf("name after another user's rename = %q", again.Name)
		}
	})

	t.Run("delete removes one's own passkey but never the last", func(t *testing.T) {
		store := newStore(t)
		u, first := account(t, store)
		v, _ := account(t, store)
		other := add(t, store, u.ID, coretest.T0.Add(time.Second))
		coretest.WantKind(t, store.DeletePasskey(ctx, v.ID, other.ID), core.KindNotFound, "DeletePasskey by another user")
		coretest.WantKind(t, store.DeletePasskey(ctx, u.ID, coretest.RandomID(t)), core.KindNotFound, "DeletePasskey of an unknown passkey")
		if err := store.DeletePasskey(ctx, u.ID, other.ID); err != nil {
			t.Fatalf("DeletePasskey of one of two: %v", err)
		}
		absent(t, store, other.ID)
		conflict(t, store.DeletePasskey(ctx, u.ID, first.ID), core.ErrLastPasskey, "DeletePasskey of the last")
		if _, err := store.GetPasskey(ctx, first.ID); err != nil {
			t.Fatalf("the last passkey is gone: %v", err)
		}
		coretest.WantKind(t, store.DeletePasskey(ctx, u.ID, other.ID), core.KindNotFound, "DeletePasskey twice")
		// The count follows adds and deletes: after adding one back, one may go again.
		third := add(t, store, u.ID, coretest.T0.Add(2*time.Second))
		if err := store.DeletePasskey(ctx, u.ID, first.ID); err != nil {
			t.Fatalf("DeletePasskey after adding another: %v", err)
		}
		conflict(t, store.DeletePasskey(ctx, u.ID, third.ID), core.ErrLastPasskey, "DeletePasskey of the new last")
	})

	t.Run("of concurrent deletes of the last two passkeys exactly one succeeds", func(t *testing.T) {
		store := newStore(t)
		for range 5 {
			u, first := account(t, store)
			other := add(t, store, u.ID, coretest.T0.Add(time.Second))
			ids := []string{first.ID, other.ID}
			errs := make([]error, 2)
			coretest.Race(2, func(i int) { errs[i] = store.DeletePasskey(ctx, u.ID, ids[i]) })
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
					continue
				}
				conflict(t, err, core.ErrLastPasskey, "the losing DeletePasskey")
			}
			if ok != 1 {
				t.Fatalf("%d of 2 concurrent deletes succeeded, want 1 (%v)", ok, errs)
			}
			list, err := store.UserPasskeys(ctx, u.ID)
			if err != nil {
				t.Fatalf("UserPasskeys: %v", err)
			}
			left := 0
			for _, id := range ids {
				if _, err := store.GetPasskey(ctx, id); err == nil {
					left++
				}
			}
			if left != 1 || len(list) > 1 {
				t.Fatalf("%d passkeys left (listing %d), want 1", left, len(list))
			}
		}
	})

	t.Run("of concurrent registrations of one credential id exactly one wins", func(t *testing.T) {
		store := newStore(t)
		id := newPasskey(t, "xxxx", coretest.T0).ID
		users := make([]core.User, coretest.EmailRacers)
		for i := range users {
			users[i], _ = account(t, store)
		}
		var won atomic.Int32
		errs := make([]error, coretest.EmailRacers)
		coretest.Race(coretest.EmailRacers, func(i int) {
			p := newPasskey(t, users[i].ID, coretest.T0)
			p.ID = id
			if errs[i] = store.AddPasskey(ctx, p); errs[i] == nil {
				won.Add(1)
			}
		})
		if won.Load() != 1 {
			t.Fatalf("%d registrations of one credential id won, want 1: %v", won.Load(), errs)
		}
		for _, err := range errs {
			if err != nil {
				conflict(t, err, core.ErrPasskeyTaken, "a losing AddPasskey")
			}
		}
	})

	t.Run("of concurrent sign-ups with one email exactly one account is made", func(t *testing.T) {
		store := newStore(t)
		email := strings.ToLower(coretest.RandomID(t)) + "@example.com"
		users := make([]core.User, coretest.EmailRacers)
		keys := make([]core.Passkey, coretest.EmailRacers)
		for i := range users {
			users[i] = coretest.NewUser(t)
			users[i].Email = email
			keys[i] = newPasskey(t, users[i].ID, coretest.T0)
		}
		errs := make([]error, coretest.EmailRacers)
		coretest.Race(coretest.EmailRacers, func(i int) { errs[i] = store.CreateAccount(ctx, users[i], keys[i], core.Redemption{}) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("accounts %d and %d both claimed %s", winner, i, email)
			case err == nil:
				winner = i
			default:
				conflict(t, err, core.ErrEmailTaken, "a losing CreateAccount")
				absent(t, store, keys[i].ID)
			}
		}
		if winner < 0 {
			t.Fatal("no CreateAccount won")
		}
		uid, err := store.UserIDByEmail(ctx, email)
		if err != nil || uid != users[winner].ID {
			t.Fatalf("UserIDByEmail = %q, %v; want the winner %q", uid, err, users[winner].ID)
		}
	})
}

// wholeSecondsPasskey is p with its times as the store keeps them.
func wholeSecondsPasskey(p core.Passkey) core.Passkey {
	p.CreatedAt = coretest.Second(p.CreatedAt)
	if !p.LastUsedAt.IsZero() {
		p.LastUsedAt = coretest.Second(p.LastUsedAt)
	}
	return coretest.CopyPasskey(p)
}

// samePasskey fails the test unless got and want agree on every field.
func samePasskey(t *testing.T, got, want core.Passkey) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name ||
		!slices.Equal(got.PublicKey, want.PublicKey) || got.SignCount != want.SignCount ||
		!slices.Equal(got.AAGUID, want.AAGUID) || !slices.Equal(got.Transports, want.Transports) ||
		got.AttestationFormat != want.AttestationFormat || got.AttestationType != want.AttestationType ||
		got.UserVerified != want.UserVerified || got.BackupEligible != want.BackupEligible ||
		got.BackupState != want.BackupState || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || got.LastUsedAt.IsZero() != want.LastUsedAt.IsZero() {
		t.Fatalf("got passkey\n%+v\nwant\n%+v", got, want)
	}
}
