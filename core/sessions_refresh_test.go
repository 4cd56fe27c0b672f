package core_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// hungSigner is a KMS that accepts a Sign and never answers: Sign counts the call and blocks
// until the caller gives up. Its public keys are those of the signer it wraps, loaded already
// (as a warm function has them).
type hungSigner struct {
	*coretest.Signer
	signs atomic.Int32
}

func (h *hungSigner) Sign(ctx context.Context, _ []byte) ([]byte, error) {
	h.signs.Add(1)
	<-ctx.Done()
	return nil, core.E("kmssign.Sign", core.KindUnavailable, "signing service unavailable", ctx.Err())
}

// failingSigner is a KMS that is down: every Sign fails at once.
type failingSigner struct{ *coretest.Signer }

func (failingSigner) Sign(context.Context, []byte) ([]byte, error) {
	return nil, core.E("kmssign.Sign", core.KindUnavailable, "signing service unavailable", errors.New("dial tcp: connection refused"))
}

// withSigner points f's Minter at signer, leaving the fixture's own signer for the verifier.
func (f *fixture) withSigner(signer core.Signer) {
	m := *f.s.Minter
	m.Signer = signer
	f.s.Minter = &m
}

// TestRefusedRefreshesCostNoSignature: every refresh that is refused — throttled, of a session
// that has ended, replayed, or of a user whose state ends the session — is refused on the
// first stage's reads, without asking the HSM. The HSM here hangs: a refresh that asked it
// would wait out the deadline instead of answering.
func TestRefusedRefreshesCostNoSignature(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, f *fixture, tr core.TokenResponse) string // returns the token to present
		want  core.Kind
	}{
		{"throttled by address", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			f.s.TokenByIP = core.Rule{Name: "token-ip", Limit: 0, Window: time.Minute}
			return tr.RefreshToken
		}, core.KindRateLimited},
		{"throttled by session", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			f.s.TokenBySession = core.Rule{Name: "token-sid", Limit: 0, Window: time.Minute}
			return tr.RefreshToken
		}, core.KindRateLimited},
		{"logged out", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			if err := f.s.Logout(ctx, tr.Claims); err != nil {
				t.Fatal(err)
			}
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"revoked long ago", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			if err := f.s.Revoke(ctx, tr.RefreshToken, ""); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(20 * time.Minute)
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"idle", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			f.clock.Advance(61 * time.Minute)
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"expired", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			f.clock.Advance(25 * time.Hour) // past the 24 h absolute lifetime; the item is still stored
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"replayed", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(11 * time.Second) // past the grace window
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"of another session's user", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			// A token the codec accepts (the MAC is ours) naming a user the session is not.
			rc, err := f.s.Codec.Parse(tr.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			rc.UserID = core.NewID()
			return f.s.Codec.Mint(rc)
		}, core.KindUnauthenticated},
		{"of a disabled user", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			u := f.user
			u.Disabled = true
			f.mem.ReplaceUser(u)
			return tr.RefreshToken
		}, core.KindUnauthenticated},
		{"of a user whose tokens were cut off", func(t *testing.T, f *fixture, tr core.TokenResponse) string {
			f.clock.Advance(time.Second)
			u := f.user
			u.TokensNotBefore = f.clock.Now()
			f.mem.ReplaceUser(u)
			return tr.RefreshToken
		}, core.KindUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tr := f.start(t)
			token := c.setup(t, f, tr)
			hung := &hungSigner{Signer: f.signer}
			f.withSigner(hung)
			before := f.signer.Signs.Load()
			// The deadline only bounds a refresh that wrongly waits for the HSM.
			dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := f.s.Refresh(dctx, token, cli)
			wantKind(t, err, c.want, c.name)
			if n := hung.signs.Load() + f.signer.Signs.Load() - before; n != 0 {
				t.Fatalf("%d Sign calls for a refused refresh, want none", n)
			}
		})
	}
}

