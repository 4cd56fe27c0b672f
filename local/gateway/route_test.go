package main

import (
	"maps"
	"testing"
)

func TestRouterMatch(t *testing.T) {
	var router Router
	for _, r := range []struct{ method, path, fn string }{
		{"GET", "/health", "health"},
		{"GET", "/v1/me/passkeys", "list"},
		{"GET", "/v1/me/passkeys/{id}", "get"},
		{"DELETE", "/v1/me/passkeys/{id}", "delete"},
		{"GET", "/v1/me/passkeys/current", "current"},
		{"ANY", "/v1/me/passkeys/{id}", "any"},
		{"GET", "/files/{proxy+}", "files"},
		{"GET", "/files/{dir}/readme", "readme"},
		{"ANY", "/{proxy+}", "catchall"},
		{"GET", "/", "root"},
	} {
		route, err := NewRoute(r.method, r.path, r.fn)
		if err != nil {
			t.Fatal(err)
		}
		router.routes = append(router.routes, route)
	}

	for _, tc := range []struct {
		method, path string
		fn           string
		params       map[string]string
	}{
		{"GET", "/health", "health", nil},
		{"GET", "/", "root", nil},
		{"GET", "/v1/me/passkeys", "list", nil},
		{"GET", "/v1/me/passkeys/abc", "get", map[string]string{"id": "abc"}},
		{"GET", "/v1/me/passkeys/a%2Fb%20c", "get", map[string]string{"id": "a/b c"}},
		{"DELETE", "/v1/me/passkeys/abc", "delete", map[string]string{"id": "abc"}},
		{"PATCH", "/v1/me/passkeys/abc", "any", map[string]string{"id": "abc"}},
		{"GET", "/v1/me/passkeys/current", "current", nil}, // a literal beats {id}
		{"GET", "/files/a/b/c.txt", "files", map[string]string{"proxy": "a/b/c.txt"}},
		{"GET", "/files/docs/readme", "readme", map[string]string{"dir": "docs"}},
		{"GET", "/files/", "catchall", map[string]string{"proxy": "files/"}},
		{"POST", "/health", "catchall", map[string]string{"proxy": "health"}},
		{"GET", "/v1/me/passkeys/abc/extra", "catchall", map[string]string{"proxy": "v1/me/passkeys/abc/extra"}},
	} {
		route, params, ok := router.Match(tc.method, tc.path)
		if !ok || route.Function != tc.fn || !maps.Equal(params, tc.params) {
			t.Errorf("%s %s = %q %v %v, want %q %v", tc.method, tc.path, route.Function, params, ok, tc.fn, tc.params)
		}
	}
}

func TestRouterNoMatch(t *testing.T) {
	var router Router
	for _, p := range []string{"/health", "/v1/me/passkeys/{id}"} {
		route, err := NewRoute("GET", p, "fn")
		if err != nil {
			t.Fatal(err)
		}
		router.routes = append(router.routes, route)
	}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/health"},
		{"GET", "/health/"},
		{"GET", "/healthz"},
		{"GET", "/v1/me/passkeys"},
		{"GET", "/v1/me/passkeys/"},
		{"GET", "/"},
	} {
		if route, _, ok := router.Match(tc.method, tc.path); ok {
			t.Errorf("%s %s matched %s", tc.method, tc.path, route.Key())
		}
	}

	def, err := NewRoute("", "", "default")
	if err != nil {
		t.Fatal(err)
	}
	router.routes = append(router.routes, def)
	if route, _, ok := router.Match("POST", "/anything"); !ok || route.Key() != "$default" {
		t.Errorf("$default did not catch POST /anything: %v %v", route.Key(), ok)
	}
	if route, _, _ := router.Match("GET", "/health"); route.Key() != "GET /health" {
		t.Errorf("$default won over GET /health")
	}
}
