package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/coretest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	h        *handler
	keys     *apikey.Keys
	clock    *coretest.Clock
	logs     *coretest.Logs
	sessions *core.Sessions
	mem      *coretest.Memory
	signer   *coretest.Signer
	token    core.TokenResponse
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	mem, signer, logs, clock := coretest.NewMemory(), coretest.NewSigner(1), &coretest.Logs{}, coretest.NewClock(t0)
	s := coretest.NewSessions(mem, signer, clock.Now, logs)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	u := core.User{ID: core.NewID()}
	if err := mem.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	tr, err := s.Start(context.Background(), core.StartRequest{UserID: u.ID, AMR: []string{"hwk"}, Scope: "orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	keys := &apikey.Keys{Store: mem, Audit: log, Now: clock.Now, Env: "test", Max: 5, Scopes: []string{"orders:read", "orders:write"}, ReauthMaxAge: 5 * time.Minute}
	verifier := &apikey.Verifier{Lookup: mem, Log: log, Now: clock.Now, Env: "test"}
	return &fixture{h: &handler{auth: s.Verifier, keys: verifier, log: log}, keys: keys, clock: clock, logs: logs, sessions: s, mem: mem, signer: signer, token: tr}
}

// event loads a sample authorizer event with token in place of the placeholder.
func sample(t testing.TB, name, token string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "authorizer", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(token)
	filled := strings.ReplaceAll(string(b), `{{access_token}}`, strings.Trim(string(quoted), `"`))
	return json.RawMessage(strings.ReplaceAll(filled, `{{api_key}}`, strings.Trim(string(quoted), `"`)))
}

func simple(t *testing.T) func(any, error) events.APIGatewayV2CustomAuthorizerSimpleResponse {
	return func(out any, err error) events.APIGatewayV2CustomAuthorizerSimpleResponse {
		t.Helper()
		if err != nil {
			t.Fatalf("HTTP API authorizer returned an error (API Gateway would answer 500): %v", err)
		}
		r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
		if !ok {
			t.Fatalf("answer %T, want a simple response", out)
		}
		return r
	}
}

func TestAllowsALiveToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", f.token.AccessToken)))
	if !r.IsAuthorized || r.Context["sid"] != f.token.SessionID || r.Context["scope"] != "orders:read" || r.Context["sub"] == "" || r.Context["jti"] == "" ||
		r.Context["client_id"] != f.token.Claims.ClientID || f.token.Claims.ClientID == "" || r.Context["credential"] != "access_token" {
		t.Fatalf("%+v", r)
	}
	for _, name := range []string{"rest-token", "rest-request"} {
		out, err := f.h.Handle(ctx, sample(t, name, f.token.AccessToken))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := out.(events.APIGatewayCustomAuthorizerResponse)
		st := p.PolicyDocument.Statement
		if p.PrincipalID != r.Context["sub"] || len(st) != 1 || st[0].Effect != "Allow" ||
			st[0].Resource[0] != "arn:aws:execute-api:us-east-1:123456789012:def456/prod/GET/orders" || p.Context["sid"] != f.token.SessionID {
			t.Fatalf("%s: %+v", name, p)
		}
	}
}

