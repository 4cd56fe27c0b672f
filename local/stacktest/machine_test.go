package stacktest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/local/testenv"
)

// echoPolicy is the route policy the machine tests run the authorizer with: GET /local/echo
// needs echo:read, POST /local/echo is unlisted.
const echoPolicy = `LATCHKEY_ROUTE_SCOPES={"GET /local/echo":["echo:read"]}`

// clientToken asks g for a client_credentials token with HTTP Basic (id and secret
// form-urlencoded, RFC 6749 §2.3.1) and extra form parameters, and returns status, headers and
// the decoded body.
func clientToken(t *testing.T, g *gateway, id, secret, form string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", g.url+"/v1/token", strings.NewReader("grant_type=client_credentials"+form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

// echo calls /local/echo on g with method and token, and returns the status and the
// authorizer's context (nil unless 200).
func echo(t *testing.T, g *gateway, method, token string) (int, map[string]any) {
	t.Helper()
	status, _, b := call(t, method, g.url+"/local/echo", token, "")
	var body struct {
		Authorizer struct {
			Lambda map[string]any `json:"lambda"`
		} `json:"authorizer"`
	}
	if status == 200 {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("echo: %s", b)
		}
	}
	return status, body.Authorizer.Lambda
}

// TestMachineClientCredentials: the real binaries behind two gateways issue a machine token
// for a good secret and answer RFC 6749 errors for each refusal; the token passes the
// authorizer at /local/echo with the machine's context, the route policy holds there for it
// and for a user's token, it is refused on the user routes, and once revoked on one gateway
// it is refused on both at the next request; a gateway whose configuration no longer declares
// the client refuses its tokens.
func TestMachineClientCredentials(t *testing.T) {
	s := newStack(t)
	g1, g2 := s.startGateway(t, echoPolicy), s.startGateway(t, echoPolicy)
	g1.keepLogOnFailure(t)
	secret := s.machine["local-ci"]

	status, h, body := clientToken(t, g1, "local-ci", secret, "")
	if status != 200 || h.Get("Cache-Control") != "no-store" || body["token_type"] != "Bearer" || body["scope"] != "echo:read" ||
		body["refresh_token"] != nil || body["session_id"] != nil || body["expires_in"] != 600.0 {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	at := body["access_token"].(string)
	// The same grant with client_secret_post.
	status, _, b := call(t, "POST", g2.url+"/v1/token", "", "grant_type=client_credentials&client_id=local-ci&client_secret="+url.QueryEscape(secret))
	if status != 200 {
		t.Fatalf("client_secret_post: %d %s", status, b)
	}

	for _, c := range []struct {
		name, id, secret, form string
		status                 int
		code                   string
	}{
		{"wrong secret", "local-ci", "wrong", "", 401, "invalid_client"},
		{"unknown client", "nobody", secret, "", 401, "invalid_client"},
		{"no client authentication", "", "", "", 401, "invalid_client"},
		{"the public client", "latchkey", "", "", 400, "unauthorized_client"},
		{"a disabled client", "stopped", s.machine["stopped"], "", 400, "unauthorized_client"},
		{"a scope beyond the client's", "local-ci", secret, "&scope=echo:write", 400, "invalid_scope"},
		{"Basic and client_secret", "local-ci", secret, "&client_secret=" + url.QueryEscape(secret), 400, "invalid_request"},
	} {
		status, h, body := clientToken(t, g1, c.id, c.secret, c.form)
		if status != c.status || body["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body, c.status, c.code)
		}
		if status == 401 && h.Get("WWW-Authenticate") != `Basic realm="latchkey"` {
			t.Errorf("%s: WWW-Authenticate %q", c.name, h.Get("WWW-Authenticate"))
		}
	}

	// Behind the authorizer, on both gateways.
	for _, g := range []*gateway{g1, g2} {
		status, ctx := echo(t, g, "GET", at)
		if status != 200 || ctx["sub"] != "local-ci" || ctx["client_id"] != "local-ci" || ctx["sid"] != "" ||
			ctx["scope"] != "echo:read" || ctx["credential"] != "access_token" || ctx["jti"] == "" {
			t.Fatalf("machine token at /local/echo: %d %v", status, ctx)
		}
	}
	// The route policy: a user's token lacks echo:read, so GET is denied and the unlisted POST
	// is not.
	user := s.devToken(t).AccessToken
	if status, _ := echo(t, g1, "GET", user); status != 403 {
		t.Errorf("a user's token without echo:read at GET /local/echo: %d, want 403", status)
	}
	if status, ctx := echo(t, g1, "POST", user); status != 200 || ctx["sid"] == "" {
		t.Errorf("a user's token at the unlisted POST /local/echo: %d %v", status, ctx)
	}
	// A machine client is no user.
	if status, _, b := call(t, "GET", g1.url+"/v1/me/sessions", at, ""); status != 401 {
		t.Errorf("machine token at /v1/me/sessions: %d %s", status, b)
	}
	if status, _, b := call(t, "GET", g1.url+"/v1/me", at, ""); status != 401 {
		t.Errorf("machine token at /v1/me: %d %s", status, b)
	}

	// A gateway whose configuration no longer declares local-ci refuses its tokens.
	g3 := s.startGateway(t, echoPolicy, `LATCHKEY_MACHINE_CLIENTS=[{"id":"rotating","scopes":["echo:read"]}]`)
	if status, _ := echo(t, g3, "GET", at); status != 403 {
		t.Errorf("a removed client's token: %d, want 403", status)
	}

	// RFC 7009 revocation on one gateway: both refuse it at the next request.
	if status, _, b := call(t, "POST", g2.url+"/v1/revoke", "", "token="+url.QueryEscape(at)+"&token_type_hint=access_token"); status != 200 {
		t.Fatalf("revoke: %d %s", status, b)
	}
	for i, g := range []*gateway{g1, g2} {
		if status, _ := echo(t, g, "GET", at); status != 403 {
			t.Errorf("gateway %d: a revoked machine token at /local/echo: %d, want 403", i+1, status)
		}
	}
}

// TestMachineSecretRotation: with the sessions function reading the machine clients' secret on
// every request (LATCHKEY_MACHINE_SECRET_MAX_AGE=0), the documented rotation through the real
// binary: the old secret works, then both while the next is added, then only the new one once
// it is promoted.
func TestMachineSecretRotation(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, "LATCHKEY_MACHINE_SECRET_MAX_AGE=0")
	g.keepLogOnFailure(t)
	api := testenv.SecretsManager(t)
	ctx := context.Background()
	id := s.getenv("LATCHKEY_MACHINE_SECRET_ID")
	edit := func(step func(secrets.MachineLayout) string) string {
		t.Helper()
		out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := secrets.ParseMachineLayout([]byte(aws.ToString(out.SecretString)))
		if err != nil {
			t.Fatal(err)
		}
		give := step(l)
		if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(string(l.Marshal()))}); err != nil {
			t.Fatal(err)
		}
		return give
	}
	works := func(secret string) bool {
		t.Helper()
		status, _, body := clientToken(t, g, "rotating", secret, "&scope=echo:write")
		if status != 200 && body["error"] != "invalid_client" {
			t.Fatalf("%d %v", status, body)
		}
		return status == 200
	}
	old := s.machine["rotating"]
	if !works(old) {
		t.Fatal("the current secret does not work")
	}
	next := edit(func(l secrets.MachineLayout) string { n, _ := l.Rotate("rotating"); return n })
	if !works(old) || !works(next) {
		t.Fatal("during the rotation: want both secrets to work")
	}
	edit(func(l secrets.MachineLayout) string { _ = l.Promote("rotating"); return "" })
	if works(old) || !works(next) {
		t.Fatal("after the promotion: want only the new secret")
	}
	s.machine["rotating"] = next
}

