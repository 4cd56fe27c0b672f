package apikeytest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// TestStore is the contract of apikey.Store, apikey.Lookup and DisableUser. newStore returns
// the store under test; it may return the same store to every subtest, as they use fresh ids.
func TestStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()
	T0 := coretest.T0
	user := func(t *testing.T, store Store) string {
		t.Helper()
		u := coretest.NewUser(t)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		return u.ID
	}
	create := func(t *testing.T, store Store, k core.APIKey, max int) core.APIKey {
		t.Helper()
		if err := store.CreateAPIKey(ctx, k, max, T0); err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		return Stored(k)
	}
	get := func(t *testing.T, store Store, hash []byte, now time.Time) core.APIKey {
		t.Helper()
		k, err := store.GetAPIKey(ctx, hash, now)
		if err != nil {
			t.Fatalf("GetAPIKey: %v", err)
		}
		if !bytes.Equal(k.Hash, hash) {
			t.Fatal("GetAPIKey answered another hash")
		}
		return k
	}
	absent := func(t *testing.T, store Store, hash []byte, now time.Time, what string) {
		t.Helper()
		_, err := store.GetAPIKey(ctx, hash, now)
		coretest.WantKind(t, err, core.KindNotFound, what)
	}
	list := func(t *testing.T, store Store, uid string, now time.Time) []core.APIKey {
		t.Helper()
		keys, err := store.ListAPIKeys(ctx, uid, now)
		if err != nil {
			t.Fatalf("ListAPIKeys: %v", err)
		}
		for _, k := range keys {
			if len(k.Hash) != 0 {
				t.Fatal("a listing holds a key's hash")
			}
		}
		return keys
	}

	t.Run("a key is found by its hash and listed under its owner", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		k := NewKey(t, uid, T0)
		k.ExpiresAt = T0.Add(time.Hour + 400*time.Millisecond)
		want := create(t, store, k, 5)
		Same(t, get(t, store, k.Hash, T0), want)
		keys := list(t, store, uid, T0)
		if len(keys) != 1 {
			t.Fatalf("listed %d keys, want 1", len(keys))
		}
		Same(t, keys[0], want)
		if other := list(t, store, user(t, store), T0); len(other) != 0 {
			t.Fatalf("another user lists %d keys", len(other))
		}
	})

	t.Run("a key without scopes or expiry reads back so", func(t *testing.T) {
		store := newStore(t)
		k := NewKey(t, user(t, store), T0)
		k.Scopes = []string{}
		want := create(t, store, k, 5)
		got := get(t, store, k.Hash, T0.Add(100*365*24*time.Hour))
		Same(t, got, want)
	})

	t.Run("listing is oldest first", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		var ids []string
		for i := range 3 {
			k := create(t, store, NewKey(t, uid, T0.Add(time.Duration(i)*time.Second)), 5)
			ids = append(ids, k.ID)
		}
		keys := list(t, store, uid, T0)
		if len(keys) != 3 || keys[0].ID != ids[0] || keys[1].ID != ids[1] || keys[2].ID != ids[2] {
			t.Fatalf("listing %+v, want ids %v in order", keys, ids)
		}
	})

	t.Run("a key of an unknown user is not found and not stored", func(t *testing.T) {
		store := newStore(t)
		k := NewKey(t, coretest.RandomID(t), T0)
		coretest.WantKind(t, store.CreateAPIKey(ctx, k, 5, T0), core.KindNotFound, "CreateAPIKey of an unknown user")
		absent(t, store, k.Hash, T0, "GetAPIKey after a refused create")
	})

	t.Run("the cap is enforced, and a delete makes room", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		var first core.APIKey
		for i := range 3 {
			k := create(t, store, NewKey(t, uid, T0), 3)
			if i == 0 {
				first = k
			}
		}
		over := NewKey(t, uid, T0)
		wantCause(t, store.CreateAPIKey(ctx, over, 3, T0), core.ErrTooManyAPIKeys, "CreateAPIKey over the cap")
		absent(t, store, over.Hash, T0, "GetAPIKey of a refused key")
		if err := store.DeleteAPIKey(ctx, uid, first.ID); err != nil {
			t.Fatalf("DeleteAPIKey: %v", err)
		}
		create(t, store, NewKey(t, uid, T0), 3)
		if n := len(list(t, store, uid, T0)); n != 3 {
			t.Fatalf("listed %d keys, want 3", n)
		}
	})

	t.Run("of parallel creates no more than the cap succeed", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		const max = 5
		errs := make([]error, Racers)
		coretest.Race(Racers, func(i int) { errs[i] = store.CreateAPIKey(ctx, NewKey(t, uid, T0), max, T0) })
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			if core.KindOf(err) != core.KindUnavailable {
				wantCause(t, err, core.ErrTooManyAPIKeys, "a losing CreateAPIKey")
			}
		}
		// A create that kept meeting other transactions may give up (KindUnavailable), so fewer
		// than the cap may win; never more.
		if won > max || won == 0 {
			t.Fatalf("%d parallel creates succeeded, want 1 to the cap, %d", won, max)
		}
		if n := len(list(t, store, uid, T0)); n != won {
			t.Fatalf("listed %d keys, want the %d created", n, won)
		}
	})

	t.Run("a deleted key is not found at once, and only its owner can delete it", func(t *testing.T) {
		store := newStore(t)
		uid, other := user(t, store), user(t, store)
		k := create(t, store, NewKey(t, uid, T0), 5)
		coretest.WantKind(t, store.DeleteAPIKey(ctx, other, k.ID), core.KindNotFound, "DeleteAPIKey of another user's key")
		get(t, store, k.Hash, T0)
		if err := store.DeleteAPIKey(ctx, uid, k.ID); err != nil {
			t.Fatalf("DeleteAPIKey: %v", err)
		}
		absent(t, store, k.Hash, T0, "GetAPIKey of a deleted key")
		coretest.WantKind(t, store.DeleteAPIKey(ctx, uid, k.ID), core.KindNotFound, "DeleteAPIKey twice")
		coretest.WantKind(t, store.DeleteAPIKey(ctx, uid, coretest.RandomID(t)), core.KindNotFound, "DeleteAPIKey of an unknown id")
		if n := len(list(t, store, uid, T0)); n != 0 {
			t.Fatalf("listed %d keys after the delete", n)
		}
	})

	t.Run("an expired key is absent though stored, and no longer counts", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		k := NewKey(t, uid, T0)
		k.ExpiresAt = T0.Add(time.Minute + 700*time.Millisecond)
		create(t, store, k, 1)
		get(t, store, k.Hash, T0.Add(59*time.Second)) // stored to the second, rounded down: expired from T0+1m
		later := T0.Add(time.Minute)
		absent(t, store, k.Hash, later, "GetAPIKey of an expired key")
		if n := len(list(t, store, uid, later)); n != 0 {
			t.Fatalf("listed %d keys after expiry", n)
		}
		next := NewKey(t, uid, later)
		if err := store.CreateAPIKey(ctx, next, 1, later); err != nil {
			t.Fatalf("CreateAPIKey at the cap of expired keys: %v", err)
		}
		wantCause(t, store.CreateAPIKey(ctx, NewKey(t, uid, later), 1, later), core.ErrTooManyAPIKeys, "CreateAPIKey over the cap after the cleanup")
		get(t, store, next.Hash, later)
	})

	t.Run("LastUsedAt is written at most once per staleness window", func(t *testing.T) {
		store := newStore(t)
		k := create(t, store, NewKey(t, user(t, store), T0), 5)
		at := T0.Add(10*time.Second + 200*time.Millisecond)
		if err := store.TouchAPIKey(ctx, k.Hash, at, at.Add(-time.Minute)); err != nil {
			t.Fatalf("first TouchAPIKey: %v", err)
		}
		if got := get(t, store, k.Hash, T0).LastUsedAt; !got.Equal(coretest.Second(at)) {
			t.Fatalf("LastUsedAt %v, want %v", got, coretest.Second(at))
		}
		soon := at.Add(30 * time.Second)
		coretest.WantKind(t, store.TouchAPIKey(ctx, k.Hash, soon, soon.Add(-time.Minute)), core.KindConflict, "TouchAPIKey within the window")
		late := at.Add(61 * time.Second)
		if err := store.TouchAPIKey(ctx, k.Hash, late, late.Add(-time.Minute)); err != nil {
			t.Fatalf("TouchAPIKey after the window: %v", err)
		}
		if got := get(t, store, k.Hash, T0).LastUsedAt; !got.Equal(coretest.Second(late)) {
			t.Fatalf("LastUsedAt %v, want %v", got, coretest.Second(late))
		}
		errs := make([]error, Racers)
		last := late.Add(2 * time.Minute)
		coretest.Race(Racers, func(i int) { errs[i] = store.TouchAPIKey(ctx, k.Hash, last, last.Add(-time.Minute)) })
		wrote := 0
		for _, err := range errs {
			if err == nil {
				wrote++
			}
		}
		if wrote != 1 {
			t.Fatalf("%d of %d parallel touches wrote, want 1", wrote, Racers)
		}
		coretest.WantKind(t, store.TouchAPIKey(ctx, Hash(t), last, last.Add(-time.Minute)), core.KindConflict, "TouchAPIKey of an unknown key")
		absent(t, store, Hash(t), T0, "GetAPIKey of an unknown hash")
	})

	t.Run("disabling the owner stops every key and refuses new ones", func(t *testing.T) {
		store := newStore(t)
		uid, other := user(t, store), user(t, store)
		var keys []core.APIKey
		for range 3 {
			keys = append(keys, create(t, store, NewKey(t, uid, T0), 5))
		}
		theirs := create(t, store, NewKey(t, other, T0), 5)
		if err := store.DisableUser(ctx, uid, T0); err != nil {
			t.Fatalf("DisableUser: %v", err)
		}
		for _, k := range keys {
			if got := get(t, store, k.Hash, T0); !got.OwnerDisabled || got.Live(T0) {
				t.Fatalf("a key of a disabled user reads %+v", got)
			}
		}
		if got := get(t, store, theirs.Hash, T0); got.OwnerDisabled {
			t.Fatal("another user's key was disabled")
		}
		if u, err := store.GetUser(ctx, uid); err != nil || !u.Disabled {
			t.Fatalf("GetUser after DisableUser: %+v %v", u, err)
		}
		wantCause(t, store.CreateAPIKey(ctx, NewKey(t, uid, T0), 5, T0), core.ErrOwnerDisabled, "CreateAPIKey of a disabled user")
		coretest.WantKind(t, store.DisableUser(ctx, coretest.RandomID(t), T0), core.KindNotFound, "DisableUser of an unknown user")
	})

	t.Run("a disable racing creates never leaves a live key of a disabled user", func(t *testing.T) {
		store := newStore(t)
		uid := user(t, store)
		create(t, store, NewKey(t, uid, T0), Racers+1)
		made := make([]core.APIKey, Racers)
		errs := make([]error, Racers+1)
		coretest.Race(Racers+1, func(i int) {
			if i == Racers {
				errs[i] = store.DisableUser(ctx, uid, T0)
				return
			}
			made[i] = NewKey(t, uid, T0)
			errs[i] = store.CreateAPIKey(ctx, made[i], Racers+1, T0)
		})
		if errs[Racers] != nil {
			t.Fatalf("DisableUser: %v", errs[Racers])
		}
		for i, k := range made {
			if errs[i] != nil {
				if core.KindOf(errs[i]) != core.KindUnavailable {
					wantCause(t, errs[i], core.ErrOwnerDisabled, "a create refused by the disable")
				}
				absent(t, store, k.Hash, T0, "GetAPIKey of a refused create")
				continue
			}
			if got := get(t, store, k.Hash, T0); got.Live(T0) {
				t.Fatalf("key %d of a disabled user is live: %+v", i, got)
			}
		}
	})
}
