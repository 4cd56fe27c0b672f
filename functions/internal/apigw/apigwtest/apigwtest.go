// Package apigwtest serves handler tests: it loads the sample API Gateway events of events/
// with their {{placeholders}} filled, calls a handler and decodes its answer.
package apigwtest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/functions/internal/apigw"
)

// Event loads events/<function>/<name>.json and replaces each {{key}} of vars in its body,
// path, headers and path parameters.
func Event(t testing.TB, function, name string, vars map[string]string) apigw.Request {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "events", function, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var req apigw.Request
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s/%s: %v", function, name, err)
	}
	fill := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	req.Body, req.RawPath, req.RequestContext.HTTP.Path = fill(req.Body), fill(req.RawPath), fill(req.RequestContext.HTTP.Path)
	for k, v := range req.Headers {
		req.Headers[k] = fill(v)
	}
	for k, v := range req.PathParameters {
		req.PathParameters[k] = fill(v)
	}
	return req
}

// Do calls serve with req and fails the test if the handler returned a Go error (the Lambda
// would fail) or answered a 5xx other than 503 (internal errors are bugs in a handler test).
func Do(t testing.TB, serve func(context.Context, apigw.Request) (apigw.Response, error), req apigw.Request) apigw.Response {
	t.Helper()
	resp, err := serve(context.Background(), req)
	if err != nil {
		t.Fatalf("handler returned an error: %v", err)
	}
	if resp.StatusCode >= 500 && resp.StatusCode != 503 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	return resp
}

// Decode returns the answer's JSON object.
func Decode(t testing.TB, resp apigw.Response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	return m
}

// root is the module root: the nearest folder above the test's working directory with go.mod.
func root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
