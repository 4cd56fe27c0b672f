package main

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStaticVendor: /vendor/… comes from the vendor folder and nowhere else, /local/rp/… from
// the example relying party's (its callback path serving its index.html), the rest from the
// demo folder, and none lets a path climb out of its folder.
func TestStaticVendor(t *testing.T) {
	root := t.TempDir()
	demo, vendor, rp := filepath.Join(root, "demo"), filepath.Join(root, "vendor"), filepath.Join(root, "rp")
	files := map[string]string{
		"demo/index.html":       "<h1>demo</h1>",
		"demo/app.js":           "// app",
		"demo/vendor/lib.js":    "// a demo file shadowed by the vendor prefix",
		"vendor/lib.umd.min.js": "// vendored",
		"rp/index.html":         "<h1>rp</h1>",
		"rp/rp.js":              "// rp",
		"demo/local/rp/x.js":    "// a demo file shadowed by the rp prefix",
		"secret.txt":            "outside both folders",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(g *Gateway, method, path string) (int, string, string) {
		t.Helper()
		w := httptest.NewRecorder()
		g.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, w.Header().Get("Content-Type"), string(b)
	}
	g := &Gateway{demoDir: demo, vendorDir: vendor, rpDir: rp, log: slog.New(slog.DiscardHandler)}
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/", 200, "<h1>demo</h1>"},
		{"GET", "/app.js", 200, "// app"},
		{"GET", "/vendor/lib.umd.min.js", 200, "// vendored"},
		{"HEAD", "/vendor/lib.umd.min.js", 200, ""},
		{"GET", "/vendor/lib.js", 404, `{"message":"Not Found"}`},
		{"GET", "/vendor/../secret.txt", 404, `{"message":"Not Found"}`},
		{"GET", "/vendor/%2e%2e/secret.txt", 404, `{"message":"Not Found"}`},
		{"GET", "/../secret.txt", 404, `{"message":"Not Found"}`},
		{"POST", "/vendor/lib.umd.min.js", 404, `{"message":"Not Found"}`},
		{"GET", "/local/rp/", 200, "<h1>rp</h1>"},
		{"GET", "/local/rp/callback", 200, "<h1>rp</h1>"},
		{"GET", "/local/rp/callback?code=c&state=s", 200, "<h1>rp</h1>"},
		{"GET", "/local/rp/rp.js", 200, "// rp"},
		{"GET", "/local/rp/x.js", 404, `{"message":"Not Found"}`},
		{"GET", "/local/rp/callback/", 404, `{"message":"Not Found"}`},
		{"GET", "/local/rp/../../secret.txt", 404, `{"message":"Not Found"}`},
		{"GET", "/local/rp/%2e%2e/secret.txt", 404, `{"message":"Not Found"}`},
	} {
		status, _, body := get(g, c.method, c.path)
		if status != c.status || body != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, status, body, c.status, c.body)
		}
	}
	if _, ct, _ := get(g, "GET", "/vendor/lib.umd.min.js"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("vendored script served as %q", ct)
	}

	if status, _, _ := get(g, "GET", "/local/rp"); status != 301 {
		t.Errorf("GET /local/rp answered %d, want a redirect to /local/rp/", status)
	}

	// Without a vendor or rp folder, /vendor/ and /local/rp/ serve nothing, not even the demo
	// folder's files.
	g.vendorDir, g.rpDir = "", ""
	for _, p := range []string{"/local/rp/", "/local/rp/x.js", "/local/rp"} {
		if status, _, _ := get(g, "GET", p); status != 404 {
			t.Errorf("no rp folder: GET %s answered %d", p, status)
		}
	}
	if status, _, _ := get(g, "GET", "/vendor/lib.js"); status != 404 {
		t.Errorf("no vendor folder: GET /vendor/lib.js answered %d", status)
	}
	if status, _, _ := get(g, "GET", "/app.js"); status != 200 {
		t.Errorf("no vendor folder: GET /app.js answered %d", status)
	}
}
