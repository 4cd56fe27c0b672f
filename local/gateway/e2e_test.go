package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/local/testenv"
)

// syncBuffer is a bytes.Buffer safe for the gateway's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// buildEchoFunction builds testdata/echofn as the echo and authorizer functions' bootstrap.
func buildEchoFunction(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Fatalf("the gateway runs linux function binaries, as Lambda does; this host is %s (make dev and make test need Linux)", runtime.GOOS)
	}
	dir := t.TempDir()
	echoBin := filepath.Join(dir, "linux_"+runtime.GOARCH, "echo", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", echoBin, "./testdata/echofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build echofn: %v\n%s", err, out)
	}
	authBin := filepath.Join(dir, "linux_"+runtime.GOARCH, "authorizer", "bootstrap")
	if err := os.MkdirAll(filepath.Dir(authBin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(echoBin, authBin); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGatewayEndToEnd(t *testing.T) {
	buildDir := buildEchoFunction(t)
	demo := t.TempDir()
	if err := os.WriteFile(filepath.Join(demo, "index.html"), []byte("<h1>demo</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(demo, "echo"), []byte("shadowed by the route"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := NewGateway(Config{
		Template: "testdata/template.yaml",
		BuildDir: buildDir,
		Arch:     runtime.GOARCH,
		Emulator: testenv.RIE(t, root),
		DemoDir:  demo,
		Env:      append(os.Environ(), "FROM_GATEWAY=gateway-value"),
		LogOut:   logs,
	}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(func() {
		srv.Close()
		g.Stop()
		if t.Failed() {
			t.Logf("gateway logs:\n%s", logs.String())
		}
	})

	do := func(method, path, auth string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Cookie", "sid=abc")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	expect := func(method, path, auth string, status int, body string) string {
		t.Helper()
		resp, got := do(method, path, auth, nil)
		if resp.StatusCode != status || (body != "" && got != body) {
			t.Fatalf("%s %s: %d %s, want %d %s", method, path, resp.StatusCode, got, status, body)
		}
		return got
	}

	t.Run("event", func(t *testing.T) {
		resp, body := do("POST", "/echo?a=1&a=2", "", strings.NewReader(`{"hello":"world"}`))
		if resp.StatusCode != 200 || resp.Header.Get("Apigw-Requestid") == "" {
			t.Fatalf("POST /echo: %d %v", resp.StatusCode, resp.Header)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Version != "2.0" || ev.RouteKey != "POST /echo" || ev.Body != `{"hello":"world"}` ||
			ev.QueryStringParameters["a"] != "1,2" || ev.RequestContext.HTTP.SourceIP != "127.0.0.1" ||
			len(ev.Cookies) != 1 || ev.Cookies[0] != "sid=abc" {
			t.Errorf("event = %+v", ev)
		}
		waitFor(t, "function output forwarded", func() bool {
			return strings.Contains(logs.String(), "echo | echofn handling /echo\n")
		})
		// The first invocation initialized the function, and its time is logged once.
		if n := strings.Count(logs.String(), `"msg":"function initialized","function":"echo","first_invoke_ms":`); n != 1 {
			t.Errorf("echo's first invocation logged %d times:\n%s", n, logs)
		}
	})

	t.Run("path parameters", func(t *testing.T) {
		for path, want := range map[string]map[string]string{
			"/items/42":       {"id": "42"},
			"/fn/a/b%20c.txt": {"proxy": "a/b c.txt"},
		} {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal([]byte(expect("GET", path, "", 200, "")), &ev); err != nil {
				t.Fatal(err)
			}
			for k, v := range want {
				if ev.PathParameters[k] != v {
					t.Errorf("%s: pathParameters = %v, want %v", path, ev.PathParameters, want)
				}
			}
		}
	})

	t.Run("environment", func(t *testing.T) {
		var env map[string]string
		if err := json.Unmarshal([]byte(expect("GET", "/env", "", 200, "")), &env); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"FROM_TEMPLATE": "template-value", "FROM_GATEWAY": "gateway-value",
			"AWS_LAMBDA_FUNCTION_NAME": "echo", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "_HANDLER": "bootstrap"}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s = %q, want %q", k, env[k], v)
			}
		}
	})

	t.Run("responses", func(t *testing.T) {
		expect("GET", "/simple", "", 200, `"hello"`)
		expect("GET", "/simple-object", "", 200, `{"n":1}`)
		resp, body := do("GET", "/binary", "", nil)
		if resp.StatusCode != 201 || body != "\x00\x01\x02\xff" || len(resp.Cookies()) != 2 ||
			strings.Join(resp.Header.Values("X-Multi"), ",") != "a,b" {
			t.Errorf("GET /binary: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		expect("GET", "/error", "", 500, `{"message":"Internal Server Error"}`)
		expect("GET", "/nope", "", 404, `{"message":"Not Found"}`)
		expect("DELETE", "/echo", "", 404, `{"message":"Not Found"}`)
		expect("GET", "/unbuilt", "", 500, `{"message":"Internal Server Error"}`)
	})

	t.Run("static files", func(t *testing.T) {
		expect("GET", "/", "", 200, "<h1>demo</h1>")
		expect("GET", "/index.html", "", 200, "<h1>demo</h1>")
		expect("GET", "/missing.js", "", 404, `{"message":"Not Found"}`)
		// Template routes win over static files.
		if body := expect("GET", "/echo", "", 200, ""); !strings.Contains(body, `"routeKey":"GET /echo"`) {
			t.Errorf("GET /echo served %q", body)
		}
	})

	t.Run("authorizer", func(t *testing.T) {
		expect("GET", "/local/echo", "", 401, `{"message":"Unauthorized"}`)
		expect("GET", "/local/echo", "Bearer good", 200, `{"authorizer":{"lambda":{"scope":"read","sub":"u1"}}}`)
		expect("GET", "/local/echo", "Bearer deny", 403, `{"message":"Forbidden"}`)
		expect("GET", "/local/echo", "Bearer junk", 500, `{"message":"Internal Server Error"}`)
		expect("GET", "/local/echo", "Bearer error", 500, `{"message":"Internal Server Error"}`)
	})

	inits := func() int {
		return strings.Count(logs.String(), `"function":"echo","first_invoke_ms":`)
	}
	t.Run("restart after crash", func(t *testing.T) {
		before := inits()
		expect("GET", "/crash", "", 502, `{"message":"Bad Gateway"}`)
		expect("GET", "/echo", "", 200, "")
		if inits() != before+1 {
			t.Errorf("echo was not initialized again after its crash")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		before := inits()
		start := time.Now()
		expect("GET", "/sleep", "", 504, `{"message":"Gateway Timeout"}`)
		if took := time.Since(start); took < time.Second || took > 10*time.Second {
			t.Errorf("a 1 s timeout took %v", took)
		}
		expect("GET", "/echo", "", 200, "")
		if inits() != before+1 {
			t.Errorf("echo was not initialized again after its timeout")
		}
	})

	t.Run("queued invocations", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for range 8 {
			wg.Go(func() {
				resp, err := http.Get(srv.URL + "/echo")
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- resp.Status
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
}
