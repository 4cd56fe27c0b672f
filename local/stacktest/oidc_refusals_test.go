package stacktest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey/latchkey/local/testenv"
)

// TestOIDCRefusalsAgainstTheBinaries asks the real binaries what an attacker or a broken client
// would: an unregistered redirect URI (a page, never a redirect), an authorization request
// without PKCE or with plain (an error back to the client), a relying party's access token on
// the account API (every /v1/me route, a passkey ceremony, logout), a code exchanged with a
// wrong verifier, by another client or twice — the second time revoking the tokens the first
// exchange gave, which /local/echo then refuses. The codes come from a relying party
// (x/oauth2 + go-oidc) signed in on the hosted page in Chromium.
func TestOIDCRefusalsAgainstTheBinaries(t *testing.T) {
	rp := startGoRP(t)
	g, origin, b, _ := openProvider(t, func(string) string {
		return clientsJSON(t,
			map[string]any{"id": "stack-rp", "redirectUris": []string{rp.url + "/callback"}, "scopes": []string{"openid", "offline_access"}},
			map[string]any{"id": "stack-rp-2", "redirectUris": []string{rp.url + "/callback"}, "scopes": []string{"openid"}})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, origin)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", origin, err)
	}
	client := func(id string) *oauth2.Config {
		ep := provider.Endpoint()
		ep.AuthStyle = oauth2.AuthStyleInParams
		return &oauth2.Config{ClientID: id, Endpoint: ep, RedirectURL: rp.url + "/callback", Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess}}
	}
	conf := client("stack-rp")

	// Before any sign-in, straight HTTP, no redirect followed.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 20 * time.Second}
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := noFollow.Get(strings.Replace(u, origin, g.url, 1))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	a := newAuthorization(t)
	for name, u := range map[string]string{
		"an unregistered redirect URI":     strings.Replace(a.url(conf), url.QueryEscape(rp.url+"/callback"), url.QueryEscape("https://evil.example/callback"), 1),
		"a redirect URI with a path added": strings.Replace(a.url(conf), url.QueryEscape(rp.url+"/callback"), url.QueryEscape(rp.url+"/callback/x"), 1),
		"an unknown client":                strings.Replace(a.url(conf), "client_id=stack-rp", "client_id=nobody", 1),
	} {
		if resp := get(u); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d Location %q, want a 400 page and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for name, u := range map[string]string{
		"no PKCE":    conf.AuthCodeURL(a.state),
		"plain PKCE": conf.AuthCodeURL(a.state, oauth2.SetAuthURLParam("code_challenge", a.verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")),
	} {
		resp := get(u)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), rp.url+"/callback") ||
			loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != a.state || loc.Query().Get("iss") != origin {
			t.Errorf("%s: %d %q, want error=invalid_request back at the client with state and iss", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// A sign-up, and then codes by single sign-on.
	email := strings.ToLower(testenv.Name("oidc-refuse")) + "@example.com"
	first := newAuthorization(t)
	b.navigate(first.url(conf, "login_hint", email))
	b.signUpHosted(email)
	goodCode := first.callback(t, rp.next(b, "after the sign-up"), origin)
	codeFor := func(c *oauth2.Config) (authorization, string) {
		t.Helper()
		a := newAuthorization(t)
		b.navigate(a.url(c, "prompt", "none"))
		return a, a.callback(t, rp.next(b, "prompt=none"), origin)
	}
	wantInvalidGrant := func(what string, err error) {
		t.Helper()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("%s: %v, want invalid_grant", what, err)
		}
	}

	// A wrong verifier spends the code: the right one fails after it.
	spent, code := codeFor(conf)
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantInvalidGrant("a wrong verifier", err)
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(spent.verifier))
	wantInvalidGrant("the right verifier after a wrong one", err)
	// A code of stack-rp presented by stack-rp-2.
	other, code := codeFor(conf)
	_, err = client("stack-rp-2").Exchange(ctx, code, oauth2.VerifierOption(other.verifier))
	wantInvalidGrant("another client's code", err)

	// The good code, then the same code again: refused, and what the first exchange gave stops.
	tok, err := conf.Exchange(ctx, goodCode, oauth2.VerifierOption(first.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := echo(t, g, "GET", tok.AccessToken); status != http.StatusOK {
		t.Fatalf("/local/echo with a fresh token: %d", status)
	}
	// A relying party's token is for the team's APIs and userinfo: the account API of every
	// function refuses it, fresh sign-in or not.
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/me", ""}, {"GET", "/v1/me/passkeys", ""}, {"GET", "/v1/me/sessions", ""},
		{"DELETE", "/v1/me/sessions", ""}, {"GET", "/v1/me/api-keys", ""}, {"GET", "/v1/me/recovery", ""},
		{"POST", "/v1/me/recovery-codes", "{}"}, {"POST", "/v1/me/api-keys", `{"name":"stolen"}`},
		{"POST", "/v1/passkeys/register/begin", "{}"}, {"POST", "/v1/passkeys/login/begin", "{}"}, {"POST", "/v1/logout", ""},
	} {
		ctype := ""
		if r.body != "" {
			ctype = "application/json"
		}
		status, hdr, body := send(t, r.method, g.url+r.path, tok.AccessToken, ctype, strings.NewReader(r.body))
		// login/begin with a Bearer is a re-authentication: refused as well.
		if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s %s with a relying party's token: %d %s, want 401 invalid_token", r.method, r.path, status, body)
		}
	}
	_, err = conf.Exchange(ctx, goodCode, oauth2.VerifierOption(first.verifier))
	wantInvalidGrant("a reused code", err)
	if status, _ := echo(t, g, "GET", tok.AccessToken); status == http.StatusOK {
		t.Error("the access token of a reused code still passes the authorizer")
	}
	_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	wantInvalidGrant("the refresh token of a reused code", err)
}
