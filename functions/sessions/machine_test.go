package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
)

// The machine clients of the handler tests: ci (enabled, two scopes) and off (disabled).
var testMachineClients = core.MachineClients{
	"ci":  {ID: "ci", Scopes: []string{"orders:read", "orders:write"}, Enabled: true},
	"off": {ID: "off", Scopes: []string{"orders:read"}, Enabled: false},
}

const (
	ciSecret  = "Zm9yIHRlc3RzIG9ubHk6IGEgY2xpZW50IHNlY3JldCBvZiBjaQ"
	offSecret = "Zm9yIHRlc3RzIG9ubHk6IGEgY2xpZW50IHNlY3JldCBvZiBvZmY"
)

// staticSecrets is a core.MachineSecretSource that never changes.
type staticSecrets core.MachineSecrets

func (s staticSecrets) MachineSecrets(context.Context) (core.MachineSecrets, error) {
	return core.MachineSecrets(s), nil
}

// clientEvent is the sample client_credentials request authenticating with HTTP Basic
// (token-client-basic, the id and secret form-urlencoded as RFC 6749 §2.3.1 asks) or in the
// form (token-client-post).
func clientEvent(t *testing.T, name, id, secret, scope string) apigw.Request {
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
	return apigwtest.Event(t, "sessions", name, map[string]string{
		"basic": basic, "client_id": url.QueryEscape(id), "client_secret": url.QueryEscape(secret), "scope": url.QueryEscape(scope),
	})
}

func TestClientCredentialsGrant(t *testing.T) {
	for _, c := range []struct{ event, scope, want string }{
		{"token-client-basic", "", "orders:read orders:write"},
		{"token-client-basic", "orders:read", "orders:read"},
		{"token-client-post", "", "orders:read orders:write"},
	} {
		f := newFixture(t)
		resp := f.do(t, clientEvent(t, c.event, "ci", ciSecret, c.scope))
		if resp.StatusCode != 200 || resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Pragma"] != "no-cache" {
			t.Fatalf("%s: status %d headers %v body %s", c.event, resp.StatusCode, resp.Headers, resp.Body)
		}
		body := decode(t, resp)
		if len(body) != 4 || body["token_type"] != "Bearer" || body["expires_in"] != 600.0 || body["scope"] != c.want {
			t.Fatalf("%s: body %v (want no refresh_token and no session_id)", c.event, body)
		}
		claims, err := f.sessions.Verifier.AuthenticateAny(context.Background(), body["access_token"].(string))
		if err != nil || claims.Subject != "ci" || claims.ClientID != "ci" || claims.SessionID != "" || claims.Scope != c.want {
			t.Fatalf("%s: token %+v %v", c.event, claims, err)
		}
		if strings.Contains(f.logs.String(), ciSecret) {
			t.Fatal("the client secret was logged")
		}
	}
}

