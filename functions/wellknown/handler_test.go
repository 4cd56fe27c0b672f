package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"log/slog"
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

// serveWith is the handler over keys and checks, served as the Lambda serves it.
func serveWith(keys keySource, checks ...check) func(context.Context, apigw.Request) (apigw.Response, error) {
	return serveAt(time.Now, keys, checks...)
}

// serveAt is serveWith on the clock now.
func serveAt(now func() time.Time, keys keySource, checks ...check) func(context.Context, apigw.Request) (apigw.Response, error) {
	h := &handler{issuer: "https://auth.example.com", version: "test", keys: keys, checks: checks, log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil)), now: now}
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
	h := serveWith(fixedKeys{keys: []core.PublicKey{testKey(t)}}, ok, check{name: "kms", ping: func(context.Context) error { return nil }})
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

func TestJWKSKeyIsP256WithThumbprintKid(t *testing.T) {
	k := testKey(t)
	resp, _ := serveWith(fixedKeys{keys: []core.PublicKey{k}})(context.Background(), event(t, "jwks"))
	var body jwksBody
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || len(body.Keys) != 1 {
		t.Fatalf("body %s err %v", resp.Body, err)
	}
	got := body.Keys[0]
	if got.Kty != "EC" || got.Crv != "P-256" || got.Alg != "ES256" || got.Use != "sig" || got.Kid != k.ID || len(got.Kid) != 43 {
		t.Fatalf("jwk %+v", got)
	}
}

func TestJWKSWhenKMSIsDownIs503(t *testing.T) {
	down := fixedKeys{err: core.E("kmssign.PublicKeys", core.KindUnavailable, "signing service unavailable", errors.New("dial tcp: refused"))}
	resp, _ := serveWith(down)(context.Background(), event(t, "jwks"))
	if resp.StatusCode != 503 || strings.Contains(resp.Body, "dial") {
		t.Fatalf("status %d body %s", resp.StatusCode, resp.Body)
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
// document, in registered member names only (IANA OAuth Authorization Server Metadata), every
// endpoint under the issuer.
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
		introspection_endpoint_auth_signing_alg_values_supported code_challenge_methods_supported`) {
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
	if rt, ok := doc["response_types_supported"].([]any); !ok || len(rt) != 0 {
		t.Errorf("response_types_supported = %v, want [] (there is no authorization endpoint)", doc["response_types_supported"])
	}
}
