package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeMotoData is a dump as moto 5 writes it at /moto-api/data.json: other services beside SES,
// messages in the order moto accepted them, one of them hostile.
const fakeMotoData = `{
  "kms": {"Key": [{"id": "k"}]},
  "ses": {
    "Message": [
      {"id": "m1", "source": "no-reply@latchkey.local", "subject": "Your code", "body": "<p>Your code is <b>111111</b>.</p>",
       "destinations": {"ToAddresses": ["alice@example.com"]}},
      {"id": "m2", "source": "no-reply@latchkey.local", "subject": "Plain <i>text</i>", "body": "line one\nline <two> & three",
       "destinations": {"ToAddresses": ["Bob@Example.com"]}},
      {"id": "m3", "source": "no-reply@latchkey.local", "subject": "<script>alert(1)</script>",
       "body": "<html><body><script>parent.document.title='pwned'</script><img src=x onerror=alert(2)>\"'</body></html>",
       "destinations": {"ToAddresses": ["alice@example.com"]}}
    ],
    "RawMessage": [
      {"id": "r1", "source": "raw@latchkey.local", "destinations": ["carol@example.com"],
       "raw_data": "Subject: =?UTF-8?Q?Caf=C3=A9?=\r\nFrom: raw@latchkey.local\r\n\r\nraw body\r\n"}
    ]
  }
}`

func outboxGateway(t *testing.T, handler http.Handler) *Gateway {
	t.Helper()
	moto := httptest.NewServer(handler)
	t.Cleanup(moto.Close)
	return &Gateway{motoURL: moto.URL, outboxClient: moto.Client(), log: slog.New(slog.DiscardHandler)}
}

func fakeMoto() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/moto-api/data.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, fakeMotoData)
	})
}

func getOutbox(t *testing.T, g *Gateway, path, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Result(), string(b)
}

// TestOutboxJSON: JSON on request, newest first, filtered by recipient case-insensitively.
func TestOutboxJSON(t *testing.T) {
	g := outboxGateway(t, fakeMoto())
	ids := func(body string) []string {
		t.Helper()
		var got struct {
			Messages []OutboxMessage `json:"messages"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.Messages == nil {
			t.Fatalf("body %s: %v", body, err)
		}
		var out []string
		for _, m := range got.Messages {
			out = append(out, m.ID)
		}
		return out
	}
	for _, c := range []struct {
		path, accept string
		want         string
	}{
		{"/local/outbox", "application/json", "m3 m2 m1 r1"},
		{"/local/outbox?format=json", "", "m3 m2 m1 r1"},
		{"/local/outbox", "text/html;q=0.9, application/json;q=0.8", "m3 m2 m1 r1"},
		{"/local/outbox?format=json&to=alice@example.com", "", "m3 m1"},
		{"/local/outbox?format=json&to=bob@example.com", "", "m2"},
		{"/local/outbox?format=json&to=nobody@example.com", "", ""},
	} {
		resp, body := getOutbox(t, g, c.path, c.accept)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", c.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := strings.Join(ids(body), " "); got != c.want {
			t.Errorf("%s (Accept %q): %s, want %s", c.path, c.accept, got, c.want)
		}
	}

	_, body := getOutbox(t, g, "/local/outbox?format=json&to=carol@example.com", "")
	var got struct {
		Messages []OutboxMessage `json:"messages"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Messages) != 1 {
		t.Fatalf("%s: %v", body, err)
	}
	if m := got.Messages[0]; m.From != "raw@latchkey.local" || m.Subject != "Café" || m.Body != "raw body\r\n" || m.To[0] != "carol@example.com" {
		t.Errorf("raw message = %+v", m)
	}
	_, body = getOutbox(t, g, "/local/outbox?format=json&to=bob@example.com", "")
	if want := `{"messages":[{"id":"m2","from":"no-reply@latchkey.local","to":["Bob@Example.com"],"subject":"Plain \u003ci\u003etext\u003c/i\u003e","body":"line one\nline \u003ctwo\u003e \u0026 three"}]}` + "\n"; body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

// TestOutboxPage: the HTML page escapes every value, shows each body only inside a sandboxed
// frame without scripts, under a policy that allows no script at all.
func TestOutboxPage(t *testing.T) {
	g := outboxGateway(t, fakeMoto())
	resp, page := getOutbox(t, g, "/local/outbox", "text/html")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", resp.Header)
	}
	// Nothing of a message is markup of the page: no tag of theirs appears unescaped.
	for _, bad := range []string{"<script", "<img", "onerror=alert(2)>", "<b>111111</b>", "<i>text</i>", "<two>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q unescaped", bad)
		}
	}
	if strings.Count(page, "<iframe ") != 4 || strings.Count(page, `<iframe sandbox="" `) != 4 || strings.Contains(page, "allow-scripts") {
		t.Errorf("want four frames, each sandboxed without scripts:\n%s", page)
	}
	// The bodies are there, escaped: in srcdoc (rendered in the frame) and as source text.
	for _, want := range []string{
		`srcdoc="&lt;p&gt;Your code is &lt;b&gt;111111&lt;/b&gt;.&lt;/p&gt;"`,
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"line one\nline &lt;two&gt; &amp; three",
		`href="?to=alice%40example.com"`,
		"Café",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// A text body is shown as text inside the frame, escaped twice: once for the frame's
	// document, once for the attribute.
	if !strings.Contains(page, "line &amp;lt;two&amp;gt; &amp;amp; three") {
		t.Errorf("text body not escaped inside its frame:\n%s", page)
	}

	_, page = getOutbox(t, g, "/local/outbox?to=%22%3E%3Cscript%3E", "")
	if strings.Contains(page, "<script>") || !strings.Contains(page, "No email sent yet to &#34;&gt;&lt;script&gt;") {
		t.Errorf("filter echoed unsafely:\n%s", page)
	}
}

// TestOutboxWithoutMoto: no emulator configured answers 503, one that does not answer 502.
func TestOutboxWithoutMoto(t *testing.T) {
	g := &Gateway{log: slog.New(slog.DiscardHandler)}
	if resp, body := getOutbox(t, g, "/local/outbox", ""); resp.StatusCode != 503 || !strings.Contains(body, "AWS_ENDPOINT_URL_SESV2") {
		t.Errorf("no moto: %d %s", resp.StatusCode, body)
	}
	g = outboxGateway(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	if resp, _ := getOutbox(t, g, "/local/outbox", ""); resp.StatusCode != 502 {
		t.Errorf("moto failing: %d", resp.StatusCode)
	}
	g = outboxGateway(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	g.motoURL = "http://127.0.0.1:1"
	if resp, _ := getOutbox(t, g, "/local/outbox", "application/json"); resp.StatusCode != 502 {
		t.Errorf("moto unreachable: %d", resp.StatusCode)
	}
}

func TestMotoURL(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"AWS_ENDPOINT_URL_SESV2": "http://127.0.0.1:5001", "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:5000"}, "http://127.0.0.1:5001"},
		{map[string]string{"AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:5000"}, "http://127.0.0.1:5000"},
		{map[string]string{}, ""},
	} {
		if got := motoURL(func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("motoURL(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}
