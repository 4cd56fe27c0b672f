package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/local/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fixedKeys is a key source with one key read from testdata, so golden files are stable.
type fixedKeys struct {
	keys []core.PublicKey
	err  error
}

func (f fixedKeys) PublicKeys(context.Context) ([]core.PublicKey, error) { return f.keys, f.err }

// fixedIDKeys is an ID-token key source with fixed keys.
type fixedIDKeys struct {
	keys []core.RSAPublicKey
	err  error
}

func (f fixedIDKeys) IDKeys(context.Context) ([]core.RSAPublicKey, error) { return f.keys, f.err }

// testIDKey is the RSA ID-token key of testdata (its public half only).
func testIDKey(t *testing.T) core.RSAPublicKey {
	t.Helper()
	b, err := os.ReadFile("testdata/id-token-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := core.NewRSAPublicKey(pub.(*rsa.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testKey(t *testing.T) core.PublicKey {
	t.Helper()
	b, err := os.ReadFile("testdata/signing-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := core.NewPublicKey(&priv.(*ecdsa.PrivateKey).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func event(t *testing.T, name string) apigw.Request {
	return apigwtest.Event(t, "wellknown", name, nil)
}

// serveWith is the handler over the access-token keys and checks (and no ID-token key), served
// as the Lambda serves it.
func serveWith(keys keySource, checks ...check) func(context.Context, apigw.Request) (apigw.Response, error) {
	return serve(testHandler(keys, fixedIDKeys{}, checks...))
}

// serveAt is serveWith on the clock now.
func serveAt(now func() time.Time, keys keySource, checks ...check) func(context.Context, apigw.Request) (apigw.Response, error) {
	h := testHandler(keys, fixedIDKeys{}, checks...)
	h.now = now
	return serve(h)
}

// testHandler is the handler of issuer https://auth.example.com over keys, idKeys and checks.
func testHandler(keys keySource, idKeys idKeySource, checks ...check) *handler {
	return &handler{issuer: "https://auth.example.com", version: "test", keys: keys, idKeys: idKeys, checks: checks,
		log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), now: time.Now}
}

// serve serves h as the Lambda does.
func serve(h *handler) func(context.Context, apigw.Request) (apigw.Response, error) {
	return apigw.Serve(h.log, boot.Deadline, h.Handle)
}

func golden(t *testing.T, name string, resp apigw.Response) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(resp.Body), "", "  "); err != nil {
		t.Fatalf("body is not JSON: %q", resp.Body)
	}
	got := append(pretty.Bytes(), '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: body differs from golden\n got: %s\nwant: %s", name, got, want)
	}
}

func TestRoutesGolden(t *testing.T) {
	ok := check{name: "dynamodb", ping: func(context.Context) error { return nil }}
	h := serve(testHandler(fixedKeys{keys: []core.PublicKey{testKey(t)}}, fixedIDKeys{keys: []core.RSAPublicKey{testIDKey(t)}},
		ok, check{name: "kms", ping: func(context.Context) error { return nil }}))
	for _, c := range []struct {
		event  string
		status int
		ctype  string
	}{
		{"jwks", 200, "application/jwk-set+json"},
		{"discovery", 200, "application/json"},
		{"health", 200, "application/json"},
		{"ready", 200, "application/json"},
	} {
		t.Run(c.event, func(t *testing.T) {
			resp, err := h(context.Background(), event(t, c.event))
			if err != nil || resp.StatusCode != c.status || resp.Headers["Content-Type"] != c.ctype {
				t.Fatalf("status %d type %q err %v body %s", resp.StatusCode, resp.Headers["Content-Type"], err, resp.Body)
			}
			golden(t, c.event, resp)
		})
	}
}

func TestUnknownRouteIs404Problem(t *testing.T) {
	req := event(t, "health")
	req.RouteKey, req.RawPath = "GET /nope", "/nope"
	resp, _ := serveWith(fixedKeys{})(context.Background(), req)
	if resp.StatusCode != 404 || resp.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("status %d type %q", resp.StatusCode, resp.Headers["Content-Type"])
	}
	golden(t, "not-found", resp)
}

