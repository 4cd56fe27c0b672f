package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
)

const webSecret = "Zm9yIHRlc3RzIG9ubHk6IGEgc2VjcmV0IG9mIHRoZSB3ZWIgY2xpZW50"

// codeFixture is the handler fixture with two OpenID clients: spa (public) and web
// (confidential, its secret beside the machine clients').
func codeFixture(t *testing.T) (*fixture, *handler) {
	t.Helper()
	f := newFixture(t)
	clients, err := oidc.ParseClients(`[{"id":"spa","redirectUris":["https://spa.example/cb"],"scopes":["openid","offline_access"]},
		{"id":"web","confidential":true,"redirectUris":["https://web.example/cb"],"scopes":["openid"]}]`, coretest.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	f.machines.Secrets = staticSecrets{"ci": {core.HashSecret(ciSecret)}, "web": {core.HashSecret(webSecret)}}
	h := &handler{
		sessions: f.sessions, machines: f.machines, verifier: f.sessions.Verifier, clientID: coretest.ClientID, log: f.sessions.Audit,
		relyingParties: clients,
		exchanger: &oidc.Exchanger{
			Store: f.mem, Sessions: f.sessions, Limiter: f.sessions.Limiter, Audit: f.sessions.Audit, Now: f.clock.Now,
			IDTokens:  &oidc.IDMinter{Signer: rsaSigner(t), Issuer: f.sessions.Minter.Issuer, TTL: time.Minute},
			TokenByIP: f.sessions.TokenByIP,
		},
	}
	f.serve = apigw.Serve(f.sessions.Audit, func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }, h.Handle)
	return f, h
}

// newCode stores a code of client for the fixture's user and returns it with its verifier.
func newCode(t *testing.T, f *fixture, client, redirect, scope string) (code, verifier string) {
	t.Helper()
	b := make([]byte, 64)
	rand.Read(b)
	code, verifier = base64.RawURLEncoding.EncodeToString(b[:32]), base64.RawURLEncoding.EncodeToString(b[32:])
	sum := sha256.Sum256([]byte(verifier))
	err := f.mem.PutCode(context.Background(), oidc.Code{
		Hash: oidc.HashOf(code), ClientID: client, RedirectURI: redirect, Scope: scope,
		CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), UserID: f.user.ID, AuthTime: f.clock.Now(),
		AMR: []string{"hwk"}, SessionID: core.NewID(), ExpiresAt: f.clock.Now().Add(oidc.CodeTTL),
	})
	if err != nil {
		t.Fatal(err)
	}
	return code, verifier
}

// tokenRequest is a POST /v1/token with form and, when basic is set, HTTP Basic.
func tokenRequest(t *testing.T, form url.Values, basic string) apigw.Request {
	req := apigwtest.Event(t, "sessions", "token-form", map[string]string{"refresh_token": "x"})
	req.Body = form.Encode()
	if basic != "" {
		req.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(basic))
	}
	return req
}

// TestAuthorizationCodeGrant: the exchange at /v1/token for a public and a confidential
// client, and the client authentication each must (and must not) bring.
func TestAuthorizationCodeGrant(t *testing.T) {
	f, _ := codeFixture(t)
	grant := func(client, code, verifier, redirect string) url.Values {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
		if client != "" {
			v.Set("client_id", client)
		}
		return v
	}
	// A public client: no secret; its tokens and an ID token, a refresh token with offline_access.
	code, verifier := newCode(t, f, "spa", "https://spa.example/cb", "openid offline_access")
	resp := f.do(t, tokenRequest(t, grant("spa", code, verifier, "https://spa.example/cb"), ""))
	body := decode(t, resp)
	if resp.StatusCode != 200 || resp.Headers["Cache-Control"] != "no-store" || body["id_token"] == nil || body["refresh_token"] == nil || body["scope"] != "openid offline_access" {
		t.Fatalf("public exchange: %d %v", resp.StatusCode, body)
	}
	// Its refresh token refreshes for spa only.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}
	if resp := f.do(t, tokenRequest(t, refresh, "")); resp.StatusCode != 400 || decode(t, resp)["error"] != "invalid_grant" {
		t.Errorf("an RP's refresh token without its client_id: %d %s", resp.StatusCode, resp.Body)
	}
	refresh.Set("client_id", "spa")
	if resp := f.do(t, tokenRequest(t, refresh, "")); resp.StatusCode != 200 {
		t.Errorf("refresh by spa: %d %s", resp.StatusCode, resp.Body)
	}

	for name, c := range map[string]struct {
		form   url.Values
		basic  string
		status int
		error  string
	}{
		"public with a secret":        {func() url.Values { g := grant("spa", "c", "v", "x"); g.Set("client_secret", "s"); return g }(), "", 401, "invalid_client"},
		"confidential without secret": {grant("web", "c", "v", "x"), "", 401, "invalid_client"},
		"confidential wrong secret":   {grant("", "c", "v", "x"), "web:wrong", 401, "invalid_client"},
		"unknown client":              {grant("nobody", "c", "v", "x"), "", 401, "invalid_client"},
		"first-party client":          {grant("", "c", "v", "x"), "", 400, "unauthorized_client"},
		"missing verifier":            {grant("spa", "c", "", "https://spa.example/cb"), "", 400, "invalid_request"},
	} {
		resp := f.do(t, tokenRequest(t, c.form, c.basic))
		if resp.StatusCode != c.status || decode(t, resp)["error"] != c.error {
			t.Errorf("%s: %d %s, want %d %s", name, resp.StatusCode, resp.Body, c.status, c.error)
		}
	}

	// A confidential client with its secret, by HTTP Basic.
	code, verifier = newCode(t, f, "web", "https://web.example/cb", "openid")
	resp = f.do(t, tokenRequest(t, grant("", code, verifier, "https://web.example/cb"), "web:"+webSecret))
	if body := decode(t, resp); resp.StatusCode != 200 || body["refresh_token"] != nil || body["id_token"] == nil {
		t.Fatalf("confidential exchange: %d %v", resp.StatusCode, body)
	}
	// The same code again: invalid_grant, and the tokens it gave stop.
	resp = f.do(t, tokenRequest(t, grant("", code, verifier, "https://web.example/cb"), "web:"+webSecret))
	if resp.StatusCode != 400 || decode(t, resp)["error"] != "invalid_grant" || !strings.Contains(f.logs.String(), "oidc.code_reused") {
		t.Fatalf("reused code: %d %s", resp.StatusCode, resp.Body)
	}
}

// localRSA is an IDSigner over an RSA key in memory: the HSM's stand-in in handler tests.
type localRSA struct{ key *rsa.PrivateKey }

func (s localRSA) IDKeys(context.Context) ([]core.RSAPublicKey, error) {
	return []core.RSAPublicKey{{ID: "test", Key: &s.key.PublicKey}}, nil
}

func (s localRSA) SignRS256(_ context.Context, input []byte) ([]byte, error) {
	sum := sha256.Sum256(input)
	return rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
}

func rsaSigner(t *testing.T) localRSA {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return localRSA{k}
}
