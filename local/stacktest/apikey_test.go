package stacktest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/local/testenv"
)

// keyDefaults are the API-key settings of the gateways of these tests: test keys, and two
// scopes users hold.
var keyDefaults = []string{"LATCHKEY_API_KEY_ENV=test", "LATCHKEY_USER_SCOPES=orders:read orders:write"}

// echoWith calls /local/echo with key in header (Authorization as a Bearer credential, or
// X-Api-Key as is) and returns the status and the authorizer's context.
func echoWith(t *testing.T, g *gateway, header, key string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", g.url+"/local/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if header == "Authorization" {
		key = "Bearer " + key
	}
	req.Header.Set(header, key)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var echo struct {
		Authorizer struct {
			Lambda map[string]any `json:"lambda"`
		} `json:"authorizer"`
	}
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, echo.Authorizer.Lambda
}

// refusedEverywhere fails the test unless key is refused (403) in both headers by every gateway.
func refusedEverywhere(t *testing.T, what, key string, gs ...*gateway) {
	t.Helper()
	for i, g := range gs {
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			if status, _ := echoWith(t, g, h, key); status != 403 {
				t.Errorf("%s in %s on gateway %d: %d, want 403", what, h, i, status)
			}
		}
	}
}

// TestAPIKeysThroughTheAuthorizer: a key made after a fresh sign-up works at /local/echo in
// both headers with its own context, is listed by prefix and last4 only, and is refused at
// the next request on both nodes once deleted; an expired key, a key with a bad checksum (no
// DynamoDB call: functions/authorizer/roundtrip_test.go counts it) and a disabled owner's key
// are refused.
func TestAPIKeysThroughTheAuthorizer(t *testing.T) {
	s := newStack(t)
	a, b := s.startGateway(t, keyDefaults...), s.startGateway(t, keyDefaults...)
	reg := signUp(t, a, passkeytest.NewAuthenticator(rpOrigin), "", "")
	at := reg["access_token"].(string)
	uid := reg["user"].(map[string]any)["id"].(string)

	status, hdr, made := api(t, "POST", a.url+"/v1/me/api-keys", at, map[string]any{"name": "deploy bot", "scopes": []string{"orders:read"}})
	key, _ := made["key"].(string)
	if status != 201 || hdr.Get("Cache-Control") != "no-store" || !strings.HasPrefix(key, "lk_test_") || made["id"] == nil {
		t.Fatalf("create: %d %v %v", status, hdr, made)
	}
	for _, g := range []*gateway{a, b} {
		for _, h := range []string{"Authorization", "X-Api-Key"} {
			status, ctx := echoWith(t, g, h, key)
			if status != 200 || ctx["credential"] != "api_key" || ctx["key_id"] != made["id"] || ctx["sub"] != uid ||
				ctx["scope"] != "orders:read" || ctx["sid"] != "" || ctx["jti"] != "" {
				t.Fatalf("echo with the key in %s: %d %v", h, status, ctx)
			}
		}
	}

	status, _, raw := call(t, "GET", b.url+"/v1/me/api-keys", at, "")
	if status != 200 || strings.Contains(string(raw), key) || strings.Contains(string(raw), key[12:len(key)-4]) {
		t.Fatalf("list: %d %s", status, raw)
	}
	var listed struct {
		APIKeys []map[string]any `json:"apiKeys"`
	}
	if err := json.Unmarshal(raw, &listed); err != nil || len(listed.APIKeys) != 1 {
		t.Fatalf("list %s: %v", raw, err)
	}
	if k := listed.APIKeys[0]; k["prefix"] != key[:12] || k["last4"] != key[len(key)-4:] || k["lastUsedAt"] == nil || k["key"] != nil {
		t.Fatalf("listed %v", k)
	}

	bad := []byte(key)
	if bad[len(bad)-1] = '0'; key[len(key)-1] == '0' {
		bad[len(bad)-1] = '1'
	}
	refusedEverywhere(t, "a bad checksum", string(bad), a, b)

	if status, _, got := api(t, "DELETE", b.url+"/v1/me/api-keys/"+made["id"].(string), at, nil); status != 204 {
		t.Fatalf("delete: %d %v", status, got)
	}
	refusedEverywhere(t, "a deleted key", key, a, b)

	// An expired key, made through the store as the sessions function makes one, a minute
	// before it expired (the minimum lifetime is a minute: waiting would double the test).
	ctx := context.Background()
	store := dynamo.New(testenv.DynamoDB(t), s.getenv("LATCHKEY_TABLE"))
	then := time.Now().Add(-2 * time.Minute)
	past := &apikey.Keys{Store: store, Audit: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return then },
		Env: "test", Max: 25, ReauthMaxAge: time.Minute}
	old, err := past.Create(ctx, core.AccessClaims{Subject: uid, AuthTime: then}, apikey.CreateRequest{Name: "old", ExpiresIn: time.Minute}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	refusedEverywhere(t, "an expired key", old.Key, a)

	// A disabled owner's keys stop at once.
	status, _, live := api(t, "POST", a.url+"/v1/me/api-keys", at, map[string]any{"name": "ci"})
	if status != 201 {
		t.Fatalf("create: %d %v", status, live)
	}
	if status, _ := echoWith(t, a, "X-Api-Key", live["key"].(string)); status != 200 {
		t.Fatalf("a live key before the disable: %d", status)
	}
	if err := store.DisableUser(ctx, uid, time.Now()); err != nil {
		t.Fatal(err)
	}
	refusedEverywhere(t, "a disabled owner's key", live["key"].(string), a, b)
}

// TestAPIKeyChecksumIsCRC32: a key the stack made carries, in its last six characters, the
// CRC32 that Python's zlib computes of the rest of it, read with a base62 decoder of the
// test's own.
func TestAPIKeyChecksumIsCRC32(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, keyDefaults...)
	reg := signUp(t, g, passkeytest.NewAuthenticator(rpOrigin), "", "")
	status, _, made := api(t, "POST", g.url+"/v1/me/api-keys", reg["access_token"].(string), map[string]any{"name": "crc"})
	key, _ := made["key"].(string)
	if status != 201 || len(key) != len("lk_test_")+43+6 {
		t.Fatalf("create: %d %v", status, made)
	}
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	decode := func(s string) *big.Int {
		n := new(big.Int)
		for _, r := range s {
			d := strings.IndexRune(digits, r)
			if d < 0 {
				t.Fatalf("%q is not base62", s)
			}
			n.Mul(n, big.NewInt(62)).Add(n, big.NewInt(int64(d)))
		}
		return n
	}
	body, check := key[:len(key)-6], key[len(key)-6:]
	out, err := exec.Command("python3", "-c", "import sys, zlib; print(zlib.crc32(sys.argv[1].encode()))", body).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(check); !got.IsUint64() || got.Uint64() != want {
		t.Fatalf("check %q decodes to %v; zlib.crc32 of %q is %d", check, got, body, want)
	}
	if random := decode(key[len("lk_test_") : len(key)-6]); random.BitLen() > 256 {
		t.Fatalf("the random part is %d bits", random.BitLen())
	}
}
