package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestCORSFromTheTemplate: the gateway answers CORS with template.yaml's CorsConfiguration
// (methods, headers, max age) for the origins it is given, and says nothing to other origins.
func TestCORSFromTheTemplate(t *testing.T) {
	c, err := LoadCORS("../../template.yaml", []string{"http://localhost:3000", "http://localhost:5173"})
	if err != nil {
		t.Fatal(err)
	}
	want := CORS{
		Origins:       []string{"http://localhost:3000", "http://localhost:5173"},
		Methods:       []string{"GET", "POST", "PATCH", "DELETE"},
		AllowHeaders:  []string{"authorization", "content-type"},
		ExposeHeaders: []string{"retry-after", "www-authenticate", "x-request-id"},
		MaxAge:        3600,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("CORS from the template = %+v, want %+v", c, want)
	}
	g := &Gateway{cors: c, demoDir: t.TempDir()}
	do := func(method, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/token", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if method == http.MethodOptions {
			r.Header.Set("Access-Control-Request-Method", "POST")
			r.Header.Set("Access-Control-Request-Headers", "content-type")
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	w := do(http.MethodOptions, "http://localhost:5173")
	h := w.Header()
	if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != "http://localhost:5173" || h.Get("Access-Control-Allow-Methods") != "GET,POST,PATCH,DELETE" ||
		h.Get("Access-Control-Allow-Headers") != "authorization,content-type" || h.Get("Access-Control-Max-Age") != "3600" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight from an allowed origin: %d %v", w.Code, h)
	}
	if w := do(http.MethodGet, "http://localhost:5173"); w.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
		w.Header().Get("Access-Control-Expose-Headers") != "retry-after,www-authenticate,x-request-id" {
		t.Fatalf("a request from an allowed origin: %v", w.Header())
	}
	for _, m := range []string{http.MethodOptions, http.MethodGet} {
		w := do(m, "http://localhost:8080")
		for k := range w.Header() {
			if len(k) > 15 && k[:15] == "Access-Control-" {
				t.Fatalf("%s from an origin not allowed carries %s", m, k)
			}
		}
		if m == http.MethodOptions && w.Code != 204 {
			t.Fatalf("preflight from an origin not allowed: %d", w.Code)
		}
	}
}
