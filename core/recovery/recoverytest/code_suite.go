package recoverytest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
)

// CodeStore is what TestCodeStore needs: the recovery-code port, the users it counts codes on
// and the recoveries a spend starts.
type CodeStore interface {
	recovery.CodeStore
	coretest.UserSeeder
	GetUser(ctx context.Context, id string) (core.User, error)
	GetRecovery(ctx context.Context, uid string, now time.Time) (core.PendingRecovery, error)
}

// CodesPerSet is how many recovery codes a set has in the suite, as the recovery desk issues.
const CodesPerSet = 10

// TestCodeStore is the contract of recovery.CodeStore. newStore returns the store under test;
// it may return the same store to every subtest, as the subtests use fresh ids.
func TestCodeStore(t *testing.T, newStore func(t *testing.T) CodeStore) {
	ctx := context.Background()
	T0 := coretest.T0
	user := func(t *testing.T, store CodeStore) core.User {
		t.Helper()
		u := coretest.NewUser(t)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		return u
	}
	replace := func(t *testing.T, store CodeStore, uid string, n int) (string, [][]byte) {
		t.Helper()
		set, hashes := coretest.RandomID(t), make([][]byte, n)
		for i := range hashes {
			hashes[i] = Hash(t)
		}
		if err := store.ReplaceRecoveryCodes(ctx, uid, set, hashes); err != nil {
			t.Fatalf("ReplaceRecoveryCodes: %v", err)
		}
		return set, hashes
	}
	codes := func(t *testing.T, store CodeStore, uid, set string, left int) {
		t.Helper()
		u, err := store.GetUser(ctx, uid)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		if u.RecoveryCodeSet != set || u.RecoveryCodesLeft != left {
			t.Fatalf("user has set %q with %d codes left, want %q with %d", u.RecoveryCodeSet, u.RecoveryCodesLeft, set, left)
		}
	}
	// recoveryOf is a code recovery started at T0 that names no user: the spend names it.
	recoveryOf := func(t *testing.T) core.PendingRecovery {
		r := NewRecovery(t, "", T0)
		r.Method, r.AvailableAt, r.CancelHash = "code", r.StartedAt, nil
		return r
	}
	spend := func(t *testing.T, store CodeStore, uid string, hash []byte) core.PendingRecovery {
		t.Helper()
		r := recoveryOf(t)
		got, err := store.SpendRecoveryCode(ctx, hash, r)
		if err != nil {
			t.Fatalf("SpendRecoveryCode: %v", err)
		}
		r.UserID = uid
		want := StoredRecovery(r)
		SameRecovery(t, got, want)
		stored, err := store.GetRecovery(ctx, uid, T0)
		if err != nil {
			t.Fatalf("GetRecovery after a spend: %v", err)
		}
		SameRecovery(t, stored, want)
		return want
	}
	refused := func(t *testing.T, store CodeStore, hash []byte, what string) {
		t.Helper()
		_, err := store.SpendRecoveryCode(ctx, hash, recoveryOf(t))
		coretest.WantKind(t, err, core.KindNotFound, what)
	}

	t.Run("a new user has no codes", func(t *testing.T) {
		store := newStore(t)
		codes(t, store, user(t, store).ID, "", 0)
	})

	t.Run("each code starts its account's recovery once, and the count goes down", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		set, hashes := replace(t, store, u.ID, 3)
		codes(t, store, u.ID, set, 3)
		spend(t, store, u.ID, hashes[0])
		codes(t, store, u.ID, set, 2)
		before, _ := store.GetRecovery(ctx, u.ID, T0)
		refused(t, store, hashes[0], "SpendRecoveryCode of a spent code")
		codes(t, store, u.ID, set, 2)
		after, err := store.GetRecovery(ctx, u.ID, T0)
		if err != nil {
			t.Fatalf("GetRecovery: %v", err)
		}
		SameRecovery(t, after, before) // the refused spend started nothing
		spend(t, store, u.ID, hashes[1])
		spend(t, store, u.ID, hashes[2]) // each spend replaces the pending recovery, and reads it back
		codes(t, store, u.ID, set, 0)
	})

	t.Run("a replaced set's codes are refused and the new set's work", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		_, old := replace(t, store, u.ID, CodesPerSet)
		spend(t, store, u.ID, old[0])
		set, fresh := replace(t, store, u.ID, CodesPerSet)
		codes(t, store, u.ID, set, CodesPerSet)
		pending, _ := store.GetRecovery(ctx, u.ID, T0)
		for _, h := range old {
			refused(t, store, h, "SpendRecoveryCode of a replaced set's code")
		}
		codes(t, store, u.ID, set, CodesPerSet)
		got, _ := store.GetRecovery(ctx, u.ID, T0)
		SameRecovery(t, got, pending)
		spend(t, store, u.ID, fresh[CodesPerSet-1])
		codes(t, store, u.ID, set, CodesPerSet-1)
	})

	t.Run("a code opens its own account only", func(t *testing.T) {
		store := newStore(t)
		u, v := user(t, store), user(t, store)
		_, mine := replace(t, store, u.ID, 2)
		theirSet, _ := replace(t, store, v.ID, 2)
		spend(t, store, u.ID, mine[0])
		codes(t, store, v.ID, theirSet, 2)
		_, err := store.GetRecovery(ctx, v.ID, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery of the other account")
	})

	t.Run("of parallel spends of one code exactly one wins", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		set, hashes := replace(t, store, u.ID, CodesPerSet)
		errs := make([]error, Racers)
		coretest.Race(Racers, func(i int) { _, errs[i] = store.SpendRecoveryCode(ctx, hashes[0], recoveryOf(t)) })
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			coretest.WantKind(t, err, core.KindNotFound, "a losing SpendRecoveryCode")
		}
		if won != 1 {
			t.Fatalf("%d spends of one code won, want 1", won)
		}
		codes(t, store, u.ID, set, CodesPerSet-1)
	})

	t.Run("parallel spends of different codes all count", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		set, hashes := replace(t, store, u.ID, CodesPerSet)
		errs := make([]error, CodesPerSet)
		coretest.Race(CodesPerSet, func(i int) { _, errs[i] = store.SpendRecoveryCode(ctx, hashes[i], recoveryOf(t)) })
		for i, err := range errs {
			if err != nil {
				t.Fatalf("SpendRecoveryCode %d: %v", i, err)
			}
		}
		codes(t, store, u.ID, set, 0)
	})

	t.Run("a spend racing a replace never opens the account with a dead code", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		_, old := replace(t, store, u.ID, CodesPerSet)
		set, fresh := coretest.RandomID(t), make([][]byte, CodesPerSet)
		for i := range fresh {
			fresh[i] = Hash(t)
		}
		errs := make([]error, CodesPerSet+1)
		coretest.Race(CodesPerSet+1, func(i int) {
			if i == CodesPerSet {
				errs[i] = store.ReplaceRecoveryCodes(ctx, u.ID, set, fresh)
				return
			}
			_, errs[i] = store.SpendRecoveryCode(ctx, old[i], recoveryOf(t))
		})
		if errs[CodesPerSet] != nil {
			t.Fatalf("ReplaceRecoveryCodes: %v", errs[CodesPerSet])
		}
		for _, err := range errs[:CodesPerSet] {
			if err != nil {
				coretest.WantKind(t, err, core.KindNotFound, "a spend of the replaced set")
			}
		}
		// Whatever the old set's spends did, they landed before the replace: the new set is whole.
		codes(t, store, u.ID, set, CodesPerSet)
	})

	t.Run("an unknown code is not found and starts nothing", func(t *testing.T) {
		store := newStore(t)
		u := user(t, store)
		replace(t, store, u.ID, 2)
		refused(t, store, Hash(t), "SpendRecoveryCode of an unknown code")
		_, err := store.GetRecovery(ctx, u.ID, T0)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery after an unknown code")
	})

	t.Run("the codes of an unknown user are not found and not stored", func(t *testing.T) {
		store := newStore(t)
		uid, hashes := coretest.RandomID(t), [][]byte{Hash(t), Hash(t)}
		coretest.WantKind(t, store.ReplaceRecoveryCodes(ctx, uid, coretest.RandomID(t), hashes), core.KindNotFound, "ReplaceRecoveryCodes of an unknown user")
		refused(t, store, hashes[0], "SpendRecoveryCode of an unknown user's code")
		_, err := store.GetUser(ctx, uid)
		coretest.WantKind(t, err, core.KindNotFound, "GetUser after ReplaceRecoveryCodes of an unknown user")
	})
}