// TestRefreshHonoursUserState: a disabled user, or one who refuses tokens from before a time
// later than the session's authentication, can neither refresh nor keep the session: it is
// revoked, and stays ended when the account is put right again. A user whose cut-off is not
// later than the authentication keeps it.
func TestRefreshHonoursUserState(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		change func(u *core.User, auth time.Time)
		reason string
	}{
		{"disabled", func(u *core.User, _ time.Time) { u.Disabled = true }, "user_disabled"},
		{"tokens cut off after the authentication", func(u *core.User, auth time.Time) { u.TokensNotBefore = auth.Add(time.Second) }, "tokens_cut_off"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			tr := f.start(t)
			f.clock.Advance(time.Minute)
			changed := f.user
			c.change(&changed, tr.Claims.AuthTime)
			f.mem.ReplaceUser(changed)
			_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
			wantKind(t, err, core.KindUnauthenticated, "refresh")
			if core.DetailOf(err) != "the refresh token is invalid, expired or revoked" {
				t.Fatalf("detail %q, want the one invalid_grant answer", core.DetailOf(err))
			}
			if s, err := f.mem.GetSession(ctx, tr.SessionID, f.clock.Now()); err != nil || !s.Revoked {
				t.Fatalf("session after the refused refresh: revoked %v, %v; want revoked", s.Revoked, err)
			}
			if !strings.Contains(f.logs.String(), `"reason":"`+c.reason+`"`) {
				t.Fatalf("no audit line with reason %s in %s", c.reason, f.logs)
			}
			f.mem.ReplaceUser(f.user) // put right again: the session stays ended
			_, err = f.s.Refresh(ctx, tr.RefreshToken, cli)
			wantKind(t, err, core.KindUnauthenticated, "refresh after the account was put right")
		})
	}
	t.Run("a user gone", func(t *testing.T) {
		f := newFixture(t)
		tr, err := f.s.Start(ctx, core.StartRequest{UserID: core.NewID(), Client: cli})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.s.Refresh(ctx, tr.RefreshToken, cli)
		wantKind(t, err, core.KindUnauthenticated, "refresh of a user that does not exist")
		if s, _ := f.mem.GetSession(ctx, tr.SessionID, f.clock.Now()); !s.Revoked {
			t.Fatal("the session of a user that does not exist was not revoked")
		}
	})
	t.Run("a cut-off in the second of the authentication keeps the session", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		u := f.user
		u.TokensNotBefore = tr.Claims.AuthTime.Add(999 * time.Millisecond)
		f.mem.ReplaceUser(u)
		f.clock.Advance(time.Minute)
		if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
			t.Fatalf("refresh: %v", err)
		}
	})
}

// TestRefreshFailingOnTheHSMLeavesTheTokenUsable: nothing is rotated before the successor is
// signed, so a refresh that fails on KMS answers 503 and the same token works once KMS is back.
func TestRefreshFailingOnTheHSMLeavesTheTokenUsable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tr := f.start(t)
	f.withSigner(failingSigner{f.signer})
	_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindUnavailable, "refresh with KMS down")
	hung := &hungSigner{Signer: f.signer}
	f.withSigner(hung)
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = f.s.Refresh(dctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindUnavailable, "refresh with KMS hung")
	if s, _ := f.mem.GetSession(ctx, tr.SessionID, f.clock.Now()); s.Generation != 1 || s.Revoked {
		t.Fatalf("failed refreshes changed the session: generation %d, revoked %v", s.Generation, s.Revoked)
	}
	f.withSigner(f.signer)
	f.clock.Advance(time.Minute) // long past any grace window: only an unrotated token works now
	if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
		t.Fatalf("the token after KMS came back: %v", err)
	}
}

// failingRotation is a store whose rotation write cannot be made.
type failingRotation struct{ *coretest.Memory }

func (failingRotation) RotateRefresh(context.Context, string, uint64, time.Time, time.Time, core.RefreshCount) (core.Session, bool, error) {
	return core.Session{}, false, core.E("dynamo.Store.RotateRefresh", core.KindUnavailable, "storage unavailable", errors.New("i/o timeout"))
}

// TestRefreshFailingOnTheWriteLeavesTheTokenUsable: a rotation write that fails answers 503 and
// the same token works once the store is back.
func TestRefreshFailingOnTheWriteLeavesTheTokenUsable(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tr := f.start(t)
	f.s.Store = failingRotation{f.mem}
	_, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindUnavailable, "refresh with the write failing")
	f.s.Store = f.mem
	f.clock.Advance(time.Minute)
	if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
		t.Fatalf("the token after the store came back: %v", err)
	}
}

// gatedRefresh lets a test hold each of a refresh's calls at a coretest.Gate.
type gatedRefresh struct {
	*coretest.Memory
	g *coretest.Gate
}

func (s gatedRefresh) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	s.g.Pass("Hit")
	return s.Memory.Hit(ctx, key, window, now)
}

func (s gatedRefresh) AccessState(ctx context.Context, sid, jti, uid string, now time.Time) (core.AccessState, error) {
	s.g.Pass("AccessState")
	return s.Memory.AccessState(ctx, sid, jti, uid, now)
}

func (s gatedRefresh) RotateRefresh(ctx context.Context, id string, from uint64, now, idleUntil time.Time, count core.RefreshCount) (core.Session, bool, error) {
	s.g.Pass("RotateRefresh")
	return s.Memory.RotateRefresh(ctx, id, from, now, idleUntil, count)
}

func (s gatedRefresh) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.g.Pass("RevokeSession")
	return s.Memory.RevokeSession(ctx, id, now)
}

type gatedSigner struct {
	*coretest.Signer
	g *coretest.Gate
}

