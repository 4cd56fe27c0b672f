package main

import (
	"context"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// machineToken issues a machine client's token for scope on f's signer, with the verifier
// knowing clients.
func machineToken(t *testing.T, f *fixture, clients core.MachineClients, id, scope string) string {
	t.Helper()
	f.sessions.Verifier.Machines = clients
	raw, _, err := f.sessions.Minter.IssueClient(context.Background(), id, scope, t0)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var ci = core.MachineClients{"ci": {ID: "ci", Scopes: []string{"orders:read", "orders:write"}, Enabled: true}}

// TestAllowsAMachineToken: a machine client's token passes with sub = client_id = the client,
// no sid, its scope and jti; once the client is disabled or removed, or its jti is denied, it
// is refused at the next decision.
func TestAllowsAMachineToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := machineToken(t, f, ci, "ci", "orders:read")
	r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", raw)))
	want := map[string]any{"sub": "ci", "client_id": "ci", "sid": "", "scope": "orders:read", "credential": "access_token"}
	for k, v := range want {
		if r.Context[k] != v {
			t.Fatalf("context %v, want %s = %v", r.Context, k, v)
		}
	}
	if !r.IsAuthorized || r.Context["jti"] == "" {
		t.Fatalf("%+v", r)
	}
	out, err := f.h.Handle(ctx, sample(t, "rest-token", raw))
	if p, ok := out.(events.APIGatewayCustomAuthorizerResponse); err != nil || !ok || p.PrincipalID != "ci" || p.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("REST TOKEN: %+v %v", out, err)
	}
	for name, set := range map[string]core.MachineClients{
		"disabled": {"ci": {ID: "ci", Scopes: []string{"orders:read"}}},
		"removed":  {},
	} {
		f.sessions.Verifier.Machines = set
		if r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", raw))); r.IsAuthorized {
			t.Errorf("%s client: allowed", name)
		}
	}
	f.sessions.Verifier.Machines = ci
	if err := f.sessions.Revoke(ctx, raw, "access_token"); err != nil {
		t.Fatal(err)
	}
	if r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", raw))); r.IsAuthorized {
		t.Fatal("a revoked machine token: allowed")
	}
}

// TestRoutePolicy: a credential lacking a scope its route requires is denied, on every event
// type, whoever it is (a user's token, a machine client's); an unlisted route needs none; the
// denial is audited with the route and never the token.
func TestRoutePolicy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t) // the user's token holds orders:read
	logs := &coretest.Logs{}
	f.h.log = slog.New(slog.NewJSONHandler(logs, nil))
	writer := machineToken(t, f, ci, "ci", "orders:write")
	reader := machineToken(t, f, ci, "ci", "orders:read")
	user := f.token.AccessToken

	// Each sample event calls GET /orders.
	for _, c := range []struct {
		name   string
		policy routePolicy
		token  string
		allow  bool
	}{
		{"unlisted route", routePolicy{"GET /other": {"admin"}}, writer, true},
		{"the user holds the scope", routePolicy{"GET /orders": {"orders:read"}}, user, true},
		{"the machine client holds the scope", routePolicy{"GET /orders": {"orders:read"}}, reader, true},
		{"the machine client's token lacks it", routePolicy{"GET /orders": {"orders:read"}}, writer, false},
		{"the user lacks it", routePolicy{"GET /orders": {"orders:write"}}, user, false},
		{"ANY of the path", routePolicy{"ANY /orders": {"orders:write"}}, reader, false},
		{"both lists", routePolicy{"GET /orders": {"orders:read"}, "ANY /orders": {"orders:write"}}, reader, false},
		{"no policy", nil, writer, true},
	} {
		f.h.policy = c.policy
		r := simple(t)(f.h.Handle(ctx, sample(t, "http-api-v2", c.token)))
		if r.IsAuthorized != c.allow {
			t.Errorf("%s, HTTP API: authorized %v, want %v", c.name, r.IsAuthorized, c.allow)
		}
		for _, rest := range []string{"rest-token", "rest-request"} {
			out, err := f.h.Handle(ctx, sample(t, rest, c.token))
			p, ok := out.(events.APIGatewayCustomAuthorizerResponse)
			if err != nil || !ok {
				t.Fatalf("%s, %s: %v %v (a scope denial is a Deny policy, 403, not a 401)", c.name, rest, out, err)
			}
			if effect := p.PolicyDocument.Statement[0].Effect; (effect == "Allow") != c.allow {
				t.Errorf("%s, %s: %s", c.name, rest, effect)
			}
		}
	}
	if !strings.Contains(logs.String(), `"reason":"insufficient_scope","route":"GET /orders"`) {
		t.Errorf("no audit of the denial with its route:\n%s", logs)
	}
	for _, tok := range []string{writer, user} {
		if strings.Contains(logs.String(), tok) {
			t.Fatal("a token was logged")
		}
	}
}

