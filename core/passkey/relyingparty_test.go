package passkey_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// The tests' clock and client.
var (
	t0  = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	cli = core.Client{IP: "198.51.100.23", UserAgent: "test"}
)

type pkFixture struct {
	p      *passkey.RelyingParty
	s      *core.Sessions
	mem    *coretest.Memory
	signer *coretest.Signer
	clock  *coretest.Clock
	logs   *coretest.Logs
	auth   *passkeytest.Authenticator
}

func newPKFixture(t *testing.T) *pkFixture {
	t.Helper()
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	s := coretest.NewSessions(mem, signer, clk.Now, logs)
	return &pkFixture{
		p: passkeytest.NewRelyingParty(mem, s, clk.Now, logs), s: s, mem: mem, signer: signer, clock: clk, logs: logs,
		auth: passkeytest.NewAuthenticator(passkeytest.Origin),
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signUp creates an account with a passkey of auth, with email verified unless it is "", and
// returns it.
func (f *pkFixture) signUp(t *testing.T, auth *passkeytest.Authenticator, email string) (passkey.Registration, *passkeytest.SoftCredential) {
	t.Helper()
	ctx := context.Background()
	r := passkey.SignUp{DisplayName: "Alice"} // without an email, where that is allowed
	if email != "" {
		r.Ticket = passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, email, f.clock.Now())
	}
	start, err := f.p.BeginSignUp(ctx, r, cli)
	if err != nil {
		t.Fatalf("BeginSignUp: %v", err)
	}
	resp, cred, err := auth.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatalf("authenticator Create: %v", err)
	}
	reg, err := f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return reg, cred
}

// assertion begins a (discoverable) sign-in and has auth answer it.
func (f *pkFixture) assertion(t *testing.T, auth *passkeytest.Authenticator, tw passkeytest.Tweaks) (string, []byte) {
	t.Helper()
	start, err := f.p.BeginLogin(context.Background(), cli)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	resp, err := auth.Get(mustJSON(t, start.Options), tw)
	if err != nil {
		t.Fatalf("authenticator Get: %v", err)
	}
	return start.ChallengeID, resp
}

