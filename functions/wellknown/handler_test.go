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
	h := &handler{issuer: "https://auth.example.com", version: "test", keys: keys, checks: checks, log: slog.New(slog.NewJSONHandler(&bytes.Buffer{}, nil))}
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
