package passkey_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// claimsOf verifies tr's access token as every Bearer route does.
func (f *pkFixture) claimsOf(t *testing.T, tr core.TokenResponse) core.AccessClaims {
	t.Helper()
	c, err := f.s.Verifier.Authenticate(context.Background(), tr.AccessToken)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return c
}

// reauthenticate runs the step-up ceremony for the holder of c with auth's newest passkey.
func (f *pkFixture) reauthenticate(t *testing.T, auth *passkeytest.Authenticator, c core.AccessClaims) (core.TokenResponse, error) {
	t.Helper()
	start, err := f.p.BeginReauthentication(context.Background(), c, cli)
	if err != nil {
		t.Fatalf("BeginReauthentication: %v", err)
	}
	resp, err := auth.Get(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatalf("authenticator Get: %v", err)
	}
	return f.p.FinishLogin(context.Background(), passkey.LoginFinish{ChallengeID: start.ChallengeID, Credential: resp, Claims: &c, Client: cli})
}

// TestFactorChangesNeedARecentSignIn: a token whose auth_time is older than ReauthMaxAge (what
// a refresh weeks after the ceremony mints) can neither add nor delete a passkey; the step-up
// ceremony on the same session makes it able to (RFC 9470).
func TestFactorChangesNeedARecentSignIn(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	f.clock.Advance(5*time.Minute + time.Second)
	refreshed, err := f.s.Refresh(ctx, alice.Tokens.RefreshToken, cli)
	if err != nil {
		t.Fatal(err)
	}
	stale := f.claimsOf(t, refreshed)

	_, err = f.p.BeginAddPasskey(ctx, stale, cli)
	if !core.Is(err, core.KindReauthenticate) || core.MaxAgeOf(err) != 5*time.Minute {
		t.Fatalf("add with a stale token: %v", err)
	}
	if err := f.p.DeletePasskey(ctx, stale, alice.Passkey.ID); !core.Is(err, core.KindReauthenticate) {
		t.Fatalf("delete with a stale token: %v", err)
	}
	if list, _ := f.mem.UserPasskeys(ctx, alice.User.ID); len(list) != 1 {
		t.Fatalf("the refused delete changed the passkeys: %d", len(list))
	}

	tr, err := f.reauthenticate(t, f.auth, stale)
	if err != nil {
		t.Fatalf("re-authentication: %v", err)
	}
	fresh := f.claimsOf(t, tr)
	if tr.SessionID != stale.SessionID || !fresh.AuthTime.Equal(f.clock.Now().Truncate(time.Second)) {
		t.Fatalf("re-authentication: session %s (was %s), auth_time %v", tr.SessionID, stale.SessionID, fresh.AuthTime)
	}
	if tr.RefreshToken == refreshed.RefreshToken {
		t.Fatal("re-authentication did not rotate the refresh token")
	}
	if _, err := f.p.BeginAddPasskey(ctx, fresh, cli); err != nil {
		t.Fatalf("add after re-authentication: %v", err)
	}
	// A refresh after the step-up keeps the fresh auth_time.
	again, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	if err != nil {
		t.Fatal(err)
	}
	if c := f.claimsOf(t, again); !c.AuthTime.Equal(fresh.AuthTime) {
		t.Fatalf("auth_time after a refresh %v, want %v", c.AuthTime, fresh.AuthTime)
	}
}

// TestReauthenticationIsBoundToItsSession: the step-up challenge is finished only by the
// session that began it, with its own user's passkey, and never without a token.
func TestReauthenticationIsBoundToItsSession(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	mallory := passkeytest.NewAuthenticator(passkeytest.Origin)
	m, _ := f.signUp(t, mallory, "mallory@example.com")
	ac, mc := f.claimsOf(t, *alice.Tokens), f.claimsOf(t, *m.Tokens)
	start, err := f.p.BeginReauthentication(ctx, ac, cli)
	if err != nil {
		t.Fatal(err)
	}
	if ids := start.Options.AllowedCredentials; len(ids) != 1 || ids[0].CredentialID.String() != alice.Passkey.ID {
		t.Fatalf("allowCredentials %v, want alice's passkey only", ids)
	}
	resp, err := f.auth.Get(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	for _, claims := range []*core.AccessClaims{nil, &mc} { // no token, mallory's session
		_, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: start.ChallengeID, Credential: resp, Claims: claims, Client: cli})
		f.wantLoginFailed(t, err, "challenge_of_another_session")
		// The take consumed the challenge: begin again for the next case.
		start, _ = f.p.BeginReauthentication(ctx, ac, cli)
		resp, _ = f.auth.Get(mustJSON(t, start.Options), passkeytest.Tweaks{})
	}
	// Mallory's passkey for alice's challenge.
	mresp, err := mallory.Get(mustJSON(t, start.Options), passkeytest.Tweaks{Credential: mallory.Credentials()[0]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: start.ChallengeID, Credential: mresp, Claims: &ac, Client: cli})
	f.wantLoginFailed(t, err, "credential_of_another_account")
}