// wantLoginFailed fails the test unless err is the one answer of every failed sign-in, and the
// audit log names reason.
func (f *pkFixture) wantLoginFailed(t *testing.T, err error, reason string) {
	t.Helper()
	if !core.Is(err, core.KindUnauthenticated) || core.DetailOf(err) != "passkey sign-in failed" {
		t.Fatalf("got %v, want the sign-in failure", err)
	}
	var last string
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"auth.login.failed"`) {
			last = line
		}
	}
	if !strings.Contains(last, `"reason":"`+reason+`"`) {
		t.Fatalf("the last auth.login.failed is %s, want reason %s", last, reason)
	}
}

func TestSignUpThenSignInWithEmail(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	reg, cred := f.signUp(t, f.auth, "  Alice@Example.COM ")
	if reg.User.Email != "alice@example.com" || reg.Tokens == nil || reg.Passkey.Name != "Passkey" ||
		!reg.Passkey.BackupEligible || !reg.Passkey.BackupState || !reg.Passkey.UserVerified {
		t.Fatalf("registration %+v", reg)
	}
	if reg.Passkey.ID != cred.IDString() || reg.User.ID != base64.RawURLEncoding.EncodeToString(cred.UserHandle) {
		t.Fatal("the passkey id or the user handle does not match what the authenticator holds")
	}
	c, err := f.s.Verifier.Authenticate(ctx, reg.Tokens.AccessToken)
	if err != nil || c.Subject != reg.User.ID || !slices.Equal(c.AMR, passkey.AMR) {
		t.Fatalf("sign-up token: %+v, %v", c, err)
	}

	f.clock.Advance(time.Minute)
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
	tr, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	c, err = f.s.Verifier.Authenticate(ctx, tr.AccessToken)
	if err != nil || c.Subject != reg.User.ID || tr.SessionID == reg.Tokens.SessionID {
		t.Fatalf("login token: %+v, %v", c, err)
	}
	pk, err := f.mem.GetPasskey(ctx, reg.Passkey.ID)
	if err != nil || pk.SignCount != 1 || !pk.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("passkey after login: %+v, %v; want count 1 and last used now", pk, err)
	}
	for _, event := range []string{"account.created", "passkey.registered", "auth.login.succeeded"} {
		if !strings.Contains(f.logs.String(), `"msg":"`+event+`"`) {
			t.Errorf("no %s audit event", event)
		}
	}
}

func TestDiscoverableSignIn(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	reg, _ := f.signUp(t, f.auth, "")
	start, err := f.p.BeginLogin(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(start.Options.AllowedCredentials) != 0 || start.Options.UserVerification != "required" || start.Options.RelyingPartyID != passkeytest.RPID {
		t.Fatalf("discoverable options %+v", start.Options)
	}
	resp, err := f.auth.Get(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if c, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); err != nil || c.Subject != reg.User.ID {
		t.Fatalf("token of %+v, %v; want %s", c, err, reg.User.ID)
	}

	// §7.2 step 6: the user handle must be the credential's owner's.
	other, _ := f.signUp(t, passkeytest.NewAuthenticator(passkeytest.Origin), "")
	otherHandle, _ := base64.RawURLEncoding.DecodeString(other.User.ID)
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{UserHandle: otherHandle})
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "verification_failed")

	id, resp = f.assertion(t, f.auth, passkeytest.Tweaks{OmitUserHandle: true})
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "verification_failed")
}

func TestAddPasskeyBoundToItsUser(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	bob, _ := f.signUp(t, passkeytest.NewAuthenticator(passkeytest.Origin), "bob@example.com")
	aliceClaims, err := f.s.Verifier.Authenticate(ctx, alice.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	bobClaims, err := f.s.Verifier.Authenticate(ctx, bob.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	laptop := passkeytest.NewAuthenticator(passkeytest.Origin)
	begin := func() (passkey.RegistrationStart, []byte) {
		t.Helper()
		start, err := f.p.BeginAddPasskey(ctx, aliceClaims, cli)
		if err != nil {
			t.Fatalf("BeginAddPasskey: %v", err)
		}
		resp, _, err := laptop.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		return start, resp
	}

	// The existing passkey is excluded, so the phone that holds it would refuse to register again.
	start, _ := begin()
	if len(start.Options.CredentialExcludeList) != 1 || start.Options.CredentialExcludeList[0].CredentialID.String() != alice.Passkey.ID {
		t.Fatalf("excludeCredentials %+v, want alice's passkey", start.Options.CredentialExcludeList)
	}
	if _, _, err := f.auth.Create(mustJSON(t, start.Options), passkeytest.Tweaks{}); err == nil {
		t.Fatal("the authenticator holding an excluded credential registered again")
	}

	for _, claims := range []*core.AccessClaims{nil, &bobClaims} {
		start, resp := begin()
		_, err := f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Claims: claims, Client: cli})
		if !core.Is(err, core.KindInvalid) || !strings.Contains(f.logs.String(), `"reason":"challenge_of_another_user"`) {
			t.Fatalf("finishing alice's add-passkey ceremony as %v: %v, want refused", claims, err)
		}
	}
	if list, _ := f.mem.UserPasskeys(ctx, bob.User.ID); len(list) != 1 {
		t.Fatalf("bob has %d passkeys, want 1", len(list))
	}

	f.clock.Advance(time.Second)
	start, resp := begin()
	reg, err := f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Name: " Laptop ", Claims: &aliceClaims, Client: cli})
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if reg.Tokens != nil || reg.Passkey.Name != "Laptop" || reg.Passkey.UserID != alice.User.ID {
		t.Fatalf("added passkey %+v", reg)
	}
	list, err := f.p.ListPasskeys(ctx, aliceClaims)
	if err != nil || len(list) != 2 || list[0].ID != alice.Passkey.ID || list[1].ID != reg.Passkey.ID {
		t.Fatalf("ListPasskeys: %+v, %v", list, err)
	}
	// Alice signs in with either.
	for _, auth := range []*passkeytest.Authenticator{f.auth, laptop} {
		id, resp := f.assertion(t, auth, passkeytest.Tweaks{})
		if _, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli}); err != nil {
			t.Fatalf("FinishLogin: %v", err)
		}
	}
}

func TestReplayedLoginFinishOpensAtMostOneSession(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	reg, _ := f.signUp(t, f.auth, "alice@example.com")
	sessions := func() int {
		list, err := f.mem.UserSessions(ctx, reg.User.ID, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	before := sessions()

	// In sequence.
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
	if _, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli}); err != nil {
		t.Fatal(err)
	}
	_, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "challenge_unknown_or_expired")
	if n := sessions(); n != before+1 {
		t.Fatalf("%d new sessions after a replay, want 1", n-before)
	}

	// Twice in parallel, many times over.
	for range 20 {
		before = sessions()
		id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !core.Is(err, core.KindUnauthenticated) {
				t.Fatalf("replay: %v", err)
			}
		}
		if ok != 1 || sessions() != before+1 {
			t.Fatalf("%d of 2 parallel finishes succeeded, %d new live sessions; want 1 and 1", ok, sessions()-before)
		}
	}
}

func TestChallengesAreCeremonyBoundAndExpire(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.signUp(t, f.auth, "alice@example.com")

	// Expired: taken after five minutes, though still stored.
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
	f.clock.Advance(passkey.ChallengeTTL + time.Second)
	_, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "challenge_unknown_or_expired")

	// A registration challenge never completes a login.
	reg, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	if err != nil {
		t.Fatal(err)
	}
	_, resp = f.assertion(t, f.auth, passkeytest.Tweaks{Challenge: reg.Options.Challenge.String()})
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: reg.ChallengeID, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "challenge_of_another_ceremony")

	// And a login challenge never completes a registration.
	login, err := f.p.BeginLogin(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	if err != nil {
		t.Fatal(err)
	}
	created, _, err := passkeytest.NewAuthenticator(passkeytest.Origin).Create(mustJSON(t, again.Options), passkeytest.Tweaks{Challenge: login.Options.Challenge.String()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: login.ChallengeID, Credential: created, Client: cli})
	if !core.Is(err, core.KindInvalid) || !strings.Contains(f.logs.String(), `"reason":"challenge_of_another_ceremony"`) {
		t.Fatalf("registration with a login challenge: %v", err)
	}

	// An expired registration challenge.
	start, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	if err != nil {
		t.Fatal(err)
	}
	created, _, err = passkeytest.NewAuthenticator(passkeytest.Origin).Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(passkey.ChallengeTTL)
	_, err = f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: created, Client: cli})
	if !core.Is(err, core.KindInvalid) {
		t.Fatalf("registration with an expired challenge: %v", err)
	}
}

// A sign-in signs in the account the verified credential belongs to, whoever the caller
// meant: Mallory answering any challenge with her passkey gets Mallory's session, never
// Alice's.
func TestSignInIsTheCredentialOwners(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	mallory := passkeytest.NewAuthenticator(passkeytest.Origin)
	m, _ := f.signUp(t, mallory, "mallory@example.com")
	id, resp := f.assertion(t, mallory, passkeytest.Tweaks{})
	tr, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Claims.Subject != m.User.ID || tr.Claims.Subject == alice.User.ID {
		t.Fatalf("signed in as %s, want mallory %s", tr.Claims.Subject, m.User.ID)
	}
}

// Login-begin hands out nothing about accounts: no allowCredentials, and one shape and one
// set of round trips for everyone (WebAuthn §14.6.2), so a credential id can never be learned
// from it and then probed at registration.
func TestLoginBeginTellsNothing(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.signUp(t, f.auth, "alice@example.com")
	shape := func() map[string]any {
		t.Helper()
		start, err := f.p.BeginLogin(ctx, cli)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(mustJSON(t, start.Options), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "challenge")
		return m
	}
	first := shape()
	if _, ok := first["allowCredentials"]; ok {
		t.Fatalf("login-begin hands out allowCredentials: %v", first)
	}
	if first["userVerification"] != "required" {
		t.Fatalf("userVerification %v", first["userVerification"])
	}
	if again := shape(); !slices.Equal(mustJSON(t, again), mustJSON(t, first)) {
		t.Fatalf("two begins differ beyond the challenge: %v, %v", again, first)
	}
	g := newGated(f)
	done := make(chan error, 1)
	go func() { _, err := g.p.BeginLogin(ctx, cli); done <- err }()
	g.Stage(t, "Hit")
	g.Stage(t, "PutChallenge")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.None(t)
}

// FinishLogin costs two sequential stages of network calls, each issued concurrently.
func TestFinishLoginRoundTrips(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.signUp(t, f.auth, "alice@example.com")
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
	g := newGated(f)
	done := make(chan error, 1)
	go func() {
		_, err := g.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
		done <- err
	}()
	g.Stage(t, "TakeChallenge", "GetPasskey", "Hit")
	g.Stage(t, "RecordUse", "CreateSession", "Sign", "GetUser")
	if err := <-done; err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	g.None(t)
}

// The audit log of a full run holds events for every ceremony and never a token, a challenge
// or key material.
func TestLogsHoldNoSecrets(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	var secrets []string
	ticket := passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, "alice@example.com", f.clock.Now())
	start, err := f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket}, cli)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, ticket, ticket[strings.IndexByte(ticket, '.')+1:], start.ChallengeID, start.Options.Challenge.String())
	resp, cred, err := f.auth.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, reg.Tokens.AccessToken, reg.Tokens.RefreshToken,
		base64.RawURLEncoding.EncodeToString(reg.Passkey.PublicKey), base64.StdEncoding.EncodeToString(reg.Passkey.PublicKey),
		cred.Key.D.Text(16), base64.RawURLEncoding.EncodeToString(cred.Key.D.Bytes()))
	login, err := f.p.BeginLogin(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, login.ChallengeID, login.Options.Challenge.String())
	assertion, err := f.auth.Get(mustJSON(t, login.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: login.ChallengeID, Credential: assertion, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tr.AccessToken, tr.RefreshToken)
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: login.ChallengeID, Credential: assertion, Client: cli}) // a replay, logged as a failure
	if err == nil {
		t.Fatal("replay succeeded")
	}
	claims, _ := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
	_ = f.p.DeletePasskey(ctx, claims, reg.Passkey.ID)
	logs := f.logs.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the log holds a secret %q", s[:min(len(s), 12)])
		}
	}
	for _, event := range []string{"passkey.registration_begun", "account.created", "passkey.registered", "session.started",
		"auth.login.begun", "auth.login.succeeded", "auth.login.failed", "passkey.delete_refused"} {
		if !strings.Contains(logs, `"msg":"`+event+`"`) {
			t.Errorf("no %s event in the log", event)
		}
	}
}

func TestBeginIsRateLimitedByAddress(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.p.BeginByIP = core.Rule{Name: "pk-begin-ip", Limit: 2, Window: time.Minute}
	for i := range 3 {
		_, err := f.p.BeginLogin(ctx, cli)
		if i < 2 && err != nil {
			t.Fatal(err)
		}
		if i == 2 && !core.Is(err, core.KindRateLimited) {
			t.Fatalf("third begin from one address: %v, want rate limited", err)
		}
	}
	if _, err := f.p.BeginLogin(ctx, core.Client{IP: "192.0.2.9"}); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Throttling, not lockout: the next window lets the address in again.
	f.clock.Advance(time.Minute)
	if _, err := f.p.BeginLogin(ctx, cli); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	f.p.FinishByIP = core.Rule{Name: "pk-finish-ip", Limit: 1, Window: time.Minute}
	for i := range 2 {
		_, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: core.NewID(), Credential: []byte("{}"), Client: cli})
		if want := []core.Kind{core.KindUnauthenticated, core.KindRateLimited}[i]; !core.Is(err, want) {
			t.Fatalf("finish %d: %v, want %v", i+1, err, want)
		}
	}
}

// TestNoTargetedLockout: a stranger who knows a victim's user id (the sub every backend sees)
// and credential id floods sign-in with forged assertions naming them, from many addresses,
// and the victim's sign-up address with begins. The forgeries are throttled and audited with
// the account as a keyed hash, and the victim's genuine sign-in still gets through.
func TestNoTargetedLockout(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.p.FinishByAccount = core.Rule{Name: "pk-finish-acct", Limit: 3, Window: time.Minute}
	f.p.BeginByAccount = core.Rule{Name: "pk-begin-acct", Limit: 3, Window: time.Minute}
	victim, cred := f.signUp(t, f.auth, "victim@example.com")
	handle, _ := base64.RawURLEncoding.DecodeString(victim.User.ID)
	forger := passkeytest.NewAuthenticator(passkeytest.Origin)
	f.signUp(t, forger, "") // a key of the forger's own, presented under the victim's ids
	fake := *forger.Credentials()[0]
	fake.ID, fake.UserHandle = cred.ID, handle
	throttled := 0
	for i := range 10 {
		id, resp := f.assertion(t, forger, passkeytest.Tweaks{Credential: &fake})
		_, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: core.Client{IP: fmt.Sprintf("203.0.113.%d", i)}})
		switch {
		case core.Is(err, core.KindRateLimited):
			throttled++
		case !core.Is(err, core.KindUnauthenticated):
			t.Fatalf("forgery %d: %v", i, err)
		}
	}
	if throttled != 7 {
		t.Errorf("%d of 10 forgeries throttled, want 7 (the limit is 3 verified failures)", throttled)
	}
	for i := range 10 {
		if _, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, core.Client{IP: "203.0.113.77"}); err != nil && !core.Is(err, core.KindRateLimited) {
			t.Fatalf("sign-up begin %d: %v", i, err)
		}
	}
	// The victim, from home, signs in and could sign up.
	id, resp := f.assertion(t, f.auth, passkeytest.Tweaks{})
	tr, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli})
	if err != nil || tr.Claims.Subject != victim.User.ID {
		t.Fatalf("the victim's sign-in: %v", err)
	}
	if _, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli); err != nil {
		t.Fatalf("the victim's sign-up begin: %v", err)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"auth.login.throttled"`) || !strings.Contains(logs, `"account":"acct:`) {
		t.Fatalf("the throttled forgeries are not audited with the targeted account:\n%s", logs)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "auth.login.throttled") && strings.Contains(line, victim.User.ID) {
			t.Fatalf("the audit names the account in the clear: %s", line)
		}
	}
}

