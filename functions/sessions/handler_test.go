package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	serve    func(context.Context, apigw.Request) (apigw.Response, error)
	sessions *core.Sessions
	machines *core.Machines
	mem      *coretest.Memory
	signer   *coretest.Signer
	clock    *coretest.Clock
	logs     *coretest.Logs
	user     core.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	s := coretest.NewSessions(mem, signer, clk.Now, logs)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	secret := sha256.Sum256([]byte("rs-secret"))
	keys := &apikey.Keys{Store: mem, Audit: log, Now: clk.Now, Env: "test", Max: 2, Scopes: []string{"orders:read", "orders:write"}, ReauthMaxAge: 5 * time.Minute}
	s.Verifier.Machines = testMachineClients
	machines := &core.Machines{
		Clients: testMachineClients, Secrets: staticSecrets{"ci": {core.HashSecret(ciSecret)}, "off": {core.HashSecret(offSecret)}},
		Minter: s.Minter, Limiter: s.Limiter, Audit: log, Now: clk.Now,
		TokenByIP: s.TokenByIP, TokenByClient: core.Rule{Name: "token-client", Limit: 1000, Window: time.Minute},
	}
	h := &handler{sessions: s, keys: keys, machines: machines, verifier: s.Verifier, introspectors: map[string]string{"rs": hex.EncodeToString(secret[:])}, clientID: coretest.ClientID, log: log}
	f := &fixture{serve: apigw.Serve(log, boot.Deadline, h.Handle), sessions: s, machines: machines, mem: mem, signer: signer, clock: clk, logs: logs, user: core.User{ID: core.NewID()}}
	if err := mem.CreateUser(context.Background(), f.user); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) start(t *testing.T) core.TokenResponse {
	t.Helper()
	tr, err := f.sessions.Start(context.Background(), core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}, Client: core.Client{IP: "198.51.100.23", UserAgent: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// event loads a sample event of the sessions function with tr's tokens in its placeholders.
func event(t *testing.T, name string, tr core.TokenResponse) apigw.Request {
	return apigwtest.Event(t, "sessions", name, map[string]string{
		"access_token": tr.AccessToken, "refresh_token": tr.RefreshToken, "session_id": tr.SessionID,
	})
}

func (f *fixture) do(t *testing.T, req apigw.Request) apigw.Response {
	t.Helper()
	return apigwtest.Do(t, f.serve, req)
}

func decode(t *testing.T, resp apigw.Response) map[string]any {
	t.Helper()
	return apigwtest.Decode(t, resp)
}

func TestTokenGrant(t *testing.T) {
	for _, name := range []string{"token-form", "token-json"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			tr := f.start(t)
			resp := f.do(t, event(t, name, tr))
			if resp.StatusCode != 200 || resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Pragma"] != "no-cache" {
				t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
			}
			body := decode(t, resp)
			if body["token_type"] != "Bearer" || body["expires_in"] != 600.0 || body["session_id"] != tr.SessionID ||
				body["refresh_token"] == tr.RefreshToken || body["refresh_token"] == "" || body["access_token"] == "" {
				t.Fatalf("body %v", body)
			}
		})
	}
}

func TestTokenErrorsAreRFC6749(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	base := event(t, "token-form", tr)
	cases := []struct {
		name, body, ctype, code string
		status                  int
	}{
		{"missing grant", "refresh_token=x", "application/x-www-form-urlencoded", "invalid_request", 400},
		{"other grant", "grant_type=password&username=a&password=b", "application/x-www-form-urlencoded", "unsupported_grant_type", 400},
		{"missing token", "grant_type=refresh_token", "application/x-www-form-urlencoded", "invalid_request", 400},
		{"bad token", "grant_type=refresh_token&refresh_token=lkr1.AAAA.BBBB", "application/x-www-form-urlencoded", "invalid_grant", 400},
		{"duplicate parameter", "grant_type=refresh_token&refresh_token=a&refresh_token=b", "application/x-www-form-urlencoded", "invalid_request", 400},
		{"wrong content type", "grant_type=refresh_token", "text/plain", "invalid_request", 400},
		{"bad JSON", `{"grant_type":`, "application/json", "invalid_request", 400},
		{"huge body", strings.Repeat("a", apigw.MaxBody+1), "application/x-www-form-urlencoded", "", 413},
	}
	for _, c := range cases {
		req := base
		req.Body, req.Headers = c.body, map[string]string{"content-type": c.ctype}
		resp := f.do(t, req)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d body %s", c.name, resp.StatusCode, resp.Body)
			continue
		}
		if c.code != "" {
			if got := decode(t, resp)["error"]; got != c.code {
				t.Errorf("%s: error %v, want %s", c.name, got, c.code)
			}
		}
	}
}

