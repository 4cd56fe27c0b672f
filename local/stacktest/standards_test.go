package stacktest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/local/testenv"
)

// startAtOrigin starts a gateway on the shared stack that issues tokens for
// http://localhost:<its port>, the origin a page it serves runs on (as make dev issues them for
// http://localhost:3000), with extra environment. It returns the gateway and that origin.
func (s *stack) startAtOrigin(t *testing.T, extra ...string) (*gateway, string) {
	t.Helper()
	addr := freeAddr(t)
	origin := "http://localhost:" + addr[strings.LastIndex(addr, ":")+1:]
	g := s.startGatewayAt(t, addr, append([]string{"LATCHKEY_ISSUER=" + origin}, extra...)...)
	g.keepLogOnFailure(t)
	return g, origin
}

// get fetches u and returns its status, headers and body.
func get(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	return call(t, "GET", u, "", "")
}

// tool is the path of an installed test tool under local/.tools; the test fails when it is
// missing, since local/install.sh (run by make test) installs it.
func tool(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(root, "local", ".tools", rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (%v): run local/install.sh", rel, err)
	}
	return p
}

// TestMetadataPassesAuthlib: the real wellknown binary serves one document at both well-known
// paths, and Authlib accepts the whole of it, member by member and as a whole, under both of
// its validators: RFC 8414's AuthorizationServerMetadata and OpenID Connect Discovery's
// OpenIDProviderMetadata with the RP-Initiated Logout metadata. No complaint is pinned: any
// one fails the test.
func TestMetadataPassesAuthlib(t *testing.T) {
	s := newStack(t)
	g, origin := s.startAtOrigin(t)
	python := tool(t, "venv/bin/python")
	status, _, doc := get(t, g.url+"/.well-known/oauth-authorization-server")
	status2, _, doc2 := get(t, g.url+"/.well-known/openid-configuration")
	if status != 200 || status2 != 200 || !bytes.Equal(doc, doc2) {
		t.Fatalf("oauth-authorization-server %d %s\nopenid-configuration %d %s", status, doc, status2, doc2)
	}
	var meta map[string]any
	if err := json.Unmarshal(doc, &meta); err != nil {
		t.Fatal(err)
	}
	if meta["issuer"] != origin {
		t.Fatalf("issuer %v, want the page's origin %s", meta["issuer"], origin)
	}
	for k, v := range meta {
		if strings.HasSuffix(k, "_endpoint") || k == "jwks_uri" {
			if s, _ := v.(string); !strings.HasPrefix(s, origin+"/") {
				t.Errorf("%s = %v is not under the issuer", k, v)
			}
		}
	}
	cmd := exec.Command(python, filepath.Join("testdata", "authlib_metadata.py"))
	cmd.Stdin = bytes.NewReader(doc)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("authlib: %v %s (is authlib installed? run local/install.sh)", err, stderrOf(err))
	}
	type verdict struct {
		Validate *string            `json:"validate"`
		Checks   map[string]*string `json:"checks"`
	}
	var verdicts map[string]verdict
	if err := json.Unmarshal(out, &verdicts); err != nil {
		t.Fatalf("authlib printed %s (%v)", out, err)
	}
	for name, least := range map[string]int{"rfc8414": 20, "oidc": 30} {
		v, ok := verdicts[name]
		if !ok || len(v.Checks) < least {
			t.Fatalf("authlib's %s validator checked %d members (want %d or more): %s", name, len(v.Checks), least, out)
		}
		for key, msg := range v.Checks {
			if msg != nil {
				t.Errorf("Authlib's %s validator refuses %s = %v: %s", name, key, meta[key], *msg)
			}
		}
		if v.Validate != nil {
			t.Errorf("Authlib's %s validate() = %s", name, *v.Validate)
		}
		// The members that make it an OpenID provider were checked, not skipped.
		for _, key := range []string{"authorization_endpoint", "response_types_supported", "jwks_uri"} {
			if _, checked := v.Checks[key]; !checked {
				t.Errorf("Authlib's %s validator did not check %s", name, key)
			}
		}
	}
	for _, key := range []string{"subject_types_supported", "id_token_signing_alg_values_supported", "end_session_endpoint", "claims_supported"} {
		if _, checked := verdicts["oidc"].Checks[key]; !checked || meta[key] == nil {
			t.Errorf("%s: checked by Authlib %v, served %v", key, checked, meta[key])
		}
	}
}