func TestRouteOf(t *testing.T) {
	httpEvent := func(routeKey, method, path string) event {
		var ev event
		ev.RouteKey, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = routeKey, method, path
		return ev
	}
	for _, c := range []struct {
		ev   event
		want route
	}{
		{httpEvent("GET /orders/{id}", "GET", "/orders/7"), route{"GET", []string{"/orders/{id}", "/orders/7"}}},
		{httpEvent("ANY /orders/{id}", "DELETE", "/orders/7"), route{"DELETE", []string{"/orders/{id}", "/orders/7"}}},
		{httpEvent("$default", "POST", "/admin/users"), route{"POST", []string{"/admin/users"}}},
		{event{HTTPMethod: "DELETE", Resource: "/orders/{id}", Path: "/orders/7", MethodArn: "arn:aws:execute-api:r:a:api/prod/DELETE/orders/7"}, route{"DELETE", []string{"/orders/{id}", "/orders/7"}}},
		{event{MethodArn: "arn:aws:execute-api:r:a:api/prod/GET/orders/7"}, route{"GET", []string{"/orders/7"}}},
		{event{MethodArn: "arn:aws:execute-api:r:a:api/prod/GET/"}, route{"GET", []string{"/"}}},
		{event{MethodArn: "garbage"}, route{}},
	} {
		if got := routeOf(c.ev); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %+v, want %+v", c.ev, got, c.want)
		}
	}
}

// An entry applies to every request it names, however the gateway routes it: an ANY route, the
// $default route, and a REST TOKEN authorizer's concrete path all meet the entries written as
// routes with parameters.
func TestRoutePolicyMatchesEveryFormOfARoute(t *testing.T) {
	p := routePolicy{
		"DELETE /orders/{id}": {"orders:write"},
		"ANY /admin/{proxy+}": {"admin"},
		"GET /orders":         {"orders:read"},
	}
	httpEvent := func(routeKey, method, path string) event {
		var ev event
		ev.RouteKey, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = routeKey, method, path
		return ev
	}
	for _, c := range []struct {
		name string
		ev   event
		want []string
	}{
		{"an ANY route called with DELETE", httpEvent("ANY /orders/{id}", "DELETE", "/orders/7"), []string{"orders:write"}},
		{"an ANY route called with GET", httpEvent("ANY /orders/{id}", "GET", "/orders/7"), nil},
		{"the $default route", httpEvent("$default", "DELETE", "/orders/7"), []string{"orders:write"}},
		{"a proxy path under $default", httpEvent("$default", "GET", "/admin/users/1"), []string{"admin"}},
		{"REST TOKEN: the path called", event{MethodArn: "arn:aws:execute-api:r:a:api/prod/GET/admin/users"}, []string{"admin"}},
		{"REST TOKEN: a trailing slash", event{MethodArn: "arn:aws:execute-api:r:a:api/prod/GET/orders/"}, []string{"orders:read"}},
		{"REST TOKEN: a parameter", event{MethodArn: "arn:aws:execute-api:r:a:api/prod/DELETE/orders/7"}, []string{"orders:write"}},
		{"a proxy+ needs a segment", event{MethodArn: "arn:aws:execute-api:r:a:api/prod/GET/admin"}, nil},
		{"a parameter is one segment", event{MethodArn: "arn:aws:execute-api:r:a:api/prod/DELETE/orders/7/items"}, nil},
	} {
		if got := p.missing(routeOf(c.ev), ""); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: missing %v, want %v", c.name, got, c.want)
		}
	}
	if m := (routePolicy{"GET /a": {"x", "y"}}).missing(route{"GET", []string{"/a"}}, "y z"); !reflect.DeepEqual(m, []string{"x"}) {
		t.Errorf("missing %v", m)
	}
}

// The route policy holds for API keys too: the scopes it checks are the key's.
func TestRoutePolicyForAPIKeys(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := f.newKey(t, 0).Key // orders:read and orders:write
	for _, c := range []struct {
		policy routePolicy
		allow  bool
	}{
		{routePolicy{"GET /orders": {"orders:write"}}, true},
		{routePolicy{"GET /orders": {"admin"}}, false},
		{routePolicy{"ANY /orders": {"orders:read", "admin"}}, false},
	} {
		f.h.policy = c.policy
		for _, name := range []string{"http-api-v2", "http-api-v2-api-key"} {
			if r := simple(t)(f.h.Handle(ctx, sample(t, name, key))); r.IsAuthorized != c.allow {
				t.Errorf("%v, %s: authorized %v, want %v", c.policy, name, r.IsAuthorized, c.allow)
			}
		}
		out, err := f.h.Handle(ctx, sample(t, "rest-request-api-key", key))
		p, ok := out.(events.APIGatewayCustomAuthorizerResponse)
		if err != nil || !ok || (p.PolicyDocument.Statement[0].Effect == "Allow") != c.allow {
			t.Errorf("%v, REST: %v %v", c.policy, out, err)
		}
	}
}