// TestTokenClientAndScope: the public client may name itself or not; credentials or another
// client are invalid_client (401, Basic challenge); a scope beyond the session's is
// invalid_scope and spends nothing; the granted scope is answered only when it differs from
// the one asked for.
func TestTokenClientAndScope(t *testing.T) {
	f := newFixture(t)
	tr, err := f.sessions.Start(context.Background(), core.StartRequest{UserID: f.user.ID, AMR: []string{"hwk"}, Scope: "read write"})
	if err != nil {
		t.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(coretest.ClientID+":"))
	refused := []struct {
		name, body, auth, code string
		status                 int
	}{
		{"HTTP Basic of the public client", "", basic, "invalid_client", 401},
		{"HTTP Basic of another client", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("app:secret")), "invalid_client", 401},
		{"a client_secret", "&client_id=" + coretest.ClientID + "&client_secret=s", "", "invalid_client", 401},
		{"another client_id", "&client_id=someone-else", "", "invalid_client", 401},
		{"client_id twice", "&client_id=" + coretest.ClientID + "&client_id=" + coretest.ClientID, "", "invalid_request", 400},
		{"a scope the session lacks", "&scope=admin", "", "invalid_scope", 400},
		{"more than the session's scope", "&scope=read+write+admin", "", "invalid_scope", 400},
	}
	for _, c := range refused {
		req := event(t, "token-form", tr)
		req.Body += c.body
		if c.auth != "" {
			req.Headers["authorization"] = c.auth
		}
		resp := f.do(t, req)
		if resp.StatusCode != c.status || decode(t, resp)["error"] != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, resp.Body, c.status, c.code)
		}
		if want := map[bool]string{true: `Basic realm="latchkey"`, false: ""}[c.status == 401]; resp.Headers["WWW-Authenticate"] != want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, resp.Headers["WWW-Authenticate"], want)
		}
	}
	// None of those spent the refresh token: each success below rotates it once.
	for _, c := range []struct {
		name, body string
		scope      any // the scope member of the answer; nil when absent
	}{
		{"no scope asked", "", "read write"},
		{"the public client by name, the whole scope", "&client_id=" + coretest.ClientID + "&scope=read+write", nil},
		{"less than the session's", "&scope=write", nil},
		{"the same scope differently written", "&scope=write++read+write", "write read"},
	} {
		req := event(t, "token-form", tr)
		req.Body += c.body
		resp := f.do(t, req)
		body := decode(t, resp)
		if resp.StatusCode != 200 || body["scope"] != c.scope {
			t.Fatalf("%s: %d %v, want scope %v", c.name, resp.StatusCode, body, c.scope)
		}
		tr.RefreshToken = body["refresh_token"].(string)
	}
}

func TestTokenRateLimited(t *testing.T) {
	f := newFixture(t)
	f.sessions.TokenByIP = core.Rule{Name: "token-ip", Limit: 2, Window: time.Minute}
	req := event(t, "token-form", core.TokenResponse{RefreshToken: "junk"})
	for range 2 {
		f.do(t, req)
	}
	resp := f.do(t, req)
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] == "" || decode(t, resp)["error"] != "slow_down" {
		t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	// The limit keys on the address API Gateway saw, not on X-Forwarded-For.
	req.Headers["x-forwarded-for"] = "192.0.2.99"
	if resp := f.do(t, req); resp.StatusCode != 429 {
		t.Fatalf("a forged X-Forwarded-For escaped the limit: %d", resp.StatusCode)
	}
}