// TestJWKSPublishesBothKinds: the access-token keys (ES256, P-256) come first, then the
// ID-token keys (RS256), each kid the key's RFC 7638 thumbprint, in the configured order.
func TestJWKSPublishesBothKinds(t *testing.T) {
	k, idk := testKey(t), testIDKey(t)
	other, err := core.NewRSAPublicKey(&rsa.PublicKey{N: new(big.Int).Add(idk.Key.N, big.NewInt(2)), E: 65537})
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := serve(testHandler(fixedKeys{keys: []core.PublicKey{k}}, fixedIDKeys{keys: []core.RSAPublicKey{idk, other}}))(context.Background(), event(t, "jwks"))
	var body jwksBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || len(body.Keys) != 3 {
		t.Fatalf("body %s err %v", resp.Body, err)
	}
	got := body.Keys[0]
	if got.Kty != "EC" || got.Crv != "P-256" || got.Alg != "ES256" || got.Use != "sig" || got.Kid != k.ID || len(got.Kid) != 43 || got.N != "" || got.E != "" {
		t.Fatalf("jwk %+v", got)
	}
	for i, want := range []core.RSAPublicKey{idk, other} {
		got := body.Keys[1+i]
		if got.Kty != "RSA" || got.Alg != "RS256" || got.Use != "sig" || got.Kid != want.ID || got.E != "AQAB" || got.Crv != "" || got.X != "" ||
			got.N != base64.RawURLEncoding.EncodeToString(want.Key.N.Bytes()) {
			t.Fatalf("jwk %d %+v", 1+i, got)
		}
	}
}

func TestJWKSWhenKMSIsDownIs503(t *testing.T) {
	down := core.E("kmssign.PublicKeys", core.KindUnavailable, "signing service unavailable", errors.New("dial tcp: refused"))
	for name, h := range map[string]*handler{
		"access-token keys": testHandler(fixedKeys{err: down}, fixedIDKeys{keys: []core.RSAPublicKey{testIDKey(t)}}),
		"ID-token keys":     testHandler(fixedKeys{keys: []core.PublicKey{testKey(t)}}, fixedIDKeys{err: down}),
	} {
		resp, _ := serve(h)(context.Background(), event(t, "jwks"))
		if resp.StatusCode != 503 || strings.Contains(resp.Body, "dial") {
			t.Errorf("%s down: status %d body %s", name, resp.StatusCode, resp.Body)
		}
	}
}