// gated wraps the fixture's store and signer so that every network call waits at a
// coretest.Gate until the test releases the stage it belongs to: a stage's calls must all be
// in flight at once.
type gated struct {
	*coretest.Gate
	p *passkey.RelyingParty
}

func newGated(f *pkFixture) *gated {
	g := &gated{Gate: coretest.NewGate()}
	store := &gatedStore{Memory: f.mem, g: g}
	s := *f.s
	minter := *f.s.Minter
	minter.Signer = gatedSigner{f.signer, g}
	s.Store, s.Minter = store, &minter
	s.Limiter = &core.RateLimiter{Counters: store}
	p := *f.p
	p.Credentials, p.Accounts, p.Challenges = store, store, store
	p.Limiter, p.Sessions = &core.RateLimiter{Counters: store}, &s
	g.p = &p
	return g
}

type gatedStore struct {
	*coretest.Memory
	g *gated
}

func (s *gatedStore) TakeChallenge(ctx context.Context, id string, now time.Time) (core.Challenge, error) {
	s.g.Pass("TakeChallenge")
	return s.Memory.TakeChallenge(ctx, id, now)
}

func (s *gatedStore) PutChallenge(ctx context.Context, c core.Challenge, now time.Time) error {
	s.g.Pass("PutChallenge")
	return s.Memory.PutChallenge(ctx, c, now)
}