func TestLogoutEndsTheSessionEverywhere(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	if resp := f.do(t, event(t, "logout", tr)); resp.StatusCode != 204 {
		t.Fatalf("logout: %d %s", resp.StatusCode, resp.Body)
	}
	resp := f.do(t, event(t, "list-sessions", tr))
	if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
		t.Fatalf("after logout: %d %v", resp.StatusCode, resp.Headers)
	}
	if resp := f.do(t, event(t, "token-form", tr)); resp.StatusCode != 400 {
		t.Fatalf("refresh after logout: %d", resp.StatusCode)
	}
	if !strings.Contains(f.logs.String(), `"msg":"session.revoked"`) {
		t.Fatal("no audit event for the logout")
	}
}

// TestBearerRoutesRefuseForgeries: every forged token is a 401 with the RFC 6750 challenge,
// never a 5xx; error="invalid_token" names a refused token, and a request without one (the
// empty "token", a header without Bearer credentials) gets the bare challenge (§3.1).
func TestBearerRoutesRefuseForgeries(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	c, err := f.sessions.Verifier.Authenticate(context.Background(), tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	claims := coretest.Claims{Issuer: c.Issuer, Audience: c.Audience, Subject: c.Subject, SessionID: c.SessionID, ID: c.ID, Now: t0}
	for _, fg := range coretest.Forgeries(t, f.signer, claims) {
		req := event(t, "list-sessions", tr)
		req.Headers["authorization"] = "Bearer " + fg.Token
		resp := f.do(t, req)
		want := `Bearer error="invalid_token"`
		if fg.Token == "" {
			want = "Bearer"
		}
		if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != want {
			t.Errorf("%s: status %d headers %v", fg.Name, resp.StatusCode, resp.Headers)
		}
	}
	for _, h := range []string{"", "Basic abc", "Bearer", "Bearer    ", tr.AccessToken} {
		req := event(t, "list-sessions", tr)
		if h == "" {
			delete(req.Headers, "authorization")
		} else {
			req.Headers["authorization"] = h
		}
		if resp := f.do(t, req); resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != "Bearer" {
			t.Errorf("Authorization %.20q: status %d, WWW-Authenticate %q; want 401 and the bare challenge", h, resp.StatusCode, resp.Headers["WWW-Authenticate"])
		}
	}
}

func TestOwnSessions(t *testing.T) {
	f := newFixture(t)
	cur, other := f.start(t), f.start(t)
	resp := f.do(t, event(t, "list-sessions", cur))
	var body struct {
		Sessions []struct {
			ID      string `json:"id"`
			IP      string `json:"ip"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || len(body.Sessions) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	for _, s := range body.Sessions {
		if s.Current != (s.ID == cur.SessionID) || s.IP != "198.51.100.23" {
			t.Errorf("session %+v", s)
		}
	}
	// Another user's session id answers 404, like an unknown one.
	stranger := core.User{ID: core.NewID()}
	_ = f.mem.CreateUser(context.Background(), stranger)
	theirs, _ := f.sessions.Start(context.Background(), core.StartRequest{UserID: stranger.ID})
	req := event(t, "end-session", cur)
	req.PathParameters["id"] = theirs.SessionID
	if resp := f.do(t, req); resp.StatusCode != 404 {
		t.Fatalf("ending another user's session: %d", resp.StatusCode)
	}
	if resp := f.do(t, event(t, "end-session", other)); resp.StatusCode != 204 {
		t.Fatalf("ending own session: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := f.do(t, event(t, "list-sessions", other)); resp.StatusCode != 401 {
		t.Fatalf("an ended session still works: %d", resp.StatusCode)
	}
	third := f.start(t)
	if resp := f.do(t, event(t, "end-other-sessions", cur)); resp.StatusCode != 204 {
		t.Fatalf("end others: %d", resp.StatusCode)
	}
	if resp := f.do(t, event(t, "list-sessions", third)); resp.StatusCode != 401 {
		t.Fatalf("another device survived: %d", resp.StatusCode)
	}
	if resp := f.do(t, event(t, "list-sessions", cur)); resp.StatusCode != 200 {
		t.Fatalf("the current device was logged out: %d", resp.StatusCode)
	}
}

// sessionCalls counts every call that reaches the session store.
type sessionCalls struct {
	core.SessionStore
	n atomic.Int32
}

func (s *sessionCalls) GetSession(ctx context.Context, id string, now time.Time) (core.Session, error) {
	s.n.Add(1)
	return s.SessionStore.GetSession(ctx, id, now)
}

func (s *sessionCalls) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.n.Add(1)
	return s.SessionStore.RevokeSession(ctx, id, now)
}

// TestEndRefusesIdsNeverIssued: a session id that is not NewID's shape (22 base64url
// characters) answers 404 before any store call, with the very answer of an unknown session
// and of another user's, so the route reveals nothing and never hands DynamoDB an oversized key.
func TestEndRefusesIdsNeverIssued(t *testing.T) {
	f := newFixture(t)
	cur := f.start(t)
	stranger := core.User{ID: core.NewID()}
	_ = f.mem.CreateUser(context.Background(), stranger)
	theirs, err := f.sessions.Start(context.Background(), core.StartRequest{UserID: stranger.ID})
	if err != nil {
		t.Fatal(err)
	}
	store := &sessionCalls{SessionStore: f.mem}
	f.sessions.Store = store
	endSession := func(id string) apigw.Response {
		req := event(t, "end-session", cur)
		req.PathParameters["id"] = id
		return f.do(t, req)
	}
	unknown := endSession(core.NewID())
	if unknown.StatusCode != 404 {
		t.Fatalf("an unknown session: %d %s", unknown.StatusCode, unknown.Body)
	}
	if other := endSession(theirs.SessionID); other.StatusCode != 404 || other.Body != unknown.Body {
		t.Fatalf("another user's session: %d %s, want the unknown session's %s", other.StatusCode, other.Body, unknown.Body)
	}
	store.n.Store(0)
	for name, id := range map[string]string{
		"2 KB":               strings.Repeat("A", 2048),
		"23 characters":      core.NewID() + "A",
		"21 characters":      core.NewID()[:21],
		"not base64url":      strings.Repeat("+", 22),
		"a session id and /": cur.SessionID[:21] + "/",
	} {
		resp := endSession(id)
		if resp.StatusCode != 404 || resp.Body != unknown.Body {
			t.Errorf("%s: %d %s, want 404 %s", name, resp.StatusCode, resp.Body, unknown.Body)
		}
	}
	if n := store.n.Load(); n != 0 {
		t.Fatalf("%d session store calls for ids that were never issued, want none", n)
	}
}

func TestRevokeAnswers200ForAnything(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	for _, tok := range []string{"unknown", tr.AccessToken, tr.RefreshToken, tr.RefreshToken} {
		req := event(t, "revoke", tr)
		req.Body = "token=" + tok
		if resp := f.do(t, req); resp.StatusCode != 200 {
			t.Fatalf("revoke %.10q: %d %s", tok, resp.StatusCode, resp.Body)
		}
	}
	if resp := f.do(t, event(t, "token-form", tr)); resp.StatusCode != 400 {
		t.Fatalf("a revoked refresh token still works: %d", resp.StatusCode)
	}
	req := event(t, "revoke", tr)
	req.Body = ""
	if resp := f.do(t, req); resp.StatusCode != 400 || decode(t, resp)["error"] != "invalid_request" {
		t.Fatalf("revoke without a token: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestIntrospection(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	for _, auth := range []string{"", basic("rs", "wrong"), basic("other", "rs-secret"), "Bearer " + tr.AccessToken} {
		req := event(t, "introspect", tr)
		req.Headers["authorization"] = auth
		if resp := f.do(t, req); resp.StatusCode != 401 || decode(t, resp)["error"] != "invalid_client" {
			t.Errorf("auth %.20q: %d %s", auth, resp.StatusCode, resp.Body)
		}
	}
	req := event(t, "introspect", tr)
	req.Headers["authorization"] = basic("rs", "rs-secret")
	body := decode(t, f.do(t, req))
	if body["active"] != true || body["sub"] != f.user.ID || body["sid"] != tr.SessionID || body["client_id"] != coretest.ClientID {
		t.Fatalf("active token: %v", body)
	}
	f.do(t, event(t, "logout", tr))
	body = decode(t, f.do(t, req))
	if len(body) != 1 || body["active"] != false {
		t.Fatalf("a logged-out token: %v", body)
	}
}

// TestIntrospectionEndsAtExp: the verifier tolerates 30 s of clock skew past exp, but
// introspection reports a token inactive from its exp on (RFC 7662 §2.2).
func TestIntrospectionEndsAtExp(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	req := event(t, "introspect", tr)
	req.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("rs:rs-secret"))
	f.clock.Advance(tr.Claims.ExpiresAt.Add(-time.Second).Sub(f.clock.Now()))
	if body := decode(t, f.do(t, req)); body["active"] != true {
		t.Fatalf("a second before exp: %v", body)
	}
	for _, after := range []time.Duration{time.Second, time.Second} { // at exp, then exp+1s
		f.clock.Advance(after)
		if body := decode(t, f.do(t, req)); len(body) != 1 || body["active"] != false {
			t.Fatalf("at exp%+v: %v, want {\"active\":false}", f.clock.Now().Sub(tr.Claims.ExpiresAt), body)
		}
	}
}

// down is a store whose every call fails as DynamoDB does when it cannot be reached.
type down struct{ *coretest.Memory }

var errDown = core.E("dynamo", core.KindUnavailable, "storage unavailable", errors.New("dial tcp 127.0.0.1:8000: connection refused"))

func (down) AccessState(context.Context, string, string, string, time.Time) (core.AccessState, error) {
	return core.AccessState{}, errDown
}
func (down) Hit(context.Context, string, time.Duration, time.Time) (int64, error) { return 0, errDown }

func TestStoreDownIs503(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	d := down{f.mem}
	f.sessions.Verifier.States, f.sessions.Limiter = d, &core.RateLimiter{Counters: d}
	resp := f.do(t, event(t, "list-sessions", tr))
	if resp.StatusCode != 503 || resp.Headers["Content-Type"] != "application/problem+json" || strings.Contains(resp.Body, "dial") {
		t.Fatalf("bearer route: %d %s", resp.StatusCode, resp.Body)
	}
	resp = f.do(t, event(t, "token-form", tr))
	if resp.StatusCode != 503 || decode(t, resp)["error"] != "temporarily_unavailable" {
		t.Fatalf("token: %d %s", resp.StatusCode, resp.Body)
	}
	// Nothing was half-written: the refresh token was not rotated.
	if s, err := f.mem.GetSession(context.Background(), tr.SessionID, t0); err != nil || s.Generation != 1 {
		t.Fatalf("the failed refresh rotated the session: generation %d, err %v", s.Generation, err)
	}
}

// The API-key routes: a key is shown once (201, no-store) and listed by prefix and last4
// only; a stale sign-in must re-authenticate; scopes users do not hold and the cap are
// refused; a delete is 204 for one's own key and 404 for anyone else's.
func TestAPIKeyRoutes(t *testing.T) {
	f := newFixture(t)
	tr := f.start(t)
	vars := map[string]string{"access_token": tr.AccessToken}
	resp := f.do(t, apigwtest.Event(t, "sessions", "create-api-key", vars))
	if resp.StatusCode != 201 || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("create: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	made := decode(t, resp)
	key, _ := made["key"].(string)
	if !strings.HasPrefix(key, "lk_test_") || made["name"] != "deploy bot" || made["id"] == "" ||
		made["createdAt"] != "2026-11-23T12:00:00Z" || made["expiresAt"] != "2026-11-24T12:00:00Z" {
		t.Fatalf("create body %v", made)
	}
	if _, ok := apikey.Parse(key, "test"); !ok {
		t.Fatalf("the key %q does not parse", key)
	}
	resp = f.do(t, apigwtest.Event(t, "sessions", "list-api-keys", vars))
	if resp.StatusCode != 200 || strings.Contains(resp.Body, key) || strings.Contains(resp.Body, key[12:len(key)-4]) {
		t.Fatalf("list: %d %s", resp.StatusCode, resp.Body)
	}
	list := decode(t, resp)["apiKeys"].([]any)
	if len(list) != 1 {
		t.Fatalf("listed %v", list)
	}
	k := list[0].(map[string]any)
	if k["id"] != made["id"] || k["prefix"] != key[:12] || k["last4"] != key[len(key)-4:] || k["expiresAt"] != made["expiresAt"] ||
		len(k["scopes"].([]any)) != 1 || k["key"] != nil {
		t.Fatalf("listed key %v", k)
	}

	create := apigwtest.Event(t, "sessions", "create-api-key", vars)
	for name, c := range map[string]struct {
		body, code string
		status     int
	}{
		"unknown scope": {`{"name":"x","scopes":["admin"]}`, "invalid_scope", 400},
		"no name":       {`{"scopes":[]}`, "invalid", 400},
		"short expiry":  {`{"name":"x","expiresIn":59}`, "invalid", 400},
		"zero expiry":   {`{"name":"x","expiresIn":0}`, "invalid", 400},
		"bad JSON":      {`{"name":`, "invalid", 400},
	} {
		req := create
		req.Body = c.body
		resp := f.do(t, req)
		if resp.StatusCode != c.status || decode(t, resp)["code"] != c.code {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Body)
		}
	}
	if resp := f.do(t, create); resp.StatusCode != 201 {
		t.Fatalf("second key: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := f.do(t, create); resp.StatusCode != 409 || decode(t, resp)["code"] != "too_many_api_keys" {
		t.Fatalf("over the cap: %d %s", resp.StatusCode, resp.Body)
	}

	other := core.User{ID: core.NewID()}
	if err := f.mem.CreateUser(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	theirs, err := f.sessions.Start(context.Background(), core.StartRequest{UserID: other.ID, AMR: []string{"hwk"}})
	if err != nil {
		t.Fatal(err)
	}
	id := made["id"].(string)
	if resp := f.do(t, apigwtest.Event(t, "sessions", "delete-api-key", map[string]string{"access_token": theirs.AccessToken, "api_key_id": id})); resp.StatusCode != 404 {
		t.Fatalf("delete of another user's key: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := f.do(t, apigwtest.Event(t, "sessions", "delete-api-key", map[string]string{"access_token": tr.AccessToken, "api_key_id": id})); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := f.do(t, apigwtest.Event(t, "sessions", "delete-api-key", map[string]string{"access_token": tr.AccessToken, "api_key_id": id})); resp.StatusCode != 404 {
		t.Fatalf("delete twice: %d %s", resp.StatusCode, resp.Body)
	}
	if strings.Contains(f.logs.String(), key) {
		t.Fatal("a key was logged")
	}

	f.clock.Advance(6 * time.Minute)
	later, err := f.sessions.Refresh(context.Background(), tr.RefreshToken, core.Client{IP: "198.51.100.23"})
	if err != nil {
		t.Fatal(err)
	}
	resp = f.do(t, apigwtest.Event(t, "sessions", "create-api-key", map[string]string{"access_token": later.AccessToken}))
	if resp.StatusCode != 401 || decode(t, resp)["code"] != "reauthentication_required" {
		t.Fatalf("create with a stale sign-in: %d %s", resp.StatusCode, resp.Body)
	}
}
