package core_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

type fixture struct {
	s      *core.Sessions
	mem    *coretest.Memory
	signer *coretest.Signer
	clock  *coretest.Clock
	logs   *coretest.Logs
	user   core.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	f := &fixture{
		mem: mem, signer: signer, clock: clk, logs: logs,
		s:    coretest.NewSessions(mem, signer, clk.Now, logs),
		user: core.User{ID: core.NewID(), CreatedAt: t0},
	}
	if err := mem.CreateUser(context.Background(), f.user); err != nil {
		t.Fatal(err)
	}
	return f
}

var cli = core.Client{IP: "198.51.100.23", UserAgent: "test"}

func (f *fixture) start(t *testing.T) core.TokenResponse {
	t.Helper()
	tr, err := f.s.Start(context.Background(), core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func wantKind(t *testing.T, err error, k core.Kind, what string) {
	t.Helper()
	if core.KindOf(err) != k {
		t.Fatalf("%s: err %v (kind %s), want %s", what, err, core.KindOf(err), k)
	}
}

func TestStartThenAuthenticate(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	c, err := f.s.Verifier.Authenticate(context.Background(), tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != f.user.ID || c.SessionID != tr.SessionID || tr.ExpiresIn != 10*time.Minute {
		t.Fatalf("claims %+v response %+v", c, tr)
	}
	if f.start(t).SessionID == tr.SessionID {
		t.Fatal("a second authentication reused the session")
	}
}

// TestStartRecordsThePasskey: the session keeps the credential that opened it, so deleting that
// passkey can end it.
func TestStartRecordsThePasskey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tr, err := f.s.Start(ctx, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}, PasskeyID: "cred-1", Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.mem.GetSession(ctx, tr.SessionID, f.clock.Now())
	if err != nil || s.PasskeyID != "cred-1" {
		t.Fatalf("stored session %+v, %v; want passkey cred-1", s, err)
	}
}

func TestRefreshRotatesAndDetectsReuse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := f.start(t)

	second, err := f.s.Refresh(ctx, first.RefreshToken, cli)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.SessionID != first.SessionID {
		t.Fatal("refresh did not rotate")
	}
	// A retry of the first token within the grace window (a lost response) gets the same successor.
	f.clock.Advance(5 * time.Second)
	retry, err := f.s.Refresh(ctx, first.RefreshToken, cli)
	if err != nil {
		t.Fatalf("retry within grace: %v", err)
	}
	if retry.RefreshToken != second.RefreshToken {
		t.Fatal("a retry within grace got a different successor")
	}
	// After the grace window, the same replay revokes the whole family.
	f.clock.Advance(6 * time.Second)
	_, err = f.s.Refresh(ctx, first.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, "replay after grace")
	_, err = f.s.Refresh(ctx, second.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, "the live successor after a reuse")
	_, err = f.s.Verifier.Authenticate(ctx, second.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "an access token of the revoked family")
	if !strings.Contains(f.logs.String(), `"msg":"refresh.reuse_detected"`) {
		t.Fatalf("no reuse audit event in %s", f.logs)
	}
}

func TestGraceZeroDisablesRetry(t *testing.T) {
	f := newFixture(t)
	f.s.Grace = 0
	ctx := context.Background()
	first := f.start(t)
	if _, err := f.s.Refresh(ctx, first.RefreshToken, cli); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Refresh(ctx, first.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, "an immediate replay with grace 0")
	_, err = f.s.Verifier.Authenticate(ctx, first.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "the family after a replay")
}

// TestConcurrentRefreshYieldsOneSuccessor: 20 parallel refreshes with one token never produce
// two live successors.
func TestConcurrentRefreshYieldsOneSuccessor(t *testing.T) {
	f := newFixture(t)
	first := f.start(t)
	var mu sync.Mutex
	successors := map[string]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := f.s.Refresh(context.Background(), first.RefreshToken, cli)
			if err != nil {
				t.Errorf("concurrent refresh: %v", err)
				return
			}
			mu.Lock()
			successors[tr.RefreshToken]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(successors) != 1 {
		t.Fatalf("%d distinct successors, want 1", len(successors))
	}
	for next := range successors {
		if _, err := f.s.Refresh(context.Background(), next, cli); err != nil {
			t.Fatalf("the one successor does not work: %v", err)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	ctx := context.Background()
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		f.clock.Advance(61 * time.Minute)
		_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
		wantKind(t, err, core.KindUnauthenticated, "refresh after idle expiry")
	})
	t.Run("refresh pushes idle expiry", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		for range 3 {
			f.clock.Advance(50 * time.Minute)
			var err error
			if tr, err = f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("absolute", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		for range 24 {
			f.clock.Advance(59 * time.Minute)
			var err error
			if tr, err = f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(59 * time.Minute) // now past the 24 h absolute lifetime
		_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
		wantKind(t, err, core.KindUnauthenticated, "refresh past absolute expiry")
	})
}

func TestLogoutAndRevocation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a, b := f.start(t), f.start(t)
	ca, err := f.s.Verifier.Authenticate(ctx, a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Logout(ctx, ca); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, a.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "access token after logout")
	_, err = f.s.Refresh(ctx, a.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, "refresh after logout")
	if _, err := f.s.Verifier.Authenticate(ctx, b.AccessToken); err != nil {
		t.Fatalf("logout of one session ended another: %v", err)
	}

	// RFC 7009: an access token is denied by jti; its session goes on.
	if err := f.s.Revoke(ctx, b.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, b.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a revoked access token")
	fresh, err := f.s.Refresh(ctx, b.RefreshToken, cli)
	if err != nil {
		t.Fatalf("revoking an access token ended its session: %v", err)
	}
	// A refresh token ends its session.
	if err := f.s.Revoke(ctx, fresh.RefreshToken, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, fresh.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "access token of a revoked refresh token's session")
	// Unknown and malformed tokens are accepted quietly.
	for _, junk := range []string{"nope", "lkr1.abc.def", strings.Repeat("x", 5000)} {
		if err := f.s.Revoke(ctx, junk, "refresh_token"); err != nil {
			t.Errorf("Revoke(%.10q) = %v, want nil", junk, err)
		}
	}
}

// TestRevokedTokenStaysRefusedThroughTheLeeway: the verifier accepts a token up to its Leeway
// (30 s here) past exp, so a denial that ended at exp would let a revoked token back in for
// those seconds. It lasts until the verifier refuses the token anyway.
func TestRevokedTokenStaysRefusedThroughTheLeeway(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	revoked, kept := f.start(t), f.start(t)
	if err := f.s.Revoke(ctx, revoked.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	// Both sessions stay live: the access token of the other works at the same moment, so only
	// the denial can refuse the revoked one.
	f.clock.Advance(revoked.Claims.ExpiresAt.Add(20 * time.Second).Sub(f.clock.Now()))
	if _, err := f.s.Verifier.Authenticate(ctx, kept.AccessToken); err != nil {
		t.Fatalf("an unrevoked token 20 s past its exp (within the leeway): %v", err)
	}
	_, err := f.s.Verifier.Authenticate(ctx, revoked.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a revoked token 20 s past its exp")
	f.clock.Advance(10 * time.Second)
	_, err = f.s.Verifier.Authenticate(ctx, kept.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a token at its exp plus the leeway")
}

// TestAcceptsUntil: exp plus the leeway, rounded up to the second the store keeps.
func TestAcceptsUntil(t *testing.T) {
	v := &core.Verifier{Leeway: 30 * time.Second}
	c := core.AccessClaims{ExpiresAt: t0}
	if got := v.AcceptsUntil(c); !got.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("AcceptsUntil = %v, want exp + 30 s", got)
	}
	v.Leeway = 1500 * time.Millisecond
	if got := v.AcceptsUntil(c); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("AcceptsUntil with a 1.5 s leeway = %v, want exp + 2 s", got)
	}
	// Verify refuses from that instant on, and not a moment before.
	signer := coretest.NewSigner(1)
	v = coretest.NewVerifier(coretest.NewMemory(), signer, nil)
	raw, claims, err := minter(signer).Issue(context.Background(), session(), t0)
	if err != nil {
		t.Fatal(err)
	}
	until := v.AcceptsUntil(claims)
	if _, err := v.Verify(context.Background(), raw, until.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("Verify just before AcceptsUntil: %v", err)
	}
	if _, err := v.Verify(context.Background(), raw, until); err == nil {
		t.Fatal("Verify accepts the token at AcceptsUntil")
	}
}

func TestUserStateRevokesTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tr := f.start(t)
	other := core.User{ID: core.NewID(), Disabled: true}
	if err := f.mem.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	dis, err := f.s.Start(ctx, core.StartRequest{UserID: other.ID, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, dis.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a disabled user's token")
	ghost, err := f.s.Start(ctx, core.StartRequest{UserID: "no-such-user", Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, ghost.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a token of a user that does not exist")
	if _, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); err != nil {
		t.Fatal(err)
	}
}

func TestEndSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	cur, other1, other2 := f.start(t), f.start(t), f.start(t)
	c, _ := f.s.Verifier.Authenticate(ctx, cur.AccessToken)

	stranger := newFixture(t)
	theirs := stranger.start(t)
	// The stranger's session lives in another store; put one into ours for this user check.
	mallory := core.User{ID: core.NewID()}
	_ = f.mem.CreateUser(ctx, mallory)
	m, _ := f.s.Start(ctx, core.StartRequest{UserID: mallory.ID, Client: cli})
	wantKind(t, f.s.End(ctx, c, m.SessionID), core.KindNotFound, "ending another user's session")
	wantKind(t, f.s.End(ctx, c, theirs.SessionID), core.KindNotFound, "ending an unknown session")

	list, err := f.s.List(ctx, c)
	if err != nil || len(list) != 3 {
		t.Fatalf("list = %d sessions, err %v", len(list), err)
	}
	if err := f.s.End(ctx, c, other1.SessionID); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, other1.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "an ended session")
	if err := f.s.EndOthers(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Verifier.Authenticate(ctx, other2.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "another device after log-out-others")
	if _, err := f.s.Verifier.Authenticate(ctx, cur.AccessToken); err != nil {
		t.Fatalf("log-out-others ended the current session: %v", err)
	}
	if _, err := f.s.Verifier.Authenticate(ctx, m.AccessToken); err != nil {
		t.Fatalf("log-out-others ended another user's session: %v", err)
	}
}

func TestRefreshRateLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.s.TokenByIP = core.Rule{Name: "token-ip", Limit: 3, Window: time.Minute}
	tr := f.start(t)
	for i := range 3 {
		var err error
		if tr, err = f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindRateLimited, "the 4th refresh in a minute")
	if ra := core.RetryAfterOf(err); ra <= 0 || ra > time.Minute {
		t.Fatalf("Retry-After %s", ra)
	}
	// Throttling, not lockout: another address is not affected, and the next window is open.
	if _, err := f.s.Refresh(ctx, tr.RefreshToken, core.Client{IP: "192.0.2.1"}); err != nil {
		t.Fatalf("another address was throttled: %v", err)
	}
	// Garbage tokens count against the address too.
	f.clock.Advance(time.Minute)
	for range 3 {
		_, _ = f.s.Refresh(ctx, "garbage", cli)
	}
	_, err = f.s.Refresh(ctx, "garbage", cli)
	wantKind(t, err, core.KindRateLimited, "brute force with garbage tokens")
}

// TestRefreshSessionLimit: the per-session limit is counted by the rotations themselves, on
// the session: the rotations of a window up to the limit go through, the next is refused
// before any signature with Retry-After at the window's end (and its token stays good), a
// retry of the token just rotated is refused as well, and the next window is open again.
func TestRefreshSessionLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.s.TokenBySession = core.Rule{Name: "token-sid", Limit: 3, Window: time.Minute}
	tr := f.start(t)
	var prev core.TokenResponse
	for i := range 3 {
		var err error
		prev = tr
		if tr, err = f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	signs := f.signer.Signs.Load()
	_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindRateLimited, "the 4th rotation of the session in a minute")
	if ra := core.RetryAfterOf(err); ra <= 0 || ra > time.Minute {
		t.Fatalf("Retry-After %s", ra)
	}
	_, err = f.s.Refresh(ctx, prev.RefreshToken, core.Client{IP: "192.0.2.1"})
	wantKind(t, err, core.KindRateLimited, "a retry within grace over the session's limit, from another address")
	if got := f.signer.Signs.Load(); got != signs {
		t.Fatalf("throttled refreshes asked the HSM %d times", got-signs)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
		t.Fatalf("the next window: %v", err)
	}
}

// TestRefreshCostsOneSignature: the HSM is asked once per refresh and never for a bearer check.
func TestRefreshCostsOneSignature(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	before := f.signer.Signs.Load()
	tr, err := f.s.Refresh(context.Background(), tr.RefreshToken, cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Verifier.Authenticate(context.Background(), tr.AccessToken); err != nil {
		t.Fatal(err)
	}
	if n := f.signer.Signs.Load() - before; n != 1 {
		t.Fatalf("%d signatures for one refresh and one check, want 1", n)
	}
}

// TestExpiredSessionStillInTheTableIsRefused: an access token that is itself still valid fails
// once its session has passed its absolute expiry, although the store still holds the item
// (DynamoDB's TTL deletes late).
func TestExpiredSessionStillInTheTableIsRefused(t *testing.T) {
	f := newFixture(t)
	f.s.AbsoluteTTL = 5 * time.Minute
	tr := f.start(t)
	f.clock.Advance(6 * time.Minute) // the access token lives 10 minutes
	if _, err := f.s.Verifier.Verify(context.Background(), tr.AccessToken, f.clock.Now()); err != nil {
		t.Fatalf("the token itself should still verify: %v", err)
	}
	_, err := f.s.Verifier.Authenticate(context.Background(), tr.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, "a token of an expired session")
}
