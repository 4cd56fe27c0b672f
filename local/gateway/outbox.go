package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
)

// outboxPath is the local-only page of the emails the stack has sent. It is never deployed:
// the functions send through SES, and this reads what the SES emulator (moto) recorded.
const outboxPath = "/local/outbox"

// motoDataPath is moto server's dump of every object it holds, SES's sent messages among
// them (models Message for simple content, RawMessage for raw).
const motoDataPath = "/moto-api/data.json"

// outboxTimeout bounds the read of moto's dump.
const outboxTimeout = 5 * time.Second

// OutboxMessage is one sent email as the outbox shows it. Body is what moto kept: the HTML
// body of a simple message that has one, else its text body; a raw message's body as sent.
type OutboxMessage struct {
	ID      string   `json:"id"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// motoData is the part of moto's dump the outbox reads.
type motoData struct {
	SES struct {
		Message []struct {
			ID           string `json:"id"`
			Source       string `json:"source"`
			Subject      string `json:"subject"`
			Body         string `json:"body"`
			Destinations struct {
				ToAddresses []string `json:"ToAddresses"`
			} `json:"destinations"`
		} `json:"Message"`
		RawMessage []struct {
			ID           string   `json:"id"`
			Source       string   `json:"source"`
			Destinations []string `json:"destinations"`
			RawData      string   `json:"raw_data"`
		} `json:"RawMessage"`
	} `json:"ses"`
}

// sentMessages reads the messages moto has recorded as sent, newest first: moto lists each
// kind in the order it accepted them, so each list is reversed; simple messages (the ones
// Latchkey sends) come before raw ones, whose order relative to them moto does not record.
func sentMessages(ctx context.Context, client *http.Client, motoURL string) ([]OutboxMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, outboxTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(motoURL, "/")+motoDataPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", motoDataPath, resp.Status)
	}
	var data motoData
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		return nil, fmt.Errorf("GET %s: %w", motoDataPath, err)
	}
	var out []OutboxMessage
	for _, m := range slices.Backward(data.SES.Message) {
		out = append(out, OutboxMessage{ID: m.ID, From: m.Source, To: nonNil(m.Destinations.ToAddresses), Subject: m.Subject, Body: m.Body})
	}
	for _, m := range slices.Backward(data.SES.RawMessage) {
		msg := OutboxMessage{ID: m.ID, From: m.Source, To: nonNil(m.Destinations), Body: m.RawData}
		if parsed, err := mail.ReadMessage(strings.NewReader(m.RawData)); err == nil {
			msg.Subject = decodeHeader(parsed.Header.Get("Subject"))
			if b, err := io.ReadAll(parsed.Body); err == nil {
				msg.Body = string(b)
			}
		}
		out = append(out, msg)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decodeHeader decodes RFC 2047 encoded words, leaving a header it cannot decode as it is.
func decodeHeader(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// sentTo keeps the messages with address among their recipients, case-insensitively.
func sentTo(msgs []OutboxMessage, address string) []OutboxMessage {
	out := []OutboxMessage{}
	for _, m := range msgs {
		if slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(strings.TrimSpace(to), address) }) {
			out = append(out, m)
		}
	}
	return out
}

// outboxCSP is the page's Content-Security-Policy: no script, no request anywhere, styles
// inline only. The sandboxed frames that show each HTML body inherit it (srcdoc), so nothing
// a message holds can run or load, on top of the sandbox giving the frames an opaque origin.
const outboxCSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// outbox answers GET /local/outbox: the emails sent, newest first, optionally only those to
// ?to=<address>; JSON ({"messages":[…]}) for Accept: application/json or ?format=json, else
// a small HTML page.
func (g *Gateway) outbox(w http.ResponseWriter, r *http.Request) {
	if g.motoURL == "" {
		message(w, http.StatusServiceUnavailable, "no SES emulator configured: set AWS_ENDPOINT_URL_SESV2 (or AWS_ENDPOINT_URL_KMS) to moto's URL")
		return
	}
	msgs, err := sentMessages(r.Context(), g.outboxClient, g.motoURL)
	if err != nil {
		g.log.Error("outbox: reading moto's sent messages failed", "moto", g.motoURL, "err", err)
		message(w, http.StatusBadGateway, "the SES emulator at "+g.motoURL+" did not answer")
		return
	}
	q := r.URL.Query()
	to := strings.TrimSpace(q.Get("to"))
	if to != "" {
		msgs = sentTo(msgs, to)
	}
	if msgs == nil {
		msgs = []OutboxMessage{}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		body, _ := json.Marshal(map[string]any{"messages": msgs})
		_, _ = w.Write(append(body, '\n'))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", outboxCSP)
	w.Header().Set("Referrer-Policy", "no-referrer")
	page := outboxPage{To: to, Moto: g.motoURL}
	for _, m := range msgs {
		page.Messages = append(page.Messages, outboxEntry{OutboxMessage: m, Frame: frameDoc(m.Body)})
	}
	if err := outboxTemplate.Execute(w, page); err != nil {
		g.log.Error("outbox: page", "err", err)
	}
}

// wantsJSON reports whether the client asked for JSON: ?format=json, or an Accept header
// naming application/json.
func wantsJSON(r *http.Request) bool {
	if r.URL.Query().Get("format") == "json" {
		return true
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// frameDoc is the document of the sandboxed frame that shows a body: an HTML body as it is, a
// text body escaped inside <pre>. html/template escapes it again as the srcdoc attribute, so it
// never becomes markup of the page itself.
func frameDoc(body string) string {
	lower := strings.ToLower(body)
	if strings.Contains(lower, "<html") || strings.Contains(lower, "<body") || strings.Contains(lower, "</p>") ||
		strings.Contains(lower, "<br") || strings.Contains(lower, "</div>") || strings.Contains(lower, "</a>") {
		return body
	}
	return "<pre style=\"white-space:pre-wrap;font:14px/1.4 monospace;margin:0\">" + template.HTMLEscapeString(body) + "</pre>"
}

type outboxPage struct {
	To       string
	Moto     string
	Messages []outboxEntry
}

type outboxEntry struct {
	OutboxMessage
	Frame string
}

// outboxTemplate is the outbox page. html/template escapes every value in its context; the
// only markup from a message is each frame's srcdoc, inside a sandbox without allow-scripts.
var outboxTemplate = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Latchkey local outbox</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; padding: 0 1rem; color: #222; }
article { border: 1px solid #ccc; border-radius: 6px; margin: 1rem 0; padding: .75rem 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem; margin: 0 0 .5rem; }
dt { color: #666; } dd { margin: 0; overflow-wrap: anywhere; }
iframe { width: 100%; height: 16rem; border: 1px solid #ddd; background: #fff; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f6f6; padding: .5rem; }
.note { color: #666; }
</style>
</head>
<body>
<h1>Outbox</h1>
<p class="note">The emails this local stack has sent, newest first, as the SES emulator ({{.Moto}}) recorded them.
Local only: nothing here was delivered. JSON: <code>?format=json</code>. Filter: <code>?to=address</code>.</p>
{{if .To}}<p>Only messages to <strong>{{.To}}</strong>. <a href="?">Show all</a>.</p>{{end}}
{{range .Messages}}
<article>
<dl>
<dt>Subject</dt><dd>{{.Subject}}</dd>
<dt>From</dt><dd>{{.From}}</dd>
<dt>To</dt><dd>{{range $i, $a := .To}}{{if $i}}, {{end}}<a href="?to={{$a}}">{{$a}}</a>{{end}}</dd>
<dt>Id</dt><dd>{{.ID}}</dd>
</dl>
<iframe sandbox="" referrerpolicy="no-referrer" title="body of {{.Subject}}" srcdoc="{{.Frame}}"></iframe>
<details><summary>Source</summary><pre>{{.Body}}</pre></details>
</article>
{{else}}
<p>No email sent yet{{if .To}} to {{.To}}{{end}}.</p>
{{end}}
</body>
</html>
`))