// TestDeletingAPasskeyEndsItsSessions: the sessions opened with a deleted passkey end with
// it; the others go on.
func TestDeletingAPasskeyEndsItsSessions(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	ac := f.claimsOf(t, *alice.Tokens)
	laptop := passkeytest.NewAuthenticator(passkeytest.Origin)
	start, err := f.p.BeginAddPasskey(ctx, ac, cli)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := laptop.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	added, err := f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Claims: &ac, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	id, assertion := f.assertion(t, laptop, passkeytest.Tweaks{})
	onLaptop, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: assertion, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.p.DeletePasskey(ctx, ac, added.Passkey.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Verifier.Authenticate(ctx, onLaptop.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the session opened with the deleted passkey: %v", err)
	}
	if _, err := f.s.Refresh(ctx, onLaptop.RefreshToken, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("refresh of the session opened with the deleted passkey: %v", err)
	}
	if _, err := f.s.Verifier.Authenticate(ctx, alice.Tokens.AccessToken); err != nil {
		t.Fatalf("the session opened with the other passkey: %v", err)
	}
}

// TestSignalCodes: a credential the server did not keep is named by the problem code
// credential_not_saved and a credential no account holds by unknown_credential, each with the
// credential id, so the client can tell the authenticator (WebAuthn Signal API).
func TestSignalCodes(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	_, cred := f.signUp(t, f.auth, "alice@example.com")

	// A second sign-up presenting the same credential id is refused, and so named.
	start, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := passkeytest.NewAuthenticator(passkeytest.Origin).Create(mustJSON(t, start.Options), passkeytest.Tweaks{CredentialID: cred.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if code, m := core.CodeOf(err); !core.Is(err, core.KindConflict) || code != "credential_not_saved" || m["credentialId"] != cred.IDString() {
		t.Fatalf("taken credential id: %v (code %q %v)", err, code, m)
	}

	// A passkey the account no longer has.
	ghost := passkeytest.NewAuthenticator(passkeytest.Origin)
	start, _ = f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	resp, gone, err := ghost.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp // never finished: the server holds no such credential
	id, assertion := f.assertion(t, ghost, passkeytest.Tweaks{Credential: gone})
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: assertion, Client: cli})
	if code, m := core.CodeOf(err); !core.Is(err, core.KindUnauthenticated) || code != "unknown_credential" || m["credentialId"] != gone.IDString() {
		t.Fatalf("unknown credential: %v (code %q %v)", err, code, m)
	}
	// Every other failure stays the one answer, without a code.
	id, assertion = f.assertion(t, f.auth, passkeytest.Tweaks{Origin: "https://evil.example.net"})
	_, err = f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: assertion, Client: cli})
	if code, _ := core.CodeOf(err); code != "" {
		t.Fatalf("a wrong origin carries code %q", code)
	}
}

// TestRegistrationKeepsOnlyUsableKeysAndKnownTransports: a public key off its curve is
// refused (credential_not_saved) and writes nothing; transports nobody defined are dropped.
func TestRegistrationKeepsOnlyUsableKeysAndKnownTransports(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	start, err := f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, "bent@example.com", f.clock.Now())}, cli)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred, err := f.auth.Create(mustJSON(t, start.Options), passkeytest.Tweaks{OffCurveKey: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if code, _ := core.CodeOf(err); !core.Is(err, core.KindInvalid) || code != "credential_not_saved" {
		t.Fatalf("an off-curve key: %v (code %q)", err, code)
	}
	if _, err := f.mem.GetPasskey(ctx, cred.IDString()); !core.Is(err, core.KindNotFound) {
		t.Fatalf("the refused passkey was stored: %v", err)
	}
	if !strings.Contains(f.logs.String(), `"reason":"bad_public_key"`) {
		t.Fatal("the refusal is not audited")
	}

	usb := passkeytest.NewAuthenticator(passkeytest.Origin)
	usb.Transports = []string{"usb", "carrier-pigeon", "usb", "nfc"}
	reg, _ := f.signUp(t, usb, "usb@example.com")
	if !slices.Equal(reg.Passkey.Transports, []string{"usb", "nfc"}) {
		t.Fatalf("transports %v", reg.Passkey.Transports)
	}
	// Resident keys are required at registration.
	start, _ = f.p.BeginSignUp(ctx, passkey.SignUp{}, cli)
	if sel := start.Options.AuthenticatorSelection; sel.ResidentKey != "required" || sel.RequireResidentKey == nil || !*sel.RequireResidentKey {
		t.Fatalf("authenticatorSelection %+v", sel)
	}
}

// TestReauthenticationSupersedesTheRefreshToken: the refresh token the session had before a
// re-authentication is a replay afterwards, even within the grace window that forgives a lost
// response, so no token carrying the old auth_time can be minted again.
func TestReauthenticationSupersedesTheRefreshToken(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	alice, _ := f.signUp(t, f.auth, "alice@example.com")
	tr, err := f.reauthenticate(t, f.auth, f.claimsOf(t, *alice.Tokens))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Refresh(ctx, alice.Tokens.RefreshToken, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the superseded refresh token within the grace window: %v", err)
	}
	if _, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the session survived a replay of its superseded refresh token: %v", err)
	}
}
