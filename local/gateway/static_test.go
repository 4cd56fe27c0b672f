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

// TestStaticVendor: /vendor/… comes from the vendor folder and nowhere else, the rest from the
// demo folder, and neither lets a path climb out of its folder.
func TestStaticVendor(t *testing.T) {
	root := t.TempDir()
	demo, vendor := filepath.Join(root, "demo"), filepath.Join(root, "vendor")
	files := map[string]string{
		"demo/index.html":       "<h1>demo</h1>",
		"demo/app.js":           "// app",
		"demo/vendor/lib.js":    "// a demo file shadowed by the vendor prefix",
		"vendor/lib.umd.min.js": "// vendored",
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
	g := &Gateway{demoDir: demo, vendorDir: vendor, log: slog.New(slog.DiscardHandler)}
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
	} {
		status, _, body := get(g, c.method, c.path)
		if status != c.status || body != c.body {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, status, body, c.status, c.body)
		}
	}
	if _, ct, _ := get(g, "GET", "/vendor/lib.umd.min.js"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("vendored script served as %q", ct)
	}

	// Without a vendor folder, /vendor/ serves nothing, not even the demo folder's files.
	g.vendorDir = ""
	if status, _, _ := get(g, "GET", "/vendor/lib.js"); status != 404 {
		t.Errorf("no vendor folder: GET /vendor/lib.js answered %d", status)
	}
	if status, _, _ := get(g, "GET", "/app.js"); status != 200 {
		t.Errorf("no vendor folder: GET /app.js answered %d", status)
	}
}
