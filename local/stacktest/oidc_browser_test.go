package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/local/testenv"
)

// recordCSPViolations is run in every page before its own scripts: it keeps the directives
// of the Content-Security-Policy violations the page causes (window.__csp), so a test sees
// that the hosted page works under its policy rather than around it.
const recordCSPViolations = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`

// hostedReady is a JavaScript condition: the browser shows the hosted sign-in page, ready,
// its autofill sign-in waiting.
const hostedReady = `location.pathname === '/oauth2/signin' && document.body.dataset.state === 'ready' && document.body.dataset.autofill === 'waiting'`

// openProvider starts a gateway whose origin http://localhost:<port> is the issuer and the
// passkeys' origin (RP ID localhost), with email as deployed and clients (LATCHKEY_OIDC_CLIENTS,
// a JSON array built by the caller, who may need the origin first: clients gets it), and a
// browser with one virtual authenticator that records the pages' WebAuthn calls and CSP
// violations.
func openProvider(t *testing.T, clients func(origin string) string, extra ...string) (*gateway, string, *browser, webauthn.AuthenticatorID) {
	t.Helper()
	needChromium(t)
	checkBundle(t)
	s := newStack(t)
	addr := freeAddr(t)
	origin := "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	env := append([]string{"LATCHKEY_ISSUER=" + origin, "LATCHKEY_RP_ID=localhost", "LATCHKEY_RP_ORIGINS=" + origin,
		"LATCHKEY_OIDC_CLIENTS=" + clients(origin)}, emailDefaults...)
	g := s.startGatewayAt(t, addr, append(env, extra...)...)
	g.keepLogOnFailure(t)
	b := newBrowser(t, g.url)
	b.gw, b.origin = g, origin
	b.run("enable WebAuthn and record the pages' WebAuthn calls and CSP violations", chromedp.ActionFunc(func(ctx context.Context) error {
		if err := webauthn.Enable().WithEnableUI(false).Do(ctx); err != nil {
			return err
		}
		if _, err := page.AddScriptToEvaluateOnNewDocument(recordWebAuthnCalls).Do(ctx); err != nil {
			return err
		}
		_, err := page.AddScriptToEvaluateOnNewDocument(recordCSPViolations).Do(ctx)
		return err
	}))
	return g, origin, b, b.authenticator(false)
}

// clientsJSON declares public clients for LATCHKEY_OIDC_CLIENTS.
func clientsJSON(t *testing.T, clients ...map[string]any) string {
	t.Helper()
	b, err := json.Marshal(clients)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shownPageErrors is a JavaScript expression: the error lines the hosted page or the example
// relying party shows, joined ("" when none, or on a page without them).
const shownPageErrors = `[...document.querySelectorAll('.error[role="alert"]')].filter((e) => !e.hidden && e.textContent).map((e) => e.id + ': ' + e.textContent).join(' | ')`

// poll waits until a JavaScript condition holds in whatever page the tab shows, through
// navigations (an evaluation that fails while a page is replaced is tried again); it fails at
// once when the page shows an error line.
func (b *browser) poll(what, condition string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ok bool
		var shown string
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := chromedp.Run(ctx, chromedp.Evaluate(`!!(`+condition+`)`, &ok), chromedp.Evaluate(shownPageErrors, &shown))
		cancel()
		if err == nil && ok {
			return
		}
		if err == nil && shown != "" && !strings.Contains(condition, "error") {
			b.t.Fatalf("waiting for %s, the page shows %q%s", what, shown, b.pageState())
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting for %s (%s; last evaluation error %v)%s", what, condition, err, b.pageState())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// navigate opens u in the tab and waits for the page it ends on to load.
func (b *browser) navigate(u string) {
	b.t.Helper()
	b.run("open "+u, chromedp.Navigate(u))
}

// cspProbe is a JavaScript expression: whether an inline script and an inline style attribute
// take effect in the page (a policy without 'unsafe-inline' for scripts and styles blocks both).
const cspProbe = `(() => {
  window.__inlineRan = false;
  const s = document.createElement('script');
  s.textContent = 'window.__inlineRan = true';
  document.head.append(s);
  const d = document.createElement('div');
  d.setAttribute('style', 'display: none');
  document.body.append(d);
  const styled = getComputedStyle(d).display === 'none';
  d.remove();
  s.remove();
  return { script: window.__inlineRan, style: styled };
})()`

// checkPolicy fails unless the page the tab shows works under a Content-Security-Policy that
// blocks inline script and style: it has caused no violation so far, and a probe's inline
// script and style attribute are blocked (the probe's own violations come after the check).
func (b *browser) checkPolicy(where string) {
	b.t.Helper()
	var violations []string
	var recorded bool
	b.eval(`Array.isArray(window.__csp)`, &recorded)
	b.eval(`window.__csp || []`, &violations)
	if !recorded || len(violations) > 0 {
		b.t.Fatalf("%s: CSP violations recorded %v: %v", where, recorded, violations)
	}
	var inline struct{ Script, Style bool }
	b.eval(cspProbe, &inline)
	if inline.Script || inline.Style {
		b.t.Fatalf("%s runs inline script (%v) or style (%v): no policy blocks them", where, inline.Script, inline.Style)
	}
}

// signUpHosted signs up on the hosted page the tab shows: the email, the code from the
// outbox, the passkey. It returns when the page has asked for the passkey's token response's
// completion; the browser then goes to the client.
func (b *browser) signUpHosted(email string) {
	b.t.Helper()
	b.poll("the hosted sign-in page", hostedReady)
	b.checkPolicy("the hosted sign-in page")
	b.mailSeen(email)
	b.fill("#signup-email", email)
	b.click("#signup-button")
	b.poll("the sign-up code form", `document.body.dataset.signup === 'code' && !document.querySelector('#main').hasAttribute('aria-busy')`)
	b.fill("#signup-code", b.code(email, "sign-up code"))
	b.click("#signup-verify-button")
}

// signCount is the signature counter of the one credential a virtual authenticator holds:
// it moves with every ceremony that uses the passkey.
func (b *browser) signCount(id webauthn.AuthenticatorID) int64 {
	b.t.Helper()
	creds := b.credentials(id)
	if len(creds) != 1 {
		b.t.Fatalf("the authenticator holds %d credentials, want 1", len(creds))
	}
	return creds[0].SignCount
}

// goRP is a relying party's redirect and post-logout endpoints: an HTTP server on 127.0.0.1
// that records every request the browser makes to it and answers a small page.
type goRP struct {
	url  string
	hits chan rpHit
}

type rpHit struct {
	path  string
	query url.Values
}

func startGoRP(t *testing.T) *goRP {
	t.Helper()
	rp := &goRP{hits: make(chan rpHit, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		select {
		case rp.hits <- rpHit{path: r.URL.Path, query: r.URL.Query()}:
		default:
			t.Errorf("the relying party got more requests than the test reads: %s", r.URL)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>relying party</title></head><body data-rp="%s">relying party</body></html>`, html.EscapeString(r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	rp.url = srv.URL
	return rp
}