func TestClientCredentialsErrorsAreRFC6749(t *testing.T) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	cases := []struct {
		name, event, id, secret, scope string
		auth                           *string // overrides the event's Authorization header
		extra                          string  // appended to the body
		status                         int
		code                           string
	}{
		{name: "wrong secret", event: "token-client-basic", id: "ci", secret: "wrong", status: 401, code: "invalid_client"},
		{name: "wrong secret in the form", event: "token-client-post", id: "ci", secret: "wrong", status: 401, code: "invalid_client"},
		{name: "unknown client", event: "token-client-basic", id: "nobody", secret: ciSecret, status: 401, code: "invalid_client"},
		{name: "no credentials", event: "token-client-post", status: 401, code: "invalid_client"},
		{name: "a client_id without secret", event: "token-client-post", id: "ci", status: 401, code: "invalid_client"},
		{name: "a Bearer token instead", event: "token-client-basic", auth: ptr("Bearer abc"), status: 401, code: "invalid_client"},
		{name: "a bad Basic header", event: "token-client-basic", auth: ptr("Basic !!!"), status: 401, code: "invalid_client"},
		{name: "Basic and client_secret", event: "token-client-basic", id: "ci", secret: ciSecret, extra: "&client_secret=" + ciSecret, status: 400, code: "invalid_request"},
		{name: "Basic and another client_id", event: "token-client-basic", id: "ci", secret: ciSecret, extra: "&client_id=off", status: 400, code: "invalid_request"},
		{name: "scope twice", event: "token-client-basic", id: "ci", secret: ciSecret, extra: "&scope=orders:read", status: 400, code: "invalid_request"},
		{name: "the public client", event: "token-client-post", id: "latchkey", status: 400, code: "unauthorized_client"},
		{name: "the public client by Basic", event: "token-client-basic", auth: ptr(basic("latchkey", "")), status: 400, code: "unauthorized_client"},
		{name: "a disabled client", event: "token-client-basic", id: "off", secret: offSecret, status: 400, code: "unauthorized_client"},
		{name: "a scope beyond the client's", event: "token-client-basic", id: "ci", secret: ciSecret, scope: "orders:read admin", status: 400, code: "invalid_scope"},
	}
	for _, c := range cases {
		f := newFixture(t)
		req := clientEvent(t, c.event, c.id, c.secret, c.scope)
		if c.auth != nil {
			req.Headers["authorization"] = *c.auth
		}
		req.Body += c.extra
		resp := f.do(t, req)
		if resp.StatusCode != c.status || decode(t, resp)["error"] != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, resp.StatusCode, resp.Body, c.status, c.code)
		}
		if want := map[bool]string{true: `Basic realm="latchkey"`, false: ""}[c.status == 401]; resp.Headers["WWW-Authenticate"] != want {
			t.Errorf("%s: WWW-Authenticate %q, want %q", c.name, resp.Headers["WWW-Authenticate"], want)
		}
	}
}

func ptr(s string) *string { return &s }

func TestClientCredentialsRateLimited(t *testing.T) {
	f := newFixture(t)
	f.machines.TokenByClient = core.Rule{Name: "token-client", Limit: 2, Window: time.Minute}
	for range 2 {
		f.do(t, clientEvent(t, "token-client-basic", "ci", "wrong", ""))
	}
	resp := f.do(t, clientEvent(t, "token-client-basic", "ci", ciSecret, ""))
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] == "" || decode(t, resp)["error"] != "slow_down" {
		t.Fatalf("status %d headers %v body %s", resp.StatusCode, resp.Headers, resp.Body)
	}
}

// TestMachineTokenRoutes: a machine client's token is no user's: refused on the user routes and
// by logout; introspection reports it (without sid) until /v1/revoke denies its jti.
func TestMachineTokenRoutes(t *testing.T) {
	f := newFixture(t)
	body := decode(t, f.do(t, clientEvent(t, "token-client-basic", "ci", ciSecret, "orders:read")))
	at, _ := body["access_token"].(string)
	tr := core.TokenResponse{AccessToken: at, SessionID: core.NewID()}
	for _, name := range []string{"list-sessions", "logout", "end-other-sessions"} {
		resp := f.do(t, event(t, name, tr))
		if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
			t.Errorf("%s with a machine token: %d %v %s", name, resp.StatusCode, resp.Headers, resp.Body)
		}
	}
	introspect := event(t, "introspect", tr)
	introspect.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("rs:rs-secret"))
	got := decode(t, f.do(t, introspect))
	if got["active"] != true || got["sub"] != "ci" || got["client_id"] != "ci" || got["scope"] != "orders:read" || got["jti"] == nil {
		t.Fatalf("introspection of a machine token: %v", got)
	}
	if _, ok := got["sid"]; ok {
		t.Fatalf("introspection of a machine token has a sid: %v", got)
	}
	revoke := event(t, "revoke", tr)
	revoke.Body = "token=" + url.QueryEscape(at) + "&token_type_hint=access_token"
	if resp := f.do(t, revoke); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, resp.Body)
	}
	if got := decode(t, f.do(t, introspect)); len(got) != 1 || got["active"] != false {
		t.Fatalf("a revoked machine token: %v", got)
	}
}