func (s gatedSigner) Sign(ctx context.Context, input []byte) ([]byte, error) {
	s.g.Pass("Sign")
	return s.Signer.Sign(ctx, input)
}

// TestRefreshStages: a refresh is three sequential stages — the two counters and the one read
// of session and user together, then the signature, then the rotation — and a refused one
// stops after the first (a replay adds the revocation).
func TestRefreshStages(t *testing.T) {
	ctx := context.Background()
	gated := func(f *fixture) *coretest.Gate {
		g := coretest.NewGate()
		store := gatedRefresh{f.mem, g}
		v := coretest.NewVerifier(f.mem, f.signer, f.clock.Now)
		v.States = store
		f.s.Verifier, f.s.Store, f.s.Limiter = v, store, &core.RateLimiter{Counters: store}
		f.withSigner(gatedSigner{f.signer, g})
		return g
	}
	run := func(f *fixture, token string) <-chan error {
		done := make(chan error, 1)
		go func() { _, err := f.s.Refresh(ctx, token, cli); done <- err }()
		return done
	}

	t.Run("a refresh that succeeds", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		g := gated(f)
		done := run(f, tr.RefreshToken)
		g.Stage(t, "Hit", "AccessState")
		g.Stage(t, "Sign")
		g.Stage(t, "RotateRefresh")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		g.None(t)
	})
	t.Run("a retry within grace", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		next, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
		if err != nil {
			t.Fatal(err)
		}
		g := gated(f)
		f.clock.Advance(5 * time.Second)
		var retried core.TokenResponse
		done := make(chan error, 1)
		go func() {
			var err error
			retried, err = f.s.Refresh(ctx, tr.RefreshToken, cli)
			done <- err
		}()
		g.Stage(t, "Hit", "AccessState")
		g.Stage(t, "Sign")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		g.None(t)
		if retried.RefreshToken != next.RefreshToken {
			t.Fatal("a retry within grace got a different successor")
		}
	})
	t.Run("a replay", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		if _, err := f.s.Refresh(ctx, tr.RefreshToken, cli); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		g := gated(f)
		done := run(f, tr.RefreshToken)
		g.Stage(t, "Hit", "AccessState")
		g.Stage(t, "RevokeSession")
		wantKind(t, <-done, core.KindUnauthenticated, "replay")
		g.None(t)
		if !strings.Contains(f.logs.String(), `"msg":"refresh.reuse_detected"`) {
			t.Fatalf("no reuse audit event in %s", f.logs)
		}
	})
	t.Run("a throttled refresh", func(t *testing.T) {
		f := newFixture(t)
		tr := f.start(t)
		f.s.TokenBySession = core.Rule{Name: "token-sid", Limit: 0, Window: time.Minute}
		g := gated(f)
		done := run(f, tr.RefreshToken)
		g.Stage(t, "Hit", "AccessState")
		wantKind(t, <-done, core.KindRateLimited, "throttled")
		g.None(t)
	})
}

// TestRefreshScope: a refresh may ask for the session's scope or less, and the access token
// carries what was asked; asking for more is invalid_scope, refused before any signature and
// without spending the refresh token.
func TestRefreshScope(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tr, err := f.s.Start(ctx, core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}, Scope: "read write", Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	hung := &hungSigner{Signer: f.signer}
	f.withSigner(hung)
	for _, asked := range []string{"admin", "read admin", "readwrite"} {
		// A refresh that asked the hung HSM would answer unavailable at this deadline.
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := f.s.RefreshScope(hctx, tr.RefreshToken, asked, "", cli)
		cancel()
		if !core.Is(err, core.KindInvalid) {
			t.Fatalf("scope %q: err = %v, want invalid", asked, err)
		}
		if code, _ := core.CodeOf(err); code != "invalid_scope" {
			t.Fatalf("scope %q: code %q, want invalid_scope", asked, code)
		}
	}
	if n := hung.signs.Load(); n != 0 {
		t.Fatalf("a refused scope asked the HSM %d times", n)
	}
	f.withSigner(f.signer)
	for _, c := range []struct{ asked, want string }{{"", "read write"}, {"write", "write"}, {"write read write", "write read"}} {
		next, err := f.s.RefreshScope(ctx, tr.RefreshToken, c.asked, "", cli)
		if err != nil {
			t.Fatalf("scope %q: %v", c.asked, err)
		}
		if next.Claims.Scope != c.want {
			t.Errorf("scope %q: token scope %q, want %q", c.asked, next.Claims.Scope, c.want)
		}
		got, err := f.s.Verifier.Authenticate(ctx, next.AccessToken)
		if err != nil || got.Scope != c.want {
			t.Errorf("scope %q: verified scope %q (%v), want %q", c.asked, got.Scope, err, c.want)
		}
		tr = next
	}
}
