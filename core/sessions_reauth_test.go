package core_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

// TestReauthenticate: a fresh passkey ceremony on the same session gives an access token with
// a new auth_time, enough for RequireRecent, and a refresh token of the next generation whose
// refreshes keep that auth_time; the refresh token held before is superseded, so presenting it
// after the grace window is reuse and ends the session.
func TestReauthenticate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first := f.start(t)
	f.clock.Advance(20 * time.Minute)
	held, err := f.s.Refresh(ctx, first.RefreshToken, cli) // an access token weeks, here minutes, after the ceremony
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.s.Verifier.Authenticate(ctx, held.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if core.RequireRecent(c, f.clock.Now(), 5*time.Minute) == nil {
		t.Fatal("a token from a refresh 20 minutes after sign-in passes RequireRecent")
	}

	f.clock.Advance(1500 * time.Millisecond)
	now := f.clock.Now()
	tr, err := f.s.Reauthenticate(ctx, c, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk", "user"}, PasskeyID: "cred-2", Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	if tr.SessionID != first.SessionID || !tr.Claims.AuthTime.Equal(now.Truncate(time.Second)) || !slices.Equal(tr.Claims.AMR, []string{"hwk", "user"}) {
		t.Fatalf("response: session %s (want %s), auth_time %v (want %v), amr %v", tr.SessionID, first.SessionID, tr.Claims.AuthTime, now.Truncate(time.Second), tr.Claims.AMR)
	}
	stepped, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := core.RequireRecent(stepped, f.clock.Now(), 5*time.Minute); err != nil {
		t.Fatalf("the re-authenticated token fails RequireRecent: %v", err)
	}
	if !strings.Contains(f.logs.String(), `"msg":"session.reauthenticated"`) {
		t.Fatalf("no audit event in %s", f.logs)
	}
	// The old access token still works (it was not revoked), with its old auth_time.
	if _, err := f.s.Verifier.Authenticate(ctx, held.AccessToken); err != nil {
		t.Fatalf("the access token from before: %v", err)
	}

	// The new refresh token refreshes, and the tokens it mints keep the new auth_time.
	f.clock.Advance(time.Minute)
	next, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	if err != nil {
		t.Fatal(err)
	}
	if !next.Claims.AuthTime.Equal(now.Truncate(time.Second)) || !slices.Equal(next.Claims.AMR, []string{"hwk", "user"}) {
		t.Fatalf("a refresh after re-authentication: auth_time %v amr %v", next.Claims.AuthTime, next.Claims.AMR)
	}
	// The refresh token held before is superseded: presenting it now is reuse.
	_, err = f.s.Refresh(ctx, held.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, "the refresh token from before the re-authentication")
	_, err = f.s.Verifier.Authenticate(ctx, next.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "the session after the superseded token was replayed")
	if !strings.Contains(f.logs.String(), `"msg":"refresh.reuse_detected"`) {
		t.Fatalf("no reuse audit event in %s", f.logs)
	}
}

// TestReauthenticationSupersedesTheOldRefreshToken: the refresh token from before a
// re-authentication is a replay afterwards even within the grace window, which would otherwise
// hand its holder the freshly authenticated successor (a stolen refresh token turned into a
// recent sign-in). The replay ends the session, as every replay does.
func TestReauthenticationSupersedesTheOldRefreshToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first := f.start(t)
	c, _ := f.s.Verifier.Authenticate(ctx, first.AccessToken)
	tr, err := f.s.Reauthenticate(ctx, c, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(5 * time.Second)
	if _, err := f.s.Refresh(ctx, first.RefreshToken, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the superseded refresh token within grace: %v", err)
	}
	if _, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the session survived the replay: %v", err)
	}
}

// TestReauthenticateRefusals: another user's ceremony, or a session that has ended, is refused
// and changes nothing; a signature that fails leaves the session as it was, so no rotation
// is ever left without a token to hand out.
func TestReauthenticateRefusals(t *testing.T) {
	ctx := context.Background()
	generation := func(f *fixture, sid string) uint64 {
		s, _ := f.mem.GetSession(ctx, sid, f.clock.Now())
		return s.Generation
	}
	t.Run("another user", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		c, _ := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
		before := f.signer.Signs.Load()
		_, err := f.s.Reauthenticate(ctx, c, core.StartRequest{UserID: core.NewID(), AMR: []string{"hwk"}})
		wantKind(t, err, core.KindUnauthenticated, "a ceremony of another user")
		if f.signer.Signs.Load() != before || generation(f, tr.SessionID) != 1 {
			t.Fatal("a refused re-authentication signed or wrote")
		}
	})
	t.Run("an ended session", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		c, _ := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
		if err := f.s.Logout(ctx, c); err != nil {
			t.Fatal(err)
		}
		_, err := f.s.Reauthenticate(ctx, c, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}})
		wantKind(t, err, core.KindUnauthenticated, "a re-authentication of a logged-out session")
		if generation(f, tr.SessionID) != 1 {
			t.Fatal("a refused re-authentication advanced the generation")
		}
	})
	t.Run("the signature fails", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		c, _ := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
		f.withSigner(failingSigner{f.signer})
		_, err := f.s.Reauthenticate(ctx, c, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}})
		wantKind(t, err, core.KindUnavailable, "a re-authentication with KMS down")
		if generation(f, tr.SessionID) != 1 {
			t.Fatal("a re-authentication whose signature failed advanced the generation")
		}
		f.withSigner(f.signer)
		f.clock.Advance(time.Minute)
		if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
			t.Fatalf("the refresh token after a failed re-authentication: %v", err)
		}
	})
}

// TestEndOpenedWith: deleting a passkey ends every live session it opened, and no other.
func TestEndOpenedWith(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	open := func(uid, passkey string) core.TokenResponse {
		t.Helper()
		tr, err := f.s.Start(ctx, core.StartRequest{UserID: uid, AMR: []string{"hwk"}, PasskeyID: passkey, Client: cli})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	other := core.User{ID: core.NewID()}
	if err := f.mem.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	a1, a2, b, none := open(f.user.ID, "cred-a"), open(f.user.ID, "cred-a"), open(f.user.ID, "cred-b"), open(f.user.ID, "")
	theirs := open(other.ID, "cred-a") // ids are unique across users; this only checks the uid
	f.clock.Advance(time.Second)

	wantKind(t, f.s.EndOpenedWith(ctx, f.user.ID, ""), core.KindInvalid, "EndOpenedWith without a passkey id")
	if err := f.s.EndOpenedWith(ctx, f.user.ID, "cred-a"); err != nil {
		t.Fatal(err)
	}
	for _, tr := range []core.TokenResponse{a1, a2} {
		_, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
		wantKind(t, err, core.KindUnauthenticated, "a session the deleted passkey opened")
		_, err = f.s.Refresh(ctx, tr.RefreshToken, cli)
		wantKind(t, err, core.KindUnauthenticated, "a refresh of a session the deleted passkey opened")
	}
	for name, tr := range map[string]core.TokenResponse{"another passkey's": b, "no passkey's": none, "another user's": theirs} {
		if _, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); err != nil {
			t.Fatalf("%s session was ended: %v", name, err)
		}
	}
	if n := strings.Count(f.logs.String(), `"reason":"passkey_deleted"`); n != 2 {
		t.Fatalf("%d passkey_deleted audit lines, want 2", n)
	}
	// Again: nothing left to end, and not an error.
	if err := f.s.EndOpenedWith(ctx, f.user.ID, "cred-a"); err != nil {
		t.Fatal(err)
	}
}