// TestProviderDiscoveredByGoOIDC: go-oidc discovers the OpenID provider the real wellknown
// binary describes (issuer, endpoints, RS256 ID tokens); go-jose reads both keys of the JWKS it
// serves, the ES256 access-token key and the RS256 ID-token key, each kid its RFC 7638
// thumbprint; and go-oidc's default verifier, configured only by that discovery, accepts an ID
// token signed in KMS by the deployment's ID-token key and refuses one signed by the
// access-token key, which the JWKS publishes too.
func TestProviderDiscoveredByGoOIDC(t *testing.T) {
	s := newStack(t)
	g, origin := s.startAtOrigin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, origin)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", origin, err)
	}
	if e := provider.Endpoint(); e.AuthURL != origin+"/oauth2/authorize" || e.TokenURL != origin+"/v1/token" {
		t.Errorf("endpoints %+v", e)
	}
	if u := provider.UserInfoEndpoint(); u != origin+"/oauth2/userinfo" {
		t.Errorf("userinfo endpoint %q", u)
	}
	var disc struct {
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		EndSession string   `json:"end_session_endpoint"`
		PKCE       []string `json:"code_challenge_methods_supported"`
	}
	if err := provider.Claims(&disc); err != nil || !slices.Equal(disc.Algs, []string{"RS256"}) || disc.EndSession != origin+"/oauth2/logout" || !slices.Equal(disc.PKCE, []string{"S256"}) {
		t.Errorf("discovery %+v (%v)", disc, err)
	}

	status, _, body := get(t, g.url+"/.well-known/jwks.json")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); status != 200 || err != nil || len(set.Keys) != 2 {
		t.Fatalf("go-jose reads %d %s as %d keys (%v)", status, body, len(set.Keys), err)
	}
	for i, want := range []struct{ alg, kty string }{{"ES256", "EC"}, {"RS256", "RSA"}} {
		k := set.Keys[i]
		switch k.Key.(type) {
		case *ecdsa.PublicKey:
			if want.kty != "EC" {
				t.Errorf("key %d is EC, want %s", i, want.kty)
			}
		case *rsa.PublicKey:
			if want.kty != "RSA" || k.Key.(*rsa.PublicKey).N.BitLen() < 2048 {
				t.Errorf("key %d is RSA of %d bits, want %s", i, k.Key.(*rsa.PublicKey).N.BitLen(), want.kty)
			}
		default:
			t.Errorf("key %d is a %T", i, k.Key)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil || base64.RawURLEncoding.EncodeToString(tp) != k.KeyID || k.Algorithm != want.alg || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
			t.Errorf("key %d: alg %s use %s kid %s thumbprint %x (%v)", i, k.Algorithm, k.Use, k.KeyID, tp, err)
		}
	}

	api := testenv.KMS(t)
	claims := map[string]any{"iss": origin, "aud": "local-rp", "sub": "user-1", "nonce": "n-1",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix()}
	signed := func(alg, kid string, sign func(context.Context, []byte) ([]byte, error)) string {
		t.Helper()
		enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
		input := enc(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"}) + "." + enc(claims)
		sig, err := sign(ctx, []byte(input))
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	ids := kmssign.NewIDSigner(api, strings.Split(s.getenv("LATCHKEY_ID_TOKEN_KEYS"), ","))
	access := kmssign.New(api, strings.Split(s.getenv("LATCHKEY_SIGNING_KEYS"), ","))
	verifier := provider.Verifier(&oidc.Config{ClientID: "local-rp"})
	tok, err := verifier.Verify(ctx, signed("RS256", set.Keys[1].KeyID, ids.SignRS256))
	if err != nil {
		t.Fatalf("go-oidc refused an ID token of the deployment's ID-token key: %v", err)
	}
	var got struct {
		Nonce string `json:"nonce"`
	}
	if err := tok.Claims(&got); err != nil || tok.Subject != "user-1" || got.Nonce != "n-1" || !slices.Equal(tok.Audience, []string{"local-rp"}) {
		t.Errorf("ID token %+v nonce %q (%v)", tok, got.Nonce, err)
	}
	if _, err := verifier.Verify(ctx, signed("ES256", set.Keys[0].KeyID, access.Sign)); err == nil {
		t.Error("go-oidc accepted an ES256 token of the access-token key as an ID token")
	}
}

// refreshAt exchanges tk's refresh token on g, so the access token is minted by g's sessions
// function (with g's issuer), and returns the token response.
func refreshAt(t *testing.T, g *gateway, tk tokens) map[string]any {
	t.Helper()
	status, _, body := call(t, "POST", g.url+"/v1/token", "", "grant_type=refresh_token&refresh_token="+url.QueryEscape(tk.RefreshToken))
	var tr map[string]any
	if status != 200 || json.Unmarshal(body, &tr) != nil || tr["access_token"] == nil {
		t.Fatalf("refresh: %d %s", status, body)
	}
	return tr
}

// TestAccessTokensVerifyWithJoseAndGoOIDC: an access token from the real binaries verifies in
// two independent libraries configured with the page's origin as issuer: node's jose
// (jwtVerify against the stack's JWKS with createRemoteJWKSet, typ at+jwt, client_id required)
// and go-oidc (the provider discovered at the issuer, its remote key set), with client_id the
// configured public client.
func TestAccessTokensVerifyWithJoseAndGoOIDC(t *testing.T) {
	s := newStack(t)
	g, origin := s.startAtOrigin(t)
	node := "node"
	if _, err := exec.LookPath(node); err != nil {
		t.Fatal("node is not installed")
	}
	tool(t, "node/node_modules/jose/package.json")
	at := refreshAt(t, g, s.devToken(t))["access_token"].(string)
	audience := s.getenv("LATCHKEY_AUDIENCE")

	script, err := os.ReadFile(filepath.Join("testdata", "jose_verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	jose := func(token string) ([]byte, error) {
		// Evaluated as a module from the tools' node prefix, where import 'jose' resolves.
		cmd := exec.Command(node, "--input-type=module", "-e", string(script))
		cmd.Dir = filepath.Join(root, "local", ".tools", "node")
		cmd.Env = append(os.Environ(), "JWKS_URL="+origin+"/.well-known/jwks.json", "ISSUER="+origin, "AUDIENCE="+audience, "TOKEN="+token)
		return cmd.Output()
	}
	out, err := jose(at)
	if err != nil {
		t.Fatalf("jose refused the token: %v %s", err, stderrOf(err))
	}
	var verified struct {
		Payload map[string]any `json:"payload"`
		Header  map[string]any `json:"protectedHeader"`
	}
	if err := json.Unmarshal(out, &verified); err != nil || verified.Payload["client_id"] != "latchkey" || verified.Header["typ"] != "at+jwt" {
		t.Fatalf("jose verified %s (%v)", out, err)
	}
	// The same verifier refuses a token of another issuer: it is checking, not just decoding.
	if out, err := jose(s.devToken(t).AccessToken); err == nil {
		t.Fatalf("jose accepted a token of issuer %s for %s: %s", s.getenv("LATCHKEY_ISSUER"), origin, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, origin)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", origin, err)
	}
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&disc); err != nil || disc.JWKSURI != origin+"/.well-known/jwks.json" {
		t.Fatalf("discovery jwks_uri %q (%v)", disc.JWKSURI, err)
	}
	// go-oidc verifies ID tokens, whose aud is the client id; an access token's aud is the API,
	// so the client id check is skipped here and aud and client_id are checked below.
	v := oidc.NewVerifier(origin, oidc.NewRemoteKeySet(ctx, disc.JWKSURI), &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{oidc.ES256}})
	tok, err := v.Verify(ctx, at)
	if err != nil {
		t.Fatalf("go-oidc refused the token: %v", err)
	}
	var claims struct {
		ClientID string `json:"client_id"`
	}
	if err := tok.Claims(&claims); err != nil || claims.ClientID != "latchkey" || !slices.Contains(tok.Audience, audience) || tok.Expiry.Before(time.Now()) {
		t.Fatalf("go-oidc: client_id %q aud %v exp %s (%v)", claims.ClientID, tok.Audience, tok.Expiry, err)
	}
	if _, err := v.Verify(ctx, s.devToken(t).AccessToken); err == nil {
		t.Fatal("go-oidc accepted a token of another issuer")
	}
}