// next waits for the browser's next request to the relying party, and then for the browser to
// show the page it answered: a navigation the page's own script started (the hosted page's,
// after a sign-in) may still be loading when the request arrives, and the test's next
// navigation would abort it, or be aborted by it, on a busy machine.
func (rp *goRP) next(b *browser, what string) rpHit {
	b.t.Helper()
	select {
	case h := <-rp.hits:
		b.run("the relying party's page ("+what+")", chromedp.WaitReady(fmt.Sprintf(`body[data-rp=%q]`, h.path), chromedp.ByQuery))
		return h
	case <-time.After(30 * time.Second):
		b.t.Fatalf("the browser did not come back to the relying party (%s)%s", what, b.pageState())
		return rpHit{}
	}
}

// random is a fresh state or nonce.
func random(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// idClaims are the ID token's claims beyond go-oidc's IDToken.
type idClaims struct {
	AuthTime      int64    `json:"auth_time"`
	AMR           []string `json:"amr"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
}

// authorization is one pass of a relying party through the provider.
type authorization struct {
	state, nonce, verifier string
}

func newAuthorization(t *testing.T) authorization {
	return authorization{state: random(t), nonce: random(t), verifier: oauth2.GenerateVerifier()}
}

// url is the authorization request's address: PKCE S256, the nonce, and more parameters.
func (a authorization) url(conf *oauth2.Config, params ...string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}
	for i := 0; i+1 < len(params); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(params[i], params[i+1]))
	}
	return conf.AuthCodeURL(a.state, opts...)
}

// callback checks the authorization response the relying party got (RFC 6749 §4.1.2, RFC
// 9207): a code, its state, and the issuer.
func (a authorization) callback(t *testing.T, h rpHit, issuer string) string {
	t.Helper()
	code := h.query.Get("code")
	if h.path != "/callback" || code == "" || h.query.Get("state") != a.state || h.query.Get("iss") != issuer || h.query.Has("error") {
		t.Fatalf("the authorization response: %s %v; want a code, state %q and iss %q", h.path, h.query, a.state, issuer)
	}
	return code
}

// exchange redeems code with the verifier and verifies the ID token with go-oidc's default
// verifier for the client, and its nonce.
func (a authorization) exchange(t *testing.T, ctx context.Context, conf *oauth2.Config, provider *oidc.Provider, code string) (*oauth2.Token, *oidc.IDToken, idClaims, string) {
	t.Helper()
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("x/oauth2 exchanged the code: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatalf("the token response of an openid request has no id_token")
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if idt.Nonce != a.nonce {
		t.Fatalf("the ID token's nonce is %q, want the request's %q", idt.Nonce, a.nonce)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("the ID token's at_hash: %v", err)
		}
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return tok, idt, c, raw
}

// jwtHeader is the decoded protected header of a compact JWS.
func jwtHeader(t *testing.T, jws string) map[string]any {
	t.Helper()
	var h map[string]any
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[0])
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		t.Fatalf("the JWS header of %q: %v", jws, err)
	}
	return h
}

// TestOIDCGoRelyingParty runs a relying party written with golang.org/x/oauth2 and go-oidc
// through the whole flow, the browser part in headless Chromium with a virtual
// authenticator: discovery, an authorization request with PKCE S256 and a nonce, sign-up on
// the hosted page with an email code, the code back at the redirect URI with state and iss,
// the exchange, the ID token verified by go-oidc's default verifier (RS256, iss, aud, exp,
// nonce; auth_time and email checked here), userinfo and /local/echo with the access token, a
// refresh of the offline_access grant. Then single sign-on: another client's prompt=none in
// the same browser gets a code without any ceremony; prompt=login shows the page again and
// the passkey signs in anew. RP-initiated logout ends the provider session: a prompt=none
// after it answers login_required, with state and iss.
func TestOIDCGoRelyingParty(t *testing.T) {
	rp := startGoRP(t)
	g, origin, b, auth := openProvider(t, func(string) string {
		return clientsJSON(t,
			map[string]any{"id": "stack-rp", "name": "Stack RP", "redirectUris": []string{rp.url + "/callback"},
				"postLogoutRedirectUris": []string{rp.url + "/"}, "scopes": []string{"openid", "email", "profile", "offline_access"}},
			map[string]any{"id": "stack-rp-2", "name": "Second RP", "redirectUris": []string{rp.url + "/callback"},
				"scopes": []string{"openid", "email"}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, origin)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", origin, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint (%v)", err)
	}
	client := func(id string, scopes ...string) *oauth2.Config {
		ep := provider.Endpoint()
		ep.AuthStyle = oauth2.AuthStyleInParams // a public client: client_id in the body, no secret
		return &oauth2.Config{ClientID: id, Endpoint: ep, RedirectURL: rp.url + "/callback", Scopes: scopes}
	}
	conf := client("stack-rp", oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess)

	// Sign up on the hosted page, the address given as login_hint.
	email := strings.ToLower(testenv.Name("oidc")) + "@example.com"
	first := newAuthorization(t)
	b.navigate(first.url(conf, "login_hint", email))
	b.poll("the hosted sign-in page", hostedReady)
	if h1, want := b.text("h1"), "Sign in to Stack RP"; h1 != want {
		t.Fatalf("the hosted page's heading is %q, want %q", h1, want)
	}
	var prefilled string
	b.eval(`document.querySelector('#signup-email').value`, &prefilled)
	if prefilled != email {
		t.Fatalf("the sign-up email is prefilled with %q, want the login_hint %q", prefilled, email)
	}
	b.signUpHosted(email)
	code := first.callback(t, rp.next(b, "after the sign-up"), origin)
	hostedToken := b.lastBearer() // the hosted page's own access token, sent to authorize/complete

	tok, idt, claims, _ := first.exchange(t, ctx, conf, provider, code)
	if h := jwtHeader(t, tok.Extra("id_token").(string)); h["alg"] != "RS256" {
		t.Fatalf("the ID token is signed %v, want RS256", h["alg"])
	}
	if idt.Issuer != origin || !slices.Equal(idt.Audience, []string{"stack-rp"}) {
		t.Fatalf("the ID token's iss %q aud %v", idt.Issuer, idt.Audience)
	}
	if signedUp := time.Unix(claims.AuthTime, 0); time.Since(signedUp) > time.Minute || time.Until(signedUp) > 5*time.Second {
		t.Fatalf("the ID token's auth_time is %s, not the sign-up a moment ago", signedUp)
	}
	if claims.Email != email || !claims.EmailVerified || len(claims.AMR) == 0 {
		t.Fatalf("the ID token's claims: %+v; want email %q verified and an amr", claims, email)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for a grant with offline_access")
	}
	if tok.AccessToken == hostedToken {
		t.Fatal("the client got the hosted page's own access token")
	}
	// The hosted page's own session, which only completed the request, has ended.
	if status, _, _ := call(t, "GET", g.url+"/v1/me", hostedToken, ""); status != 401 {
		t.Fatalf("the hosted page's access token still answers %d at /v1/me", status)
	}

	// The access token at userinfo (through go-oidc) and behind the authorizer.
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("go-oidc userinfo: %v", err)
	}
	if info.Subject != idt.Subject || info.Email != email || !info.EmailVerified {
		t.Fatalf("userinfo: sub %q email %q verified %v; the ID token's sub is %q", info.Subject, info.Email, info.EmailVerified, idt.Subject)
	}
	if status, ctxt := echo(t, g, "GET", tok.AccessToken); status != 200 || ctxt["sub"] != idt.Subject || ctxt["client_id"] != "stack-rp" {
		t.Fatalf("/local/echo with the client's access token: %d %v", status, ctxt)
	}

	// Refresh (offline_access) through x/oauth2: a new access token and the next refresh token.
	refreshed, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("x/oauth2 refreshed: %v", err)
	}
	if refreshed.AccessToken == "" || refreshed.AccessToken == tok.AccessToken || refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatal("the refresh did not rotate both tokens")
	}
	if status, ctxt := echo(t, g, "GET", refreshed.AccessToken); status != 200 || ctxt["sub"] != idt.Subject || ctxt["client_id"] != "stack-rp" {
		t.Fatalf("/local/echo with the refreshed access token: %d %v", status, ctxt)
	}

	// Nothing the hosted page held is left where a script of the issuer's origin could read it.
	b.navigate(origin + "/health")
	var leftovers string
	b.eval(`document.cookie + ' ' + JSON.stringify(Object.assign({}, localStorage, sessionStorage))`, &leftovers)
	if strings.Contains(leftovers, hostedToken) || strings.Contains(leftovers, "eyJ") || strings.TrimSpace(leftovers) != "{}" {
		t.Fatalf("the issuer's origin holds, readable by script: %q", leftovers)
	}

	// Single sign-on: another client, prompt=none, the same browser: a code at once, with no
	// sign-in page and no passkey used.
	count := b.signCount(auth)
	pages := len(b.answersTo("GET", "/oauth2/signin"))
	second := newAuthorization(t)
	conf2 := client("stack-rp-2", oidc.ScopeOpenID, "email")
	b.navigate(second.url(conf2, "prompt", "none"))
	code = second.callback(t, rp.next(b, "prompt=none with a provider session"), origin)
	if n := len(b.answersTo("GET", "/oauth2/signin")); n != pages {
		t.Fatalf("prompt=none showed the sign-in page (%d times)", n-pages)
	}
	if n := b.signCount(auth); n != count {
		t.Fatalf("prompt=none used the passkey (sign count %d, then %d)", count, n)
	}
	_, idt2, claims2, _ := second.exchange(t, ctx, conf2, provider, code)
	if idt2.Subject != idt.Subject || !slices.Equal(idt2.Audience, []string{"stack-rp-2"}) || claims2.AuthTime != claims.AuthTime {
		t.Fatalf("the single sign-on's ID token: sub %q aud %v auth_time %d; want sub %q, aud stack-rp-2 and the sign-up's auth_time %d",
			idt2.Subject, idt2.Audience, claims2.AuthTime, idt.Subject, claims.AuthTime)
	}

	// prompt=login: the page again, and a fresh passkey sign-in (the button).
	third := newAuthorization(t)
	b.navigate(third.url(conf, "prompt", "login"))
	b.poll("the hosted page for prompt=login", hostedReady)
	b.click("#signin-button")
	code = third.callback(t, rp.next(b, "prompt=login"), origin)
	if n := b.signCount(auth); n <= count {
		t.Fatalf("prompt=login did not use the passkey (sign count %d, then %d)", count, n)
	}
	_, idt3, claims3, rawID := third.exchange(t, ctx, conf, provider, code)
	if idt3.Subject != idt.Subject || claims3.AuthTime < claims.AuthTime {
		t.Fatalf("after prompt=login: sub %q auth_time %d; want sub %q and auth_time at least %d", idt3.Subject, claims3.AuthTime, idt.Subject, claims.AuthTime)
	}

	// RP-initiated logout ends the provider session: back at the post-logout URI with state,
	// and a prompt=none after it answers login_required.
	logoutState := random(t)
	b.navigate(meta.EndSession + "?" + url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {rp.url + "/"}, "state": {logoutState}}.Encode())
	if h := rp.next(b, "after the logout"); h.path != "/" || h.query.Get("state") != logoutState {
		t.Fatalf("the logout came back to %s %v; want / with state %q", h.path, h.query, logoutState)
	}
	after := newAuthorization(t)
	b.navigate(after.url(conf, "prompt", "none"))
	h := rp.next(b, "prompt=none after the logout")
	if h.path != "/callback" || h.query.Get("error") != "login_required" || h.query.Get("state") != after.state || h.query.Get("iss") != origin || h.query.Has("code") {
		t.Fatalf("prompt=none after the logout: %s %v; want error=login_required with state %q and iss %q", h.path, h.query, after.state, origin)
	}
}

// TestOIDCExamplePage drives the example relying party of make dev, /local/rp/ with the
// pinned oidc-client-ts, in Chromium: the button, the hosted page, sign-up, back at
// /local/rp/callback with the ID token's claims shown and a /local/echo call with the access
// token answered for the client; then sign-out through the provider's end-session endpoint
// back to /local/rp/, after which signing in shows the hosted page again.
func TestOIDCExamplePage(t *testing.T) {
	_, origin, b, _ := openProvider(t, func(origin string) string {
		return clientsJSON(t, map[string]any{"id": "local-rp", "name": "Example app", "redirectUris": []string{origin + "/local/rp/callback"},
			"postLogoutRedirectUris": []string{origin + "/local/rp/"}, "scopes": []string{"openid", "email", "profile", "offline_access"}})
	})
	if _, err := os.Stat(oidcClientPath); err != nil {
		t.Fatalf("the example page's oidc-client-ts bundle is missing (%v): run `make test`, whose local/install.sh installs it", err)
	}
	var logoutURL string
	chromedp.ListenTarget(b.ctx, func(ev any) {
		if ev, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(ev.Request.URL, "/oauth2/logout") {
			b.mu.Lock()
			logoutURL = ev.Request.URL
			b.mu.Unlock()
		}
	})
	b.navigate(origin + "/local/rp/")
	b.poll("the example page, signed out", `document.body.dataset.state === 'signed-out'`)
	var version string
	b.eval(`document.body.dataset.library`, &version)
	if want := pinned(t, "OIDC_CLIENT_TS_VERSION"); version != want {
		t.Fatalf("the example page runs oidc-client-ts %q, want %q as versions.env pins", version, want)
	}
	b.click("#signin-button")
	email := strings.ToLower(testenv.Name("rp")) + "@example.com"
	b.poll("the hosted page", hostedReady)
	if h1 := b.text("h1"); h1 != "Sign in to Example app" {
		t.Fatalf("the hosted page's heading is %q", h1)
	}
	b.screenshot("oidc-hosted-page")
	b.signUpHosted(email)
	b.poll("back on the example page, signed in", `location.pathname === '/local/rp/callback' && document.body.dataset.state === 'signed-in'`)
	b.checkPolicy("the example page")
	var search string
	b.eval(`location.search`, &search)
	if search != "" {
		t.Fatalf("the code and state are left in the address: %q", search)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(b.text("#claims")), &claims); err != nil {
		t.Fatalf("the claims shown: %v: %s", err, b.text("#claims"))
	}
	// aud is the client id, as a string or a one-member array (OIDC Core §2 allows either).
	if aud := fmt.Sprint(claims["aud"]); claims["iss"] != origin || (aud != "local-rp" && aud != "[local-rp]") || claims["email"] != email || claims["sub"] == "" {
		t.Fatalf("the claims shown: %v", claims)
	}

	b.click("#echo-button")
	b.poll("the /local/echo answer", `document.body.dataset.echo === '200'`)
	shown := b.text("#echo")
	_, answer, _ := strings.Cut(shown, "\n")
	var echoed struct {
		Authorizer struct {
			Lambda map[string]any `json:"lambda"`
		} `json:"authorizer"`
	}
	if err := json.Unmarshal([]byte(answer), &echoed); err != nil || echoed.Authorizer.Lambda["client_id"] != "local-rp" || echoed.Authorizer.Lambda["sub"] != claims["sub"] {
		t.Fatalf("the /local/echo answer shown: %s (%v)", shown, err)
	}
	b.screenshot("oidc-example-signed-in")

	b.click("#signout-button")
	b.poll("signed out, back on the example page", `location.pathname === '/local/rp/' && location.search === '' && document.body.dataset.state === 'signed-out' && document.querySelector('#message').textContent.includes('Signed out')`)
	b.mu.Lock()
	sent, err := url.Parse(logoutURL)
	b.mu.Unlock()
	if err != nil || sent.Query().Get("id_token_hint") == "" || sent.Query().Get("post_logout_redirect_uri") != origin+"/local/rp/" {
		t.Fatalf("the sign-out went to %q; want the end-session endpoint with id_token_hint and post_logout_redirect_uri", logoutURL)
	}
	// The provider session is over: signing in again shows the hosted page.
	b.click("#signin-button")
	b.poll("the hosted page again, the provider session ended", hostedReady)
}

// TestOIDCHostedPageRecoveryAutofillAndExpiry drives the hosted page's other ways in, each for
// a prompt=login authorization (a provider session would otherwise skip the page): a recovery
// code on a new authenticator, an email recovery that waits out its delay (told on the page),
// the browser's autofill; and a request whose binding cookie the browser lost, which the page
// shows as expired, the client getting nothing.
func TestOIDCHostedPageRecoveryAutofillAndExpiry(t *testing.T) {
	rp := startGoRP(t)
	g, origin, b, auth := openProvider(t, func(string) string {
		return clientsJSON(t, map[string]any{"id": "stack-rp", "name": "Stack RP", "redirectUris": []string{rp.url + "/callback"},
			"scopes": []string{"openid", "email"}})
	}, "LATCHKEY_RECOVERY_DELAY=3s")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, origin)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", origin, err)
	}
	ep := provider.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	conf := &oauth2.Config{ClientID: "stack-rp", Endpoint: ep, RedirectURL: rp.url + "/callback", Scopes: []string{oidc.ScopeOpenID, "email"}}
	// signedInAs checks that the authorization came back with a code for the account sub.
	signedInAs := func(a authorization, what, sub string) {
		t.Helper()
		code := a.callback(t, rp.next(b, what), origin)
		if _, idt, _, _ := a.exchange(t, ctx, conf, provider, code); idt.Subject != sub {
			t.Fatalf("%s signed in as %q, want %q", what, idt.Subject, sub)
		}
	}

	email := strings.ToLower(testenv.Name("oidc-recover")) + "@example.com"
	first := newAuthorization(t)
	b.navigate(first.url(conf))
	b.signUpHosted(email)
	code := first.callback(t, rp.next(b, "after the sign-up"), origin)
	_, idt, _, _ := first.exchange(t, ctx, conf, provider, code)
	sub := idt.Subject
	// Recovery codes, made in a fresh session of the account opened with its passkey (the
	// hosted page's own session ended with the completion).
	_, rt := newStack(t).oldSession(t, sub, apiID(t, b.credentials(auth)[0].CredentialID), 0)
	fresh := refreshAt(t, g, tokens{RefreshToken: rt})["access_token"].(string)
	status, _, made := api(t, "POST", g.url+"/v1/me/recovery-codes", fresh, map[string]any{})
	codes, _ := made["codes"].([]any)
	if status != 201 || len(codes) == 0 {
		t.Fatalf("POST /v1/me/recovery-codes: %d %v", status, made)
	}

	// A recovery code, on a new authenticator.
	auth = b.loseAuthenticator(auth)
	byCode := newAuthorization(t)
	b.navigate(byCode.url(conf, "prompt", "login"))
	b.poll("the hosted page", hostedReady)
	b.click("#recover summary")
	b.fill("#recover-code", codes[0].(string))
	b.click("#recover-code-button")
	signedInAs(byCode, "the recovery with a code", sub)
	if n := len(b.credentials(auth)); n != 1 {
		t.Fatalf("the new authenticator holds %d passkeys after the recovery, want 1", n)
	}

	// An email recovery, on another new authenticator: the page tells the wait, then adds the
	// passkey once it is over.
	auth = b.loseAuthenticator(auth)
	byEmail := newAuthorization(t)
	b.navigate(byEmail.url(conf, "prompt", "login"))
	b.poll("the hosted page", hostedReady)
	b.click("#recover summary")
	b.mailSeen(email)
	b.fill("#recover-email", email)
	b.click("#recover-email-button")
	b.poll("the recovery's code form", `document.body.dataset.recovery === 'code-sent' && !document.querySelector('#main').hasAttribute('aria-busy')`)
	b.fill("#recover-email-code", b.code(email, "recovery code"))
	b.click("#recover-email-verify-button")
	b.poll("the recovery's wait", `document.body.dataset.recovery === 'waiting' && document.querySelector('#recover-enrol-button').disabled`)
	if wait := b.text("#recover-wait-text"); !strings.Contains(wait, "can be added from") || !strings.Contains(wait, "emailed the account") {
		t.Fatalf("the wait is told as %q", wait)
	}
	b.newMail(email, "recovery") // the owner's notice
	b.poll("the recovery ready", `document.body.dataset.recovery === 'ready' && !document.querySelector('#recover-enrol-button').disabled`)
	b.click("#recover-enrol-button")
	signedInAs(byEmail, "the recovery by email", sub)

	// Autofill: the passkey picked from the sign-in field's suggestions.
	var release page.ScriptIdentifier
	b.run("let the autofill request through", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		release, err = page.AddScriptToEvaluateOnNewDocument(`window.__holdConditional = false`).Do(ctx)
		return err
	}))
	byAutofill := newAuthorization(t)
	b.navigate(byAutofill.url(conf, "prompt", "login"))
	signedInAs(byAutofill, "the autofill sign-in", sub)
	b.run("hold autofill requests again", chromedp.ActionFunc(func(ctx context.Context) error {
		return page.RemoveScriptToEvaluateOnNewDocument(release).Do(ctx)
	}))

	// The browser loses its cookies (the binding cookie among them) on the hosted page: the
	// passkey signs in, the request cannot be completed, and the page says so.
	lost := newAuthorization(t)
	b.navigate(lost.url(conf, "prompt", "login"))
	b.poll("the hosted page", hostedReady)
	b.run("clear the browser's cookies", network.ClearBrowserCookies())
	b.click("#signin-button")
	b.poll("the expired request", `document.body.dataset.state === 'expired' && !document.querySelector('#expired').hidden && document.querySelector('#ceremonies').hidden`)
	select {
	case h := <-rp.hits:
		t.Fatalf("the client got %s %v from a request the browser could not complete", h.path, h.query)
	default:
	}
}