// TestMachineTokenVerifiesWithJose: a machine token from the real binaries verifies in node's
// jose against the served JWKS as a resource server would (ES256, typ at+jwt, issuer,
// audience, the RFC 9068 claims), with sub and client_id the client and no sid.
func TestMachineTokenVerifiesWithJose(t *testing.T) {
	s := newStack(t)
	g, origin := s.startAtOrigin(t)
	tool(t, "node/node_modules/jose/package.json")
	status, _, body := clientToken(t, g, "local-ci", s.machine["local-ci"], "")
	if status != 200 {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "jose_verify.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "--input-type=module", "-e", string(script))
	cmd.Dir = filepath.Join(root, "local", ".tools", "node")
	cmd.Env = append(os.Environ(), "JWKS_URL="+origin+"/.well-known/jwks.json", "ISSUER="+origin,
		"AUDIENCE="+s.getenv("LATCHKEY_AUDIENCE"), "TOKEN="+body["access_token"].(string))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jose refused the machine token: %v %s", err, stderrOf(err))
	}
	var verified struct {
		Payload map[string]any `json:"payload"`
		Header  map[string]any `json:"protectedHeader"`
	}
	if err := json.Unmarshal(out, &verified); err != nil {
		t.Fatal(err)
	}
	p := verified.Payload
	if p["sub"] != "local-ci" || p["client_id"] != "local-ci" || p["scope"] != "echo:read" || p["sid"] != nil || p["auth_time"] != nil || verified.Header["typ"] != "at+jwt" {
		t.Fatalf("jose verified %s", out)
	}
}
