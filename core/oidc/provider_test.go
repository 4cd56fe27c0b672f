package oidc_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/oidc"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

var cli = core.Client{IP: "198.51.100.9", UserAgent: "test"}

const (
	rpID        = "example-rp"
	rpCallback  = "https://rp.example.com/callback"
	rpLoggedOut = "https://rp.example.com/"
)

// rsaSigner is an IDSigner over a local RSA key: the HSM's stand-in for core tests.
type rsaSigner struct{ key *rsa.PrivateKey }

func (s *rsaSigner) IDKeys(context.Context) ([]core.RSAPublicKey, error) {
	return []core.RSAPublicKey{{ID: "rsa-test", Key: &s.key.PublicKey}}, nil
}

func (s *rsaSigner) SignRS256(_ context.Context, input []byte) ([]byte, error) {
	sum := sha256.Sum256(input)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

type fixture struct {
	mem      *coretest.Memory
	clock    *coretest.Clock
	logs     *coretest.Logs
	sessions *core.Sessions
	p        *oidc.Provider
	x        *oidc.Exchanger
	ids      *oidc.IDMinter
	user     core.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	sessions := coretest.NewSessions(mem, signer, clk.Now, logs)
	clients, err := oidc.ParseClients(`[{"id":"example-rp","name":"Example <RP>","redirectUris":["https://rp.example.com/callback"],
		"postLogoutRedirectUris":["https://rp.example.com/"],"scopes":["openid","email","profile","offline_access"]},
		{"id":"other-rp","redirectUris":["https://other.example.com/cb"],"scopes":["openid"]}]`, coretest.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	audit := slog.New(slog.NewJSONHandler(logs, nil))
	ids := &oidc.IDMinter{Signer: &rsaSigner{testKey}, Issuer: coretest.Issuer, TTL: 10 * time.Minute}
	f := &fixture{
		mem: mem, clock: clk, logs: logs, sessions: sessions, ids: ids,
		user: core.User{ID: core.NewID(), Email: "ada@example.com", EmailVerified: true, DisplayName: "Ada", CreatedAt: t0},
		p: &oidc.Provider{
			Clients: clients, Store: mem, Users: mem, Verifier: sessions.Verifier, IDTokens: ids, Sessions: mem,
			Limiter: &core.RateLimiter{Counters: mem}, Audit: audit, Now: clk.Now,
			Issuer: coretest.Issuer, SessionTTL: 12 * time.Hour,
			AuthorizeByIP: core.Rule{Name: "authorize-ip", Limit: 1000, Window: time.Minute},
		},
		x: &oidc.Exchanger{
			Store: mem, Sessions: sessions, IDTokens: ids, Limiter: &core.RateLimiter{Counters: mem},
			Audit: audit, Now: clk.Now, TokenByIP: core.Rule{Name: "token-ip", Limit: 1000, Window: time.Minute},
		},
	}
	if err := mem.CreateUser(context.Background(), f.user); err != nil {
		t.Fatal(err)
	}
	return f
}

// pkce is a code verifier and its S256 challenge (RFC 7636 §4.2).
func pkce() (verifier, challenge string) {
	b := make([]byte, 32)
	rand.Read(b)
	verifier = base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// query is a good authorization request of example-rp with challenge, changed by kv pairs
// (an empty value deletes the parameter).
func query(challenge string, kv ...string) url.Values {
	q := url.Values{
		"response_type": {"code"}, "client_id": {rpID}, "redirect_uri": {rpCallback},
		"scope": {"openid email profile offline_access"}, "state": {"st-1"}, "nonce": {"n-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			q.Del(kv[i])
		} else {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}

// callback parses a redirect to the client.
func callback(t *testing.T, redirect string) url.Values {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != rpCallback {
		t.Fatalf("redirect %q is not to the client's callback", redirect)
	}
	if u.Query().Get("iss") != coretest.Issuer {
		t.Fatalf("redirect %q has no iss (RFC 9207)", redirect)
	}
	return u.Query()
}

// signIn is the hosted page's passkey sign-in: a first-party session's tokens, now.
func (f *fixture) signIn(t *testing.T) core.TokenResponse {
	t.Helper()
	tr, err := f.sessions.Start(context.Background(), core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk", "user"}, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// toPage runs an authorization request that must go to the hosted page, and returns the
// request id and binding cookie.
func (f *fixture) toPage(t *testing.T, q url.Values, session string) (string, string) {
	t.Helper()
	a, err := f.p.Authorize(context.Background(), oidc.AuthorizeInput{Query: q, Session: session, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	prefix := coretest.Issuer + "/oauth2/signin?request="
	if !strings.HasPrefix(a.Redirect, prefix) || a.Binding == "" {
		t.Fatalf("authorize answered %+v, want the hosted page with a binding", a)
	}
	return strings.TrimPrefix(a.Redirect, prefix), a.Binding
}

// login runs a whole authorization through the hosted page and returns the code and the
// provider session cookie.
func (f *fixture) login(t *testing.T, q url.Values) (code, session string) {
	t.Helper()
	id, binding := f.toPage(t, q, "")
	f.clock.Advance(2 * time.Second)
	tr := f.signIn(t)
	c, err := f.p.Complete(context.Background(), oidc.CompleteInput{AccessToken: tr.AccessToken, RequestID: id, Binding: binding, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	back := callback(t, c.Redirect)
	if back.Get("state") != q.Get("state") || back.Get("code") == "" {
		t.Fatalf("completion redirect %q", c.Redirect)
	}
	return back.Get("code"), c.Session
}

// complete is the hosted page's completion of request id with token, from the browser whose
// binding cookie is binding.
func (f *fixture) complete(token, id, binding string) (oidc.Completion, error) {
	return f.p.Complete(context.Background(), oidc.CompleteInput{AccessToken: token, RequestID: id, Binding: binding, Client: cli})
}

// signedIn runs a whole authorization of example-rp (query's request, changed by kv) through
// the hosted page and exchanges its code: the tokens, the code and its verifier and challenge,
// and the provider session cookie.
func (f *fixture) signedIn(t *testing.T, kv ...string) (x oidc.Exchanged, code, verifier, challenge, session string) {
	t.Helper()
	verifier, challenge = pkce()
	code, session = f.login(t, query(challenge, kv...))
	x, err := f.exchange(code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	return x, code, verifier, challenge, session
}

func (f *fixture) exchange(code, verifier string) (oidc.Exchanged, error) {
	return f.x.Exchange(context.Background(), oidc.ExchangeInput{ClientID: rpID, Code: code, CodeVerifier: verifier, RedirectURI: rpCallback, Client: cli})
}

// TestCodeFlow: authorize, the hosted page's sign-in and completion, and the exchange give the
// client an access token of its own, a refresh token (offline_access) and an ID token that an
// independent JOSE library verifies with the published key, carrying what OIDC Core §2 asks.
func TestCodeFlow(t *testing.T) {
	f := newFixture(t)
	x, _, _, _, _ := f.signedIn(t)
	c, err := f.sessions.Verifier.AuthenticateAny(context.Background(), x.Tokens.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	// The client's token is for the team's APIs and userinfo, never the account API.
	if _, err := f.sessions.Verifier.Authenticate(context.Background(), x.Tokens.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("a relying party's token passed the account API's check: %v", err)
	}
	if c.ClientID != rpID || c.Subject != f.user.ID || x.Tokens.RefreshToken == "" {
		t.Fatalf("access claims %+v, refresh %q", c, x.Tokens.RefreshToken)
	}
	tok, err := jose.ParseSigned(x.IDToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := tok.Verify(&testKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"iss": coretest.Issuer, "sub": f.user.ID, "aud": []any{rpID}, "nonce": "n-1", "email": "ada@example.com",
		"email_verified": true, "name": "Ada", "sid": x.Tokens.SessionID, "auth_time": float64(t0.Add(2 * time.Second).Unix()),
	} {
		got, _ := json.Marshal(claims[k])
		w, _ := json.Marshal(want)
		if string(got) != string(w) {
			t.Errorf("ID token %s = %s, want %s", k, got, w)
		}
	}
	if tok.Signatures[0].Header.KeyID != "rsa-test" {
		t.Errorf("kid %q", tok.Signatures[0].Header.KeyID)
	}
	// The refresh token is the client's: it refreshes for example-rp, and for no one else.
	if _, err := f.sessions.RefreshScope(context.Background(), x.Tokens.RefreshToken, "", "", cli); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the first-party client refreshed an RP's token: %v", err)
	}
	next, err := f.sessions.RefreshScope(context.Background(), x.Tokens.RefreshToken, "", rpID, cli)
	if err != nil || next.Claims.ClientID != rpID {
		t.Fatalf("refresh by the client: %+v %v", next.Claims, err)
	}
	// The hosted page's own session ended with the completion.
	if n := len(mustSessions(t, f)); n != 1 {
		t.Fatalf("%d live sessions, want only the client's", n)
	}
}

func mustSessions(t *testing.T, f *fixture) []core.Session {
	t.Helper()
	list, err := f.mem.UserSessions(context.Background(), f.user.ID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestScopesDecideTokens: without offline_access no refresh token, without openid no ID token,
// without email no email claim.
func TestScopesDecideTokens(t *testing.T) {
	f := newFixture(t)
	x, _, _, _, _ := f.signedIn(t, "scope", "openid")
	if x.Tokens.RefreshToken != "" || x.IDToken == "" || strings.Contains(string(payloadOf(t, x.IDToken)), "email") {
		t.Fatalf("scope openid alone gave %+v", x)
	}
	verifier, challenge := pkce()
	code, _ := f.login(t, query(challenge, "scope", "email"))
	if x, err := f.exchange(code, verifier); err != nil || x.IDToken != "" {
		t.Fatalf("scope without openid gave an ID token: %v %v", x.IDToken, err)
	}
}

func payloadOf(t *testing.T, raw string) []byte {
	t.Helper()
	parts := strings.Split(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthorizeNeverRedirectsForABadClient: an unknown client, an unregistered redirect URI
// (even one differing only in a trailing slash or query) or a repeated one is refused with
// ErrBadClient, never a redirect, and stores nothing.
func TestAuthorizeNeverRedirectsForABadClient(t *testing.T) {
	f := newFixture(t)
	_, challenge := pkce()
	for name, q := range map[string]url.Values{
		"unknown client":    query(challenge, "client_id", "nobody"),
		"no client":         query(challenge, "client_id", ""),
		"other redirect":    query(challenge, "redirect_uri", "https://evil.example.com/callback"),
		"trailing slash":    query(challenge, "redirect_uri", rpCallback+"/"),
		"extra query":       query(challenge, "redirect_uri", rpCallback+"?x=1"),
		"other client's":    query(challenge, "redirect_uri", "https://other.example.com/cb"),
		"no redirect":       query(challenge, "redirect_uri", ""),
		"repeated redirect": func() url.Values { q := query(challenge); q.Add("redirect_uri", rpCallback); return q }(),
	} {
		a, err := f.p.Authorize(context.Background(), oidc.AuthorizeInput{Query: q, Client: cli})
		if !errors.Is(err, oidc.ErrBadClient) || a.Redirect != "" {
			t.Errorf("%s: %+v %v, want ErrBadClient and no redirect", name, a, err)
		}
	}
}

// TestAuthorizeErrorsGoBackToTheClient: every other problem is an error redirect with state and
// iss, and nothing is stored.
func TestAuthorizeErrorsGoBackToTheClient(t *testing.T) {
	f := newFixture(t)
	_, challenge := pkce()
	for want, qs := range map[string][]url.Values{
		"invalid_request": {
			query(challenge, "code_challenge", ""), query(challenge, "code_challenge_method", ""),
			query(challenge, "code_challenge_method", "plain"), query(challenge, "code_challenge", "short"),
			query(challenge, "prompt", "none login"), query(challenge, "max_age", "-1"), query(challenge, "response_mode", "fragment"),
			func() url.Values { q := query(challenge); q.Add("scope", "openid"); return q }(),
		},
		"unsupported_response_type": {query(challenge, "response_type", "token"), query(challenge, "response_type", "code id_token")},
		"invalid_scope":             {query(challenge, "scope", "openid admin"), query(challenge, "scope", "")},
		"request_not_supported":     {query(challenge, "request", "eyJ...")},
		"login_required":            {query(challenge, "prompt", "none")},
	} {
		for _, q := range qs {
			a, err := f.p.Authorize(context.Background(), oidc.AuthorizeInput{Query: q, Client: cli})
			if err != nil {
				t.Fatalf("%v: %v", q, err)
			}
			back := callback(t, a.Redirect)
			if back.Get("error") != want || back.Get("state") != "st-1" || back.Get("code") != "" || a.Binding != "" {
				t.Errorf("%v: redirect %q, want error %s with state", q, a.Redirect, want)
			}
		}
	}
}

// TestCompleteNeedsTheBindingCookie: a request id without the cookie of the browser that
// started it completes nothing (login CSRF), and the request stays for its own browser; the
// hosted page's session a failed completion was tried with ends.
func TestCompleteNeedsTheBindingCookie(t *testing.T) {
	f := newFixture(t)
	_, challenge := pkce()
	id, binding := f.toPage(t, query(challenge), "")
	f.clock.Advance(time.Second)
	tr := f.signIn(t)
	ctx := context.Background()
	_, other := f.toPage(t, query(challenge), "") // another browser's binding
	for name, b := range map[string]string{"none": "", "another browser's": other, "malformed": "x"} {
		_, err := f.complete(tr.AccessToken, id, b)
		if code, _ := core.CodeOf(err); code != "request_expired" {
			t.Errorf("binding %s: %v, want request_expired", name, err)
		}
	}
	// The failed completion ended the page's session it was tried with.
	if _, err := f.sessions.Verifier.Authenticate(ctx, tr.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("the hosted page's session outlived a failed completion: %v", err)
	}
	tr = f.signIn(t)
	if _, err := f.complete(tr.AccessToken, id, binding); err != nil {
		t.Fatalf("the right browser could not complete: %v", err)
	}
	tr = f.signIn(t)
	if _, err := f.complete(tr.AccessToken, id, binding); !core.Is(err, core.KindInvalid) {
		t.Fatalf("a request completed twice: %v", err)
	}
}

// TestCompleteRefusals: a token that is not the hosted page's (another client's), a sign-in
// older than the request, and an expired request are refused.
func TestCompleteRefusals(t *testing.T) {
	f := newFixture(t)
	x, _, _, challenge, _ := f.signedIn(t)
	stale := f.signIn(t)
	f.clock.Advance(2 * time.Second)
	id, binding := f.toPage(t, query(challenge), "")
	if _, err := f.complete(x.Tokens.AccessToken, id, binding); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("an RP's access token completed a sign-in: %v", err)
	}
	if _, err := f.complete(stale.AccessToken, id, binding); err == nil {
		t.Error("a sign-in from before the request completed it")
	}
	f.clock.Advance(oidc.RequestTTL)
	fresh := f.signIn(t)
	if _, err := f.complete(fresh.AccessToken, id, binding); !core.Is(err, core.KindInvalid) {
		t.Errorf("an expired request completed: %v", err)
	}
}

// TestExchangeRefusals: every wrong detail is invalid_grant and spends the code.
func TestExchangeRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for name, tc := range map[string]func(code, verifier string) oidc.ExchangeInput{
		"wrong verifier": func(code, _ string) oidc.ExchangeInput {
			v, _ := pkce()
			return oidc.ExchangeInput{ClientID: rpID, Code: code, CodeVerifier: v, RedirectURI: rpCallback, Client: cli}
		},
		"other redirect": func(code, v string) oidc.ExchangeInput {
			return oidc.ExchangeInput{ClientID: rpID, Code: code, CodeVerifier: v, RedirectURI: rpLoggedOut, Client: cli}
		},
		"other client": func(code, v string) oidc.ExchangeInput {
			return oidc.ExchangeInput{ClientID: "other-rp", Code: code, CodeVerifier: v, RedirectURI: rpCallback, Client: cli}
		},
	} {
		verifier, challenge := pkce()
		code, _ := f.login(t, query(challenge))
		if _, err := f.x.Exchange(ctx, tc(code, verifier)); !core.Is(err, core.KindUnauthenticated) {
			t.Errorf("%s: %v, want invalid_grant", name, err)
		}
		if _, err := f.exchange(code, verifier); err == nil {
			t.Errorf("%s: the code still worked after a failed exchange", name)
		}
	}
	verifier, challenge := pkce()
	code, _ := f.login(t, query(challenge))
	f.clock.Advance(oidc.CodeTTL + time.Second)
	if _, err := f.exchange(code, verifier); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("an expired code: %v", err)
	}
	if _, err := f.exchange("not-a-code", verifier); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("a malformed code: %v", err)
	}
}

// TestReusedCodeRevokesItsTokens: the second presentation of a code is invalid_grant and ends
// the session the first one opened: its access and refresh tokens stop.
func TestReusedCodeRevokesItsTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x, code, verifier, _, _ := f.signedIn(t)
	if _, err := f.exchange(code, verifier); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("a reused code: %v", err)
	}
	if _, err := f.sessions.Verifier.AuthenticateAny(ctx, x.Tokens.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("the access token of a replayed code still works: %v", err)
	}
	if _, err := f.sessions.RefreshScope(ctx, x.Tokens.RefreshToken, "", rpID, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("the refresh token of a replayed code still works: %v", err)
	}
	if !strings.Contains(f.logs.String(), "oidc.code_reused") {
		t.Error("no audit event for the reuse")
	}
}

// TestSingleSignOn: the provider session answers the next request of any client without the
// hosted page, prompt=none included; prompt=login, max_age exceeded and max_age=0 send the
// browser to the page again; a disabled user's provider session serves nothing.
func TestSingleSignOn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, challenge := pkce()
	_, session := f.login(t, query(challenge))
	f.clock.Advance(time.Minute)
	for name, q := range map[string]url.Values{
		"plain":        query(challenge),
		"prompt=none":  query(challenge, "prompt", "none"),
		"max_age ok":   query(challenge, "max_age", "3600"),
		"other client": query(challenge, "client_id", "other-rp", "redirect_uri", "https://other.example.com/cb", "scope", "openid"),
	} {
		a, err := f.p.Authorize(ctx, oidc.AuthorizeInput{Query: q, Session: session, Client: cli})
		u, _ := url.Parse(a.Redirect)
		if err != nil || u.Query().Get("code") == "" || a.Binding != "" {
			t.Errorf("%s: %+v %v, want a code at once", name, a, err)
		}
	}
	for name, q := range map[string]url.Values{
		"prompt=login": query(challenge, "prompt", "login"),
		"max_age=0":    query(challenge, "max_age", "0"),
		"max_age 30s":  query(challenge, "max_age", "30"),
	} {
		f.toPage(t, q, session)
		_ = name
	}
	a, err := f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none", "max_age", "30"), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "login_required" {
		t.Errorf("prompt=none past max_age: %+v %v", a, err)
	}
	if err := f.mem.DisableUser(ctx, f.user.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	a, err = f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none"), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "login_required" || !a.EndSession {
		t.Errorf("a disabled user's provider session: %+v %v", a, err)
	}
}

// TestLogout: RP-initiated logout ends the provider session and the hinted session, follows
// only a registered post-logout URI, and refuses a hint that is not ours.
func TestLogout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x, _, _, challenge, session := f.signedIn(t)
	bad := url.Values{"id_token_hint": {x.IDToken}, "post_logout_redirect_uri": {"https://evil.example.com/"}}
	if _, err := f.p.Logout(ctx, oidc.LogoutInput{Query: bad, Session: session, Client: cli}); !errors.Is(err, oidc.ErrBadClient) {
		t.Fatalf("an unregistered post-logout URI: %v", err)
	}
	forged := x.IDToken[:len(x.IDToken)-4] + "AAAA"
	if _, err := f.p.Logout(ctx, oidc.LogoutInput{Query: url.Values{"id_token_hint": {forged}}, Session: session, Client: cli}); !core.Is(err, core.KindInvalid) {
		t.Fatalf("a forged hint: %v", err)
	}
	q := url.Values{"id_token_hint": {x.IDToken}, "post_logout_redirect_uri": {rpLoggedOut}, "state": {"bye"}}
	out, err := f.p.Logout(ctx, oidc.LogoutInput{Query: q, Session: session, Client: cli})
	if err != nil || out.Redirect != rpLoggedOut+"?state=bye" {
		t.Fatalf("logout: %+v %v", out, err)
	}
	a, err := f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none"), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "login_required" {
		t.Errorf("prompt=none after logout: %+v %v", a, err)
	}
	if _, err := f.sessions.Verifier.AuthenticateAny(ctx, x.Tokens.AccessToken); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("the hinted session survived logout: %v", err)
	}
}

// TestUserInfo: the claims follow the token's scopes; a token without openid is
// insufficient_scope.
func TestUserInfo(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x, _, _, _, _ := f.signedIn(t, "scope", "openid email")
	info, err := f.p.UserInfo(ctx, x.Tokens.AccessToken)
	if err != nil || info.Subject != f.user.ID || info.Email != "ada@example.com" || info.EmailVerified == nil || !*info.EmailVerified || info.Name != "" {
		t.Fatalf("userinfo %+v %v", info, err)
	}
	first := f.signIn(t) // a first-party token has no openid scope
	if _, err := f.p.UserInfo(ctx, first.AccessToken); !core.Is(err, core.KindForbidden) {
		t.Errorf("userinfo without openid: %v", err)
	}
}

// TestParseClients: the declared clients are validated at cold start.
func TestParseClients(t *testing.T) {
	for name, raw := range map[string]string{
		"http redirect":   `[{"id":"a","redirectUris":["http://app.example.com/cb"],"scopes":["openid"]}]`,
		"fragment":        `[{"id":"a","redirectUris":["https://app.example.com/cb#x"],"scopes":["openid"]}]`,
		"no openid":       `[{"id":"a","redirectUris":["https://app.example.com/cb"],"scopes":["email"]}]`,
		"reserved id":     `[{"id":"latchkey","redirectUris":["https://app.example.com/cb"],"scopes":["openid"]}]`,
		"twice":           `[{"id":"a","redirectUris":["https://a.example/cb"],"scopes":["openid"]},{"id":"a","redirectUris":["https://a.example/cb"],"scopes":["openid"]}]`,
		"unknown field":   `[{"id":"a","redirect_uris":["https://a.example/cb"],"scopes":["openid"]}]`,
		"javascript":      `[{"id":"a","redirectUris":["javascript:alert(1)"],"scopes":["openid"]}]`,
		"no redirect":     `[{"id":"a","scopes":["openid"]}]`,
		"bad post-logout": `[{"id":"a","redirectUris":["https://a.example/cb"],"postLogoutRedirectUris":["http://a.example/"],"scopes":["openid"]}]`,
		"userinfo":        `[{"id":"a","redirectUris":["https://u:p@a.example/cb"],"scopes":["openid"]}]`,
		"odd query":       `[{"id":"a","redirectUris":["https://a.example/cb?b=1;c=2"],"scopes":["openid"]}]`,
		"code in query":   `[{"id":"a","redirectUris":["https://a.example/cb?code=x"],"scopes":["openid"]}]`,
	} {
		if _, err := oidc.ParseClients(raw, "latchkey"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := oidc.ParseClients(`[{"id":"local-rp","redirectUris":["http://localhost:3000/local/rp/callback","com.example.app:/cb","https://a.example/cb?tenant=t1"],"scopes":["openid"]}]`, "latchkey")
	if err != nil || len(c) != 1 {
		t.Fatalf("%v %v", c, err)
	}
}

// TestLateReplayStillRevokes: a used code is kept as long as its session can live, so a replay
// long after the code's own 60 s still ends what the first exchange opened.
func TestLateReplayStillRevokes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x, code, verifier, _, _ := f.signedIn(t)
	f.clock.Advance(50 * time.Minute) // long past the code's 60 s, within the session's idle hour
	if _, err := f.sessions.Verifier.AuthenticateAny(ctx, x.Tokens.AccessToken); err == nil {
		t.Fatal("the fixture's access token outlived its 10 minutes")
	}
	if _, err := f.exchange(code, verifier); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("a late replay: %v", err)
	}
	if _, err := f.sessions.RefreshScope(ctx, x.Tokens.RefreshToken, "", rpID, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Errorf("the session of a code replayed an hour later still refreshes: %v", err)
	}
}

// TestReplayDuringTheFirstExchange: a replay that arrives after the first exchange took the
// code but before it wrote its session leaves a revoked session under the code's session id,
// so that write fails and the first exchange hands out nothing.
func TestReplayDuringTheFirstExchange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	verifier, challenge := pkce()
	code, _ := f.login(t, query(challenge))
	// The first exchange's stage 1, alone.
	c, err := f.mem.TakeCode(ctx, oidc.HashOf(code), f.clock.Now(), f.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.exchange(code, verifier); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("the replay: %v", err)
	}
	// The first exchange's stage 2 now fails to open its session.
	_, err = f.sessions.Start(ctx, core.StartRequest{UserID: c.UserID, SessionID: c.SessionID, ClientID: c.ClientID, Client: cli})
	if !core.Is(err, core.KindConflict) {
		t.Fatalf("the first exchange opened its session after the replay: %v", err)
	}
	if s, err := f.mem.GetSession(ctx, c.SessionID, f.clock.Now()); err != nil || !s.Revoked {
		t.Fatalf("the session id of a replayed code: %+v %v, want a revoked session", s, err)
	}
}

// TestExchangeRefusesAnEndedUser: a user disabled between the sign-in and the exchange gets no
// tokens, and the session the exchange opened is withdrawn.
func TestExchangeRefusesAnEndedUser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	verifier, challenge := pkce()
	code, _ := f.login(t, query(challenge))
	if err := f.mem.DisableUser(ctx, f.user.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	x, err := f.exchange(code, verifier)
	if !core.Is(err, core.KindUnauthenticated) || x.IDToken != "" || x.Tokens.AccessToken != "" {
		t.Fatalf("a disabled user's code: %+v %v, want invalid_grant and no tokens", x, err)
	}
	if n := len(mustSessions(t, f)); n != 0 {
		t.Fatalf("%d live sessions of a disabled user after the exchange", n)
	}
}

// TestAuthorizeReviewRefusals: errors echo nothing the request chose; prompt=none with stray
// spaces still shows no page; an id_token_hint of another user, or not ours, is not answered by
// the provider session.
func TestAuthorizeReviewRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x, _, _, challenge, session := f.signedIn(t)
	hostile := query(challenge, "prompt", "<b>Call +1-555</b>")
	hostile.Add("<b>locked</b>", "1")
	hostile.Add("<b>locked</b>", "2")
	for _, q := range []url.Values{hostile, query(challenge, "prompt", "<b>Call +1-555</b>")} {
		a, err := f.p.Authorize(ctx, oidc.AuthorizeInput{Query: q, Client: cli})
		if err != nil || strings.Contains(a.Redirect, "555") || strings.Contains(a.Redirect, "locked") {
			t.Errorf("an error redirect echoes the request: %q %v", a.Redirect, err)
		}
	}
	a, err := f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", " none "), Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "login_required" || a.Binding != "" {
		t.Errorf("prompt=' none ' without a session: %+v %v, want login_required and no page", a, err)
	}
	// The hint is this user's: the session answers. Another user's: it does not.
	a, err = f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none", "id_token_hint", x.IDToken), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("code") == "" {
		t.Fatalf("prompt=none with the user's own hint: %+v %v", a, err)
	}
	other := core.User{ID: core.NewID(), CreatedAt: t0}
	if err := f.mem.CreateUser(ctx, other); err != nil {
		t.Fatal(err)
	}
	v2, c2 := pkce()
	f.user, f.user.ID = other, other.ID
	code2, _ := f.login(t, query(c2))
	x2, err := f.exchange(code2, v2)
	if err != nil {
		t.Fatal(err)
	}
	a, err = f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none", "id_token_hint", x2.IDToken), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "login_required" {
		t.Errorf("prompt=none with another user's hint: %+v %v, want login_required", a, err)
	}
	forged := x.IDToken[:len(x.IDToken)-4] + "AAAA"
	a, err = f.p.Authorize(ctx, oidc.AuthorizeInput{Query: query(challenge, "prompt", "none", "id_token_hint", forged), Session: session, Client: cli})
	if err != nil || callback(t, a.Redirect).Get("error") != "invalid_request" {
		t.Errorf("a forged hint: %+v %v, want invalid_request", a, err)
	}
}

// TestCompleteRechecksTheClient: a request of a client the deployment no longer declares as it
// was (removed, or its redirect URI taken away) completes nothing; the hosted page shows a
// request only to the browser that made it.
func TestCompleteRechecksTheClient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, challenge := pkce()
	id, binding := f.toPage(t, query(challenge), "")
	if _, err := f.p.Request(ctx, id, binding); err != nil {
		t.Fatalf("the page's own browser: %v", err)
	}
	_, other := f.toPage(t, query(challenge), "")
	if _, err := f.p.Request(ctx, id, other); !core.Is(err, core.KindInvalid) {
		t.Errorf("another browser read the request: %v", err)
	}
	if _, err := f.p.Request(ctx, id, ""); !core.Is(err, core.KindInvalid) {
		t.Errorf("a browser without the cookie read the request: %v", err)
	}
	c := f.p.Clients[rpID]
	c.RedirectURIs = []string{"https://rp.example.com/elsewhere"}
	f.p.Clients[rpID] = c
	f.clock.Advance(time.Second)
	tr := f.signIn(t)
	_, err := f.complete(tr.AccessToken, id, binding)
	if code, _ := core.CodeOf(err); code != "request_expired" {
		t.Fatalf("a request whose redirect URI was taken from its client: %v, want request_expired", err)
	}
}