func (s *gatedStore) GetPasskey(ctx context.Context, id string) (core.Passkey, error) {
	s.g.Pass("GetPasskey")
	return s.Memory.GetPasskey(ctx, id)
}

func (s *gatedStore) UserPasskeys(ctx context.Context, uid string) ([]core.Passkey, error) {
	s.g.Pass("UserPasskeys")
	return s.Memory.UserPasskeys(ctx, uid)
}

func (s *gatedStore) UserIDByEmail(ctx context.Context, email string) (string, error) {
	s.g.Pass("UserIDByEmail")
	return s.Memory.UserIDByEmail(ctx, email)
}

func (s *gatedStore) RecordUse(ctx context.Context, id, uid string, u core.PasskeyUse) error {
	s.g.Pass("RecordUse")
	return s.Memory.RecordUse(ctx, id, uid, u)
}

func (s *gatedStore) GetUser(ctx context.Context, id string) (core.User, error) {
	s.g.Pass("GetUser")
	return s.Memory.GetUser(ctx, id)
}

func (s *gatedStore) CreateSession(ctx context.Context, sess core.Session) error {
	s.g.Pass("CreateSession")
	return s.Memory.CreateSession(ctx, sess)
}

func (s *gatedStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.g.Pass("RevokeSession")
	return s.Memory.RevokeSession(ctx, id, now)
}

