package stacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
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

// TestMetadataPassesAuthlib: the real wellknown binary serves one RFC 8414 document at both
// well-known paths, and Authlib's validator accepts every member of it but one:
// response_types_supported is the empty array, the honest answer of a server without an
// authorization endpoint, which Authlib reads as missing. The test pins exactly that verdict,
// so any other complaint, or a value that claims a response type, fails it.
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
	var verdict struct {
		Validate *string            `json:"validate"`
		Checks   map[string]*string `json:"checks"`
	}
	if err := json.Unmarshal(out, &verdict); err != nil || len(verdict.Checks) < 20 {
		t.Fatalf("authlib printed %s (%v)", out, err)
	}
	const honest = `"response_types_supported" is required`
	for key, msg := range verdict.Checks {
		switch {
		case key == "response_types_supported":
			if msg == nil || *msg != honest || !reflect.DeepEqual(meta[key], []any{}) {
				t.Errorf("response_types_supported = %v, Authlib says %v; want [] and %q", meta[key], msg, honest)
			}
		case msg != nil:
			t.Errorf("Authlib refuses %s: %s", key, *msg)
		}
	}
	if verdict.Validate == nil || *verdict.Validate != honest {
		t.Errorf("Authlib's validate() = %v, want only %q", verdict.Validate, honest)
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