// TestReadyNamesAHungKMS points a real kmssign.Signer at a listener that accepts and never
// answers: /health/ready must answer 503 naming kms within seconds, and /health stays 200.
func TestReadyNamesAHungKMS(t *testing.T) {
	hung := testenv.HungEndpoint(t)
	api := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(hung), Credentials: aws.AnonymousCredentials{}})
	signer := kmssign.New(api, []string{"alias/latchkey-local"})
	h := serveWith(signer,
		check{name: "dynamodb", ping: func(context.Context) error { return nil }},
		check{name: "kms", ping: signer.Ping})

	start := time.Now()
	resp, _ := h(context.Background(), event(t, "ready"))
	took := time.Since(start)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
	}
	if took > 10*time.Second {
		t.Fatalf("a hung KMS held /health/ready for %s", took)
	}
	var body struct {
		Detail string            `json:"detail"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Checks["kms"] == "ok" || body.Checks["dynamodb"] != "ok" || !strings.Contains(body.Detail, "kms") {
		t.Fatalf("body %s does not name kms as the failed check", resp.Body)
	}
	if resp, _ := h(context.Background(), event(t, "health")); resp.StatusCode != 200 {
		t.Fatalf("/health = %d while KMS hangs", resp.StatusCode)
	}
}

// TestReadyIsCachedBriefly: calls within readyTTL share one set of pings (so the probe cannot
// hammer DescribeTable and DescribeKey), a failure is reused too, and after readyTTL the
// dependencies are asked again.
func TestReadyIsCachedBriefly(t *testing.T) {
	var pings atomic.Int32
	var fail atomic.Bool
	ping := func(context.Context) error {
		pings.Add(1)
		if fail.Load() {
			return errors.New("down")
		}
		return nil
	}
	clock := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	h := serveAt(func() time.Time { return clock }, fixedKeys{}, check{name: "dynamodb", ping: ping}, check{name: "kms", ping: ping})
	ask := func(want int) {
		t.Helper()
		resp, _ := h(context.Background(), event(t, "ready"))
		if resp.StatusCode != want || resp.Headers["X-Request-Id"] == "" {
			t.Fatalf("status %d headers %v, want %d", resp.StatusCode, resp.Headers, want)
		}
	}
	ask(200)
	clock = clock.Add(readyTTL - time.Millisecond)
	fail.Store(true)
	ask(200)
	if n := pings.Load(); n != 2 {
		t.Fatalf("two calls within %s made %d pings, want one per dependency (2)", readyTTL, n)
	}
	clock = clock.Add(time.Millisecond)
	ask(503)
	fail.Store(false)
	ask(503)
	if n := pings.Load(); n != 4 {
		t.Fatalf("after the window: %d pings, want 4", n)
	}
}

// TestMetadataAtBothWellKnownPaths: the RFC 8414 path and the OpenID Connect one serve the same
// document, in registered member names only (IANA OAuth Authorization Server Metadata, where
// RFC 8414 §7.1.2 registered OpenID Connect Discovery's names, and RP-Initiated Logout, RFC 9207
// and Prompt Create theirs), every endpoint under the issuer.
func TestMetadataAtBothWellKnownPaths(t *testing.T) {
	h := serveWith(fixedKeys{})
	a, _ := h(context.Background(), event(t, "metadata"))
	b, _ := h(context.Background(), event(t, "discovery"))
	if a.StatusCode != 200 || a.Body != b.Body || a.Headers["Cache-Control"] != b.Headers["Cache-Control"] {
		t.Fatalf("oauth-authorization-server %d %s\nopenid-configuration %d %s", a.StatusCode, a.Body, b.StatusCode, b.Body)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(a.Body), &doc); err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, n := range strings.Fields(`issuer authorization_endpoint token_endpoint jwks_uri registration_endpoint
		scopes_supported response_types_supported response_modes_supported grant_types_supported
		token_endpoint_auth_methods_supported token_endpoint_auth_signing_alg_values_supported
		service_documentation ui_locales_supported op_policy_uri op_tos_uri revocation_endpoint
		revocation_endpoint_auth_methods_supported revocation_endpoint_auth_signing_alg_values_supported
		introspection_endpoint introspection_endpoint_auth_methods_supported
		introspection_endpoint_auth_signing_alg_values_supported code_challenge_methods_supported
		userinfo_endpoint acr_values_supported subject_types_supported id_token_signing_alg_values_supported
		id_token_encryption_alg_values_supported id_token_encryption_enc_values_supported
		userinfo_signing_alg_values_supported display_values_supported claim_types_supported claims_supported
		claims_locales_supported claims_parameter_supported request_parameter_supported
		request_uri_parameter_supported require_request_uri_registration
		end_session_endpoint authorization_response_iss_parameter_supported prompt_values_supported`) {
		registered[n] = true
	}
	for k, v := range doc {
		if !registered[k] {
			t.Errorf("member %q is not a registered authorization server metadata name", k)
		}
		if strings.HasSuffix(k, "_endpoint") || k == "jwks_uri" {
			if s, _ := v.(string); !strings.HasPrefix(s, "https://auth.example.com/") {
				t.Errorf("%s = %v is not under the issuer", k, v)
			}
		}
	}
}

// TestMetadataClaimsTheProvider: the OpenID provider's members say what it does and nothing
// more: the code flow only, in the query, PKCE S256 only (plain is refused), iss in the
// authorization response, RS256 ID tokens, and the routes of the oidc function.
func TestMetadataClaimsTheProvider(t *testing.T) {
	resp, _ := serveWith(fixedKeys{})(context.Background(), event(t, "discovery"))
	var doc map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"authorization_endpoint":                         "https://auth.example.com/oauth2/authorize",
		"userinfo_endpoint":                              "https://auth.example.com/oauth2/userinfo",
		"end_session_endpoint":                           "https://auth.example.com/oauth2/logout",
		"response_types_supported":                       []any{"code"},
		"response_modes_supported":                       []any{"query"},
		"code_challenge_methods_supported":               []any{"S256"},
		"id_token_signing_alg_values_supported":          []any{"RS256"},
		"subject_types_supported":                        []any{"public"},
		"prompt_values_supported":                        []any{"none", "login", "consent", "select_account"},
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
		"grant_types_supported":                          []any{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported":          []any{"none", "client_secret_basic", "client_secret_post"},
		"scopes_supported":                               []any{"openid", "email", "profile", "offline_access"},
	} {
		if got, _ := json.Marshal(doc[key]); string(got) != mustJSON(want) {
			t.Errorf("%s = %s, want %s", key, got, mustJSON(want))
		}
	}
}

// TestMetadataScopesIncludeUserScopes: the scopes users hold (LATCHKEY_USER_SCOPES) follow
// OpenID Connect's in scopes_supported, each once.
func TestMetadataScopesIncludeUserScopes(t *testing.T) {
	h := testHandler(fixedKeys{}, fixedIDKeys{})
	h.userScopes = []string{"orders:read", "openid", "orders:write"}
	resp, _ := serve(h)(context.Background(), event(t, "discovery"))
	var doc struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &doc); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(doc.Scopes, " "); got != "openid email profile offline_access orders:read orders:write" {
		t.Errorf("scopes_supported = %s", got)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