func (s *gatedStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	s.g.Pass("Hit")
	return s.Memory.Hit(ctx, key, window, now)
}

type gatedSigner struct {
	*coretest.Signer
	g *gated
}

func (s gatedSigner) Sign(ctx context.Context, input []byte) ([]byte, error) {
	s.g.Pass("Sign")
	return s.Signer.Sign(ctx, input)
}

// TestChallengeMismatchKeepsChallengesOutOfLogs: go-webauthn's developer detail of a challenge
// mismatch quotes both challenges; the audit log keeps only its summary.
func TestChallengeMismatchKeepsChallengesOutOfLogs(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	f.signUp(t, f.auth, "")
	start, err := f.p.BeginLogin(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	other := "c2lnbmVkLWEtZGlmZmVyZW50LWNoYWxsZW5nZS0xMjM0NQ"
	resp, err := f.auth.Get(mustJSON(t, start.Options), passkeytest.Tweaks{Challenge: other})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	f.wantLoginFailed(t, err, "verification_failed")
	logs := f.logs.String()
	if strings.Contains(logs, other) || strings.Contains(logs, start.Options.Challenge.String()) {
		t.Fatalf("a challenge reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "challenge") {
		t.Fatalf("the failure's summary is missing from the logs:\n%s", logs)
	}
}
