package coretest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// rotations is how many goroutines race to rotate one refresh generation.
const rotations = 20

// newSession returns a live session of user uid created at created: absolute expiry in a day,
// idle expiry in an hour, generation 1.
func newSession(t *testing.T, uid string, created time.Time) core.Session {
	return core.Session{
		ID:            RandomID(t),
		UserID:        uid,
		AuthTime:      created.Add(-2 * time.Second),
		AMR:           []string{"hwk", "user"},
		Scope:         "openid profile",
		PasskeyID:     "cred-" + RandomID(t),
		ClientID:      "example-rp",
		ClientIP:      "203.0.113.7",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		CreatedAt:     created,
		LastUsedAt:    created,
		ExpiresAt:     created.Add(24 * time.Hour),
		IdleExpiresAt: created.Add(time.Hour),
		Generation:    1,
		RotatedAt:     created,
	}
}

// TestSessionStore is the contract of core.SessionStore. newStore returns the store under
// test; it may return the same store to every subtest, as the subtests use fresh ids.
func TestSessionStore(t *testing.T, newStore func(t *testing.T) core.SessionStore) {
	ctx := context.Background()
	create := func(t *testing.T, store core.SessionStore, s core.Session) core.Session {
		t.Helper()
		if err := store.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		return s
	}
	get := func(t *testing.T, store core.SessionStore, id string, now time.Time) core.Session {
		t.Helper()
		s, err := store.GetSession(ctx, id, now)
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		return s
	}

	t.Run("create then get returns every field, to the second (the creation to the millisecond)", func(t *testing.T) {
		store := newStore(t)
		full := core.Session{
			ID:            RandomID(t),
			UserID:        "user-" + RandomID(t),
			AuthTime:      T0.Add(-3*time.Second + 400*time.Millisecond),
			AMR:           []string{"hwk", "user", "pin"},
			Scope:         "openid email",
			PasskeyID:     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
			ClientIP:      "2001:db8::1",
			UserAgent:     "curl/8.9 ✓",
			CreatedAt:     T0.Add(700 * time.Millisecond),
			LastUsedAt:    T0.Add(time.Second + 999*time.Millisecond),
			ExpiresAt:     T0.Add(30*24*time.Hour + 500*time.Millisecond),
			IdleExpiresAt: T0.Add(7*24*time.Hour + 100*time.Millisecond),
			Revoked:       true,
			Generation:    1<<40 + 7,
			RotatedAt:     T0.Add(time.Second + 1),
		}
		bare := core.Session{ // every optional field empty
			ID:            RandomID(t),
			UserID:        "user-" + RandomID(t),
			AuthTime:      T0,
			CreatedAt:     T0,
			LastUsedAt:    T0,
			ExpiresAt:     T0.Add(time.Hour),
			IdleExpiresAt: T0.Add(time.Minute),
			RotatedAt:     T0,
		}
		for _, want := range []core.Session{full, bare} {
			create(t, store, want)
			sameSession(t, get(t, store, want.ID, T0.Add(time.Second)), asStored(want))
		}
	})

	t.Run("the store keeps its own copy of AMR", func(t *testing.T) {
		store := newStore(t)
		s := newSession(t, "user-"+RandomID(t), T0)
		s.AMR = []string{"hwk", "user"}
		create(t, store, s)
		s.AMR[0] = "pwd"
		got := get(t, store, s.ID, T0)
		if got.AMR[0] != "hwk" {
			t.Fatal("changing the caller's AMR changed the stored session")
		}
		got.AMR[1] = "otp"
		if get(t, store, s.ID, T0).AMR[1] != "user" {
			t.Fatal("changing a returned AMR changed the stored session")
		}
	})

	t.Run("an unknown session is not found on every path", func(t *testing.T) {
		store := newStore(t)
		id := RandomID(t)
		_, err := store.GetSession(ctx, id, T0)
		WantKind(t, err, core.KindNotFound, "GetSession")
		_, _, err = store.RotateRefresh(ctx, id, 1, T0, T0.Add(time.Hour), core.RefreshCount{})
		WantKind(t, err, core.KindNotFound, "RotateRefresh")
		WantKind(t, store.RevokeSession(ctx, id, T0), core.KindNotFound, "RevokeSession")
	})

	t.Run("creating a live session's id again conflicts", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		again := newSession(t, "user-"+RandomID(t), T0.Add(time.Minute))
		again.ID = s.ID
		WantKind(t, store.CreateSession(ctx, again), core.KindConflict, "second CreateSession")
		// A revoked or idle-expired session still holds its id until its absolute expiry.
		if err := store.RevokeSession(ctx, s.ID, T0); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		again.CreatedAt = s.IdleExpiresAt.Add(time.Minute)
		WantKind(t, store.CreateSession(ctx, again), core.KindConflict, "CreateSession over a revoked, idle session")
		if got := get(t, store, s.ID, T0); got.UserID != s.UserID {
			t.Fatalf("a conflicting create overwrote the session: user %q, want %q", got.UserID, s.UserID)
		}
	})

	t.Run("an expired session's id can be reused", func(t *testing.T) {
		store := newStore(t)
		old := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		s := newSession(t, "user-"+RandomID(t), old.ExpiresAt)
		s.ID = old.ID
		create(t, store, s)
		sameSession(t, get(t, store, s.ID, s.CreatedAt), asStored(s))
	})

	t.Run("an expired session is absent on every path though still stored", func(t *testing.T) {
		store := newStore(t)
		uid := "user-" + RandomID(t)
		s := newSession(t, uid, T0)
		s.IdleExpiresAt = s.ExpiresAt // only the absolute expiry ends it
		create(t, store, s)
		for _, after := range []time.Duration{0, time.Second, 72 * time.Hour} {
			at := s.ExpiresAt.Add(after)
			_, err := store.GetSession(ctx, s.ID, at)
			WantKind(t, err, core.KindNotFound, "GetSession at expiry + "+after.String())
			_, _, err = store.RotateRefresh(ctx, s.ID, s.Generation, at, at.Add(time.Hour), core.RefreshCount{})
			WantKind(t, err, core.KindNotFound, "RotateRefresh at expiry + "+after.String())
			WantKind(t, store.RevokeSession(ctx, s.ID, at), core.KindNotFound, "RevokeSession at expiry + "+after.String())
			list, err := store.UserSessions(ctx, uid, at)
			if err != nil {
				t.Fatalf("UserSessions: %v", err)
			}
			if len(list) != 0 {
				t.Fatalf("UserSessions at expiry + %v lists %d sessions, want none", after, len(list))
			}
		}
		// None of that wrote anything: a second before expiry the session is as created.
		sameSession(t, get(t, store, s.ID, s.ExpiresAt.Add(-time.Second)), asStored(s))
	})

	t.Run("rotation advances the generation and returns the session after the write", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		at, idle := T0.Add(10*time.Minute+300*time.Millisecond), T0.Add(70*time.Minute+300*time.Millisecond)
		window := at.Truncate(time.Minute)
		got, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, idle, core.RefreshCount{Window: window, Count: 1})
		if err != nil || !ok {
			t.Fatalf("RotateRefresh: %v, %v; want rotated", ok, err)
		}
		want := asStored(s)
		want.Generation = 2
		want.LastUsedAt, want.RotatedAt, want.IdleExpiresAt = Second(at), Second(at), Second(idle)
		want.RefreshWindow, want.RefreshCount = window, 1
		sameSession(t, got, want)
		sameSession(t, get(t, store, s.ID, at), want)

		// And again from the new generation: the per-session count is what the rotation says.
		at2 := at.Add(time.Minute)
		got, ok, err = store.RotateRefresh(ctx, s.ID, 2, at2, at2.Add(time.Hour), core.RefreshCount{Window: window, Count: 7})
		if err != nil || !ok || got.Generation != 3 || !got.RotatedAt.Equal(Second(at2)) || !got.RefreshWindow.Equal(window) || got.RefreshCount != 7 {
			t.Fatalf("second RotateRefresh: %+v, %v, %v; want generation 3 rotated at %v, count 7", got, ok, err, Second(at2))
		}
	})

	t.Run("rotation from a stale generation returns the current session unchanged", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		at := T0.Add(time.Minute)
		after, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, at.Add(time.Hour), core.RefreshCount{})
		if err != nil || !ok {
			t.Fatalf("RotateRefresh: %v, %v", ok, err)
		}
		for _, from := range []uint64{1, 0, 3, 1 << 63} { // replayed, older, ahead, absurd
			got, ok, err := store.RotateRefresh(ctx, s.ID, from, at.Add(time.Minute), at.Add(2*time.Hour), core.RefreshCount{})
			if err != nil {
				t.Fatalf("RotateRefresh from %d: %v, want no error", from, err)
			}
			if ok {
				t.Fatalf("RotateRefresh from %d rotated a session at generation 2", from)
			}
			sameSession(t, got, after)
		}
		sameSession(t, get(t, store, s.ID, at), after)
	})

	t.Run("a revoked session does not rotate and is returned as found", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		if err := store.RevokeSession(ctx, s.ID, T0); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		got, ok, err := store.RotateRefresh(ctx, s.ID, 1, T0.Add(time.Second), T0.Add(time.Hour), core.RefreshCount{})
		if err != nil || ok {
			t.Fatalf("RotateRefresh of a revoked session: %v, %v; want not rotated, no error", ok, err)
		}
		want := asStored(s)
		want.Revoked = true
		sameSession(t, got, want)
	})

	t.Run("an idle-expired session does not rotate and is returned as found", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		for _, at := range []time.Time{s.IdleExpiresAt, s.IdleExpiresAt.Add(time.Minute)} {
			got, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, at.Add(time.Hour), core.RefreshCount{})
			if err != nil || ok {
				t.Fatalf("RotateRefresh at idle expiry + %v: %v, %v; want not rotated, no error", at.Sub(s.IdleExpiresAt), ok, err)
			}
			sameSession(t, got, asStored(s))
		}
		// A second before idle expiry it still rotates.
		at := s.IdleExpiresAt.Add(-time.Second)
		if _, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, at.Add(time.Hour), core.RefreshCount{}); err != nil || !ok {
			t.Fatalf("RotateRefresh just before idle expiry: %v, %v; want rotated", ok, err)
		}
	})

	t.Run("of concurrent rotations from one generation exactly one wins", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		at := T0.Add(time.Minute)
		type result struct {
			s   core.Session
			ok  bool
			err error
		}
		results := make([]result, rotations)
		Race(rotations, func(i int) {
			got, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, at.Add(time.Hour), core.RefreshCount{})
			results[i] = result{got, ok, err}
		})
		won := 0
		for _, r := range results {
			if r.err != nil {
				t.Fatalf("RotateRefresh: %v", r.err)
			}
			if r.ok {
				won++
			}
			// Winner and losers alike see generation 2: the losers lost to the winner's write.
			if r.s.Generation != 2 {
				t.Errorf("RotateRefresh returned generation %d (rotated %v), want 2", r.s.Generation, r.ok)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent rotations won, want exactly 1", won, rotations)
		}
		if got := get(t, store, s.ID, at); got.Generation != 2 {
			t.Fatalf("stored generation %d, want 2", got.Generation)
		}
	})

	t.Run("reauthentication sets the authentication, advances the generation by two and returns the session", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		at, auth := T0.Add(20*time.Minute+400*time.Millisecond), T0.Add(20*time.Minute)
		got, err := store.Reauthenticate(ctx, s.ID, s.UserID, auth, []string{"hwk", "user", "mfa"}, at)
		if err != nil {
			t.Fatalf("Reauthenticate: %v", err)
		}
		want := asStored(s)
		want.AuthTime, want.AMR, want.Generation = Second(auth), []string{"hwk", "user", "mfa"}, 3
		want.LastUsedAt, want.RotatedAt = Second(at), Second(at)
		sameSession(t, got, want) // CreatedAt, expiries, PasskeyID and the rest unchanged
		sameSession(t, get(t, store, s.ID, at), want)

		// Without AMR it is removed, and the generation goes up again.
		got, err = store.Reauthenticate(ctx, s.ID, s.UserID, auth.Add(time.Minute), nil, at.Add(time.Minute))
		if err != nil || got.AMR != nil || got.Generation != 5 || !got.AuthTime.Equal(Second(auth.Add(time.Minute))) {
			t.Fatalf("Reauthenticate without AMR: %+v, %v; want no AMR, generation 5", got, err)
		}
		sameSession(t, get(t, store, s.ID, at.Add(time.Minute)), got)
	})

	t.Run("reauthentication supersedes the refresh generation before it", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		at := T0.Add(time.Minute)
		if _, err := store.Reauthenticate(ctx, s.ID, s.UserID, at, s.AMR, at); err != nil {
			t.Fatalf("Reauthenticate: %v", err)
		}
		got, ok, err := store.RotateRefresh(ctx, s.ID, 1, at, at.Add(time.Hour), core.RefreshCount{})
		if err != nil || ok || got.Generation != 3 {
			t.Fatalf("RotateRefresh from the generation before: %v, %v, generation %d; want not rotated, at 3", ok, err, got.Generation)
		}
		if _, ok, err := store.RotateRefresh(ctx, s.ID, 3, at, at.Add(time.Hour), core.RefreshCount{}); err != nil || !ok {
			t.Fatalf("RotateRefresh from the new generation: %v, %v; want rotated", ok, err)
		}
	})

	t.Run("reauthentication of a session that has ended or is another user's is not found and writes nothing", func(t *testing.T) {
		store := newStore(t)
		uid := "user-" + RandomID(t)
		live := create(t, store, newSession(t, uid, T0))
		revoked := create(t, store, newSession(t, uid, T0))
		if err := store.RevokeSession(ctx, revoked.ID, T0); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		for _, c := range []struct {
			name, id, uid string
			at            time.Time
		}{
			{"unknown", RandomID(t), uid, T0},
			{"another user's", live.ID, "user-" + RandomID(t), T0},
			{"revoked", revoked.ID, uid, T0},
			{"idle", live.ID, uid, live.IdleExpiresAt},
			{"expired", live.ID, uid, live.ExpiresAt.Add(time.Second)},
		} {
			_, err := store.Reauthenticate(ctx, c.id, c.uid, c.at, []string{"hwk"}, c.at)
			WantKind(t, err, core.KindNotFound, "Reauthenticate of a session "+c.name)
		}
		sameSession(t, get(t, store, live.ID, T0), asStored(live))
		want := asStored(revoked)
		want.Revoked = true
		sameSession(t, get(t, store, revoked.ID, T0), want)
	})

	t.Run("revoking twice is not an error", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		for i := range 2 {
			if err := store.RevokeSession(ctx, s.ID, T0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatalf("RevokeSession #%d: %v", i+1, err)
			}
		}
		want := asStored(s)
		want.Revoked = true
		sameSession(t, get(t, store, s.ID, T0), want) // revoked sessions are still returned
	})

	t.Run("concurrent revocations all succeed", func(t *testing.T) {
		store := newStore(t)
		s := create(t, store, newSession(t, "user-"+RandomID(t), T0))
		errs := make([]error, Concurrency)
		Race(Concurrency, func(i int) { errs[i] = store.RevokeSession(ctx, s.ID, T0) })
		for _, err := range errs {
			if err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
		}
		if !get(t, store, s.ID, T0).Revoked {
			t.Fatal("session not revoked")
		}
	})

	t.Run("a user's live sessions are listed newest first", func(t *testing.T) {
		store := newStore(t)
		uid := "user-" + RandomID(t)
		var want []string
		for _, ago := range []time.Duration{3 * time.Hour, time.Second, 2 * time.Hour, 0, 90 * time.Minute} {
			s := newSession(t, uid, T0.Add(-ago+200*time.Millisecond))
			s.IdleExpiresAt = T0.Add(time.Hour)
			create(t, store, s)
			want = append(want, s.ID)
		}
		// Created in another order than listed: newest first is 0, 1s, 90m, 2h, 3h ago.
		want = []string{want[3], want[1], want[4], want[2], want[0]}

		revoked := create(t, store, newSession(t, uid, T0.Add(-time.Minute)))
		if err := store.RevokeSession(ctx, revoked.ID, T0); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		expired := newSession(t, uid, T0.Add(-48*time.Hour))
		expired.IdleExpiresAt = expired.ExpiresAt
		create(t, store, expired)
		idle := newSession(t, uid, T0.Add(-2*time.Minute))
		idle.IdleExpiresAt = T0
		create(t, store, idle)
		create(t, store, newSession(t, "user-"+RandomID(t), T0)) // another user's
		create(t, store, newSession(t, uid+"x", T0))             // a user whose id extends this one's

		list, err := store.UserSessions(ctx, uid, T0)
		if err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
		var got []string
		for _, s := range list {
			got = append(got, s.ID)
			if s.UserID != uid || !s.Live(T0) {
				t.Errorf("listed session %+v: not a live session of %s", s, uid)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("UserSessions = %v\nwant newest first %v", got, want)
		}
		// Every field comes back, as from GetSession.
		sameSession(t, list[0], get(t, store, list[0].ID, T0))
	})

	t.Run("more than a thousand sessions are all listed, and ended ones never hide a live one", func(t *testing.T) {
		store := newStore(t)
		uid := "user-" + RandomID(t)
		sessions := make([]core.Session, ManySessions)
		for i := range sessions {
			// Oldest first, a second apart; all live at T0.
			sessions[i] = newSession(t, uid, T0.Add(-time.Duration(len(sessions)-i)*time.Second))
		}
		Each(len(sessions), func(i int) error { return store.CreateSession(ctx, sessions[i]) }, t)
		list, err := store.UserSessions(ctx, uid, T0)
		if err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
		if len(list) != len(sessions) || list[0].ID != sessions[len(sessions)-1].ID || list[len(list)-1].ID != sessions[0].ID {
			t.Fatalf("UserSessions listed %d sessions, want all %d, newest first and the oldest last", len(list), len(sessions))
		}
		// End all but the oldest: the listing still finds it behind a thousand ended ones.
		Each(len(sessions)-1, func(i int) error { return store.RevokeSession(ctx, sessions[i+1].ID, T0) }, t)
		list, err = store.UserSessions(ctx, uid, T0)
		if err != nil {
			t.Fatalf("UserSessions: %v", err)
		}
		if len(list) != 1 || list[0].ID != sessions[0].ID {
			t.Fatalf("after ending the %d newest sessions, UserSessions listed %d, want only the oldest", len(sessions)-1, len(list))
		}
	})

	t.Run("a user without sessions has an empty list", func(t *testing.T) {
		list, err := newStore(t).UserSessions(ctx, "user-"+RandomID(t), T0)
		if err != nil || len(list) != 0 {
			t.Fatalf("UserSessions: %v, %v; want none", list, err)
		}
	})
}

// asStored is s with its times as the store keeps them: rounded down to the second, CreatedAt
// to the millisecond.
func asStored(s core.Session) core.Session {
	s.AuthTime = Second(s.AuthTime)
	s.CreatedAt = Milli(s.CreatedAt)
	s.LastUsedAt = Second(s.LastUsedAt)
	s.ExpiresAt = Second(s.ExpiresAt)
	s.IdleExpiresAt = Second(s.IdleExpiresAt)
	s.RotatedAt = Second(s.RotatedAt)
	return s
}

// sameSession fails the test unless got and want agree on every field, times compared as
// instants.
func sameSession(t *testing.T, got, want core.Session) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !got.AuthTime.Equal(want.AuthTime) ||
		!slices.Equal(got.AMR, want.AMR) || got.Scope != want.Scope || got.PasskeyID != want.PasskeyID || got.ClientID != want.ClientID || got.ClientIP != want.ClientIP ||
		got.UserAgent != want.UserAgent || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!got.IdleExpiresAt.Equal(want.IdleExpiresAt) || got.Revoked != want.Revoked ||
		got.Generation != want.Generation || !got.RotatedAt.Equal(want.RotatedAt) {
		t.Fatalf("got session\n%+v\nwant\n%+v", got, want)
	}
}