// TestCORSFromAnotherLocalOrigin: a developer's app on another allowed local origin (a Vite app
// on http://localhost:5173) gets the preflight and response headers of the HTTP API's CORS
// configuration from the real gateway; an origin not allowed gets no CORS header at all.
func TestCORSFromAnotherLocalOrigin(t *testing.T) {
	s := newStack(t)
	const app = "http://localhost:5173"
	g, origin := s.startAtOrigin(t, "LATCHKEY_RP_ORIGINS="+"http://localhost:3000,"+app)
	_ = origin
	do := func(method, path, from string, preflight bool) (int, http.Header) {
		t.Helper()
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("grant_type=refresh_token&refresh_token=x")
		}
		req, err := http.NewRequest(method, g.url+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", from)
		if preflight {
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		}
		if method == "POST" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	status, h := do("OPTIONS", "/v1/token", app, true)
	if status != 204 || h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Methods") != "GET,POST,PATCH,DELETE" ||
		h.Get("Access-Control-Allow-Headers") != "authorization,content-type" || h.Get("Access-Control-Max-Age") != "3600" {
		t.Fatalf("preflight from %s: %d %v", app, status, h)
	}
	status, h = do("POST", "/v1/token", app, false)
	if status != 400 || h.Get("Access-Control-Allow-Origin") != app || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "www-authenticate") {
		t.Fatalf("token request from %s: %d %v", app, status, h)
	}
	for _, preflight := range []bool{true, false} {
		method := map[bool]string{true: "OPTIONS", false: "POST"}[preflight]
		_, h := do(method, "/v1/token", "http://localhost:8080", preflight)
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Fatalf("%s from an origin not allowed carries %s: %v", method, k, h)
			}
		}
	}
}