// TestInvoke: the entry aws-lambda-go calls (lambda.Handler) answers Handle's answer as JSON,
// and a REST deny that must be a 401 as the error API Gateway expects.
func TestInvoke(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b, err := f.h.Invoke(ctx, sample(t, "http-api-v2", f.token.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	var r events.APIGatewayV2CustomAuthorizerSimpleResponse
	if err := json.Unmarshal(b, &r); err != nil || !r.IsAuthorized || r.Context["sid"] != f.token.SessionID || r.Context["credential"] != "access_token" {
		t.Fatalf("%s: %+v (%v)", b, r, err)
	}
	if b, err := f.h.Invoke(ctx, sample(t, "rest-token", "not-a-token")); !errors.Is(err, errUnauthorized) || b != nil {
		t.Fatalf("REST with a bad token: %s, %v; want the Unauthorized error", b, err)
	}
	if b, err := f.h.Invoke(ctx, []byte("{")); !errors.Is(err, errUnauthorized) || b != nil {
		t.Fatalf("unreadable event: %s, %v", b, err)
	}
}

func TestDeniesRevokedTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.sessions.Verifier.Authenticate(ctx, f.token.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sessions.Logout(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", f.token.AccessToken))); r.IsAuthorized {
		t.Fatal("a logged-out token was authorized")
	}
	if _, err := f.h.Handle(ctx, sample(t, "rest-token", f.token.AccessToken)); !errors.Is(err, errUnauthorized) {
		t.Fatalf("REST: %v, want Unauthorized", err)
	}
}

func TestDeniesForgeries(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, _ := f.sessions.Verifier.Authenticate(ctx, f.token.AccessToken)
	claims := coretest.Claims{Issuer: c.Issuer, Audience: c.Audience, Subject: c.Subject, SessionID: c.SessionID, ID: c.ID, Now: t0}
	for _, fg := range coretest.Forgeries(t, f.signer, claims) {
		if r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", fg.Token))); r.IsAuthorized {
			t.Errorf("%s: authorized", fg.Name)
		}
		for _, name := range []string{"rest-token", "rest-request"} {
			if out, err := f.h.Handle(ctx, sample(t, name, fg.Token)); !errors.Is(err, errUnauthorized) {
				t.Errorf("%s via %s: %+v %v, want Unauthorized", fg.Name, name, out, err)
			}
		}
	}
}

func TestDeniesWhenItCannotDecide(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sessions.Verifier.States = unavailable{}
	if r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", f.token.AccessToken))); r.IsAuthorized {
		t.Fatal("authorized while the store is down")
	}
	out, err := f.h.Handle(ctx, sample(t, "rest-request", f.token.AccessToken))
	if err != nil {
		t.Fatalf("REST with the store down: %v (API Gateway would answer 500)", err)
	}
	if p := out.(events.APIGatewayCustomAuthorizerResponse); p.PolicyDocument.Statement[0].Effect != "Deny" {
		t.Fatalf("%+v", p)
	}
	for _, raw := range []string{`not json`, `{}`, `{"type":"WEIRD"}`, `{"version":"1.0","type":"REQUEST"}`} {
		if _, err := f.h.Handle(ctx, json.RawMessage(raw)); !errors.Is(err, errUnauthorized) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

type unavailable struct{}

func (unavailable) AccessState(context.Context, string, string, string, time.Time) (core.AccessState, error) {
	return core.AccessState{}, core.E("dynamo", core.KindUnavailable, "storage unavailable", errors.New("timeout"))
}

// liveState answers every read with a live session, for benchmarking the decision path
// without a store.
type liveState struct{ state core.AccessState }

func (l liveState) AccessState(context.Context, string, string, string, time.Time) (core.AccessState, error) {
	return l.state, nil
}

// BenchmarkDecision is the authorizer's whole warm decision for an HTTP API event — decode the
// event, verify the ES256 token, decide revocation — with the store read stubbed. Compare it
// with BenchmarkECDSAVerify, the bare signature check of the same token, in the same run.
func BenchmarkDecision(b *testing.B) {
	f := newFixture(b)
	st, err := f.mem.AccessState(context.Background(), f.token.SessionID, "x", mustSub(b, f), t0)
	if err != nil {
		b.Fatal(err)
	}
	f.sessions.Verifier.States = liveState{st}
	ev := sample(b, "http-api-v2", f.token.AccessToken)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.h.Invoke(ctx, ev)
		if err != nil || !bytes.Contains(out, []byte(`"isAuthorized":true`)) {
			b.Fatal("denied")
		}
	}
}

// BenchmarkECDSAVerify is the floor: SHA-256 and ecdsa.Verify of the same token, nothing else.
func BenchmarkECDSAVerify(b *testing.B) {
	f := newFixture(b)
	keys, _ := f.signer.PublicKeys(context.Background())
	tok := f.token.AccessToken
	dot := strings.LastIndexByte(tok, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256([]byte(tok[:dot]))
		if !ecdsa.Verify(keys[0].Key, h[:], r, s) {
			b.Fatal("bad signature")
		}
	}
}

func mustSub(b *testing.B, f *fixture) string {
	c, err := f.sessions.Verifier.Authenticate(context.Background(), f.token.AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	return c.Subject
}

// newKey makes an API key for the fixture's user, as POST /v1/me/api-keys does.
func (f *fixture) newKey(t testing.TB, expiresIn time.Duration) apikey.Created {
	t.Helper()
	c, err := f.sessions.Verifier.Authenticate(context.Background(), f.token.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	made, err := f.keys.Create(context.Background(), c, apikey.CreateRequest{Name: "ci", Scopes: []string{"orders:write", "orders:read"}, ExpiresIn: expiresIn}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return made
}

// An API key is accepted in Authorization (Bearer) and X-Api-Key, by every event type, with
// the key's context.
func TestAllowsALiveAPIKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	made := f.newKey(t, 0)
	want := map[string]any{"sub": made.APIKey.UserID, "sid": "", "scope": "orders:read orders:write", "jti": "", "client_id": "",
		"credential": "api_key", "key_id": made.APIKey.ID}
	for _, name := range []string{"http-api-v2", "http-api-v2-api-key"} {
		r := simple(t)(f.h.Handle(ctx, sample(t, name, made.Key)))
		if !r.IsAuthorized || fmt.Sprint(r.Context) != fmt.Sprint(want) {
			t.Fatalf("%s: %+v, want context %v", name, r, want)
		}
	}
	for _, name := range []string{"rest-token", "rest-token-api-key", "rest-request", "rest-request-api-key"} {
		out, err := f.h.Handle(ctx, sample(t, name, made.Key))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := out.(events.APIGatewayCustomAuthorizerResponse)
		if p.PrincipalID != made.APIKey.UserID || p.PolicyDocument.Statement[0].Effect != "Allow" || fmt.Sprint(p.Context) != fmt.Sprint(want) {
			t.Fatalf("%s: %+v", name, p)
		}
	}
	if strings.Contains(f.logs.String(), made.Key) {
		t.Fatal("a key was logged")
	}
}

// A key with a bad checksum, of the other environment, deleted, expired or of a disabled owner
// is refused by every event type.
func TestDeniesDeadAPIKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	deny := func(what, key string) {
		t.Helper()
		for _, name := range []string{"http-api-v2", "http-api-v2-api-key"} {
			if r := simple(t)(f.h.Handle(ctx, sample(t, name, key))); r.IsAuthorized {
				t.Errorf("%s via %s: authorized", what, name)
			}
		}
		for _, name := range []string{"rest-token-api-key", "rest-request-api-key"} {
			if _, err := f.h.Handle(ctx, sample(t, name, key)); !errors.Is(err, errUnauthorized) {
				t.Errorf("%s via %s: %v, want Unauthorized", what, name, err)
			}
		}
	}
	live := f.newKey(t, 0)
	last := live.Key[len(live.Key)-1]
	deny("a bad checksum", live.Key[:len(live.Key)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
	deny("another environment", "lk_live_"+strings.TrimPrefix(live.Key, "lk_test_"))
	deny("not a key", "lk_nope")

	c, _ := f.sessions.Verifier.Authenticate(ctx, f.token.AccessToken)
	if err := f.keys.Delete(ctx, c, live.APIKey.ID, core.Client{}); err != nil {
		t.Fatal(err)
	}
	deny("a deleted key", live.Key)

	short := f.newKey(t, time.Minute)
	f.clock.Advance(time.Minute)
	deny("an expired key", short.Key)

	owned := f.newKey(t, 0)
	if err := f.mem.DisableUser(ctx, owned.APIKey.UserID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	deny("a disabled owner's key", owned.Key)
}

// BenchmarkAPIKeyDecision is the authorizer's whole warm decision for an HTTP API event with an
// API key in X-Api-Key — decode the event, check the key's shape and CRC32, SHA-256 it, read
// its item — with the store in memory (coretest.Memory) and LastUsedAt fresh, so no write.
// Compare with BenchmarkDecision and BenchmarkECDSAVerify in the same run.
func BenchmarkAPIKeyDecision(b *testing.B) {
	f := newFixture(b)
	made := f.newKey(b, 0)
	ev := sample(b, "http-api-v2-api-key", made.Key)
	ctx := context.Background()
	if r, _ := f.h.Handle(ctx, ev); !r.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized {
		b.Fatal("denied")
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := f.h.Handle(ctx, ev)
		if err != nil || !out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized {
			b.Fatal("denied")
		}
	}
}
