// Package message renders the emails Latchkey sends, one plain-text and one HTML body per
// kind of message, from the templates beside it, with the application's name. A message
// holds no secret but the code it exists to deliver, and no link: a link in an email would be
// opened by mail scanners, so nothing is ever consumed by following one.
package message

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/latchkey/latchkey/core"
)

// The kinds of message, each a template of text.tmpl and html.tmpl.
const (
	SignUpCode        = "signup_code"        // a sign-up code for a free address
	SignUpTaken       = "signup_taken"       // someone tried to sign up with an address that has an account
	RecoveryCode      = "recovery_code"      // an email code that starts a recovery
	RecoveryStarted   = "recovery_started"   // a recovery began: when it completes, and the cancel code
	RecoveryCompleted = "recovery_completed" // a recovery enrolled a new passkey and ended the other sessions
	RecoveryCancelled = "recovery_cancelled" // a pending recovery was cancelled
)

// Data is what the templates may show. App is the application's name (the relying party's
// name); the other fields are set for the kinds that use them.
type Data struct {
	App         string
	Code        string        // the email code (signup_code, recovery_code)
	ExpiresIn   time.Duration // how long Code works
	Method      string        // how a recovery started: "email" or "code"
	AvailableAt time.Time     // when a started recovery can complete
	CancelCode  string        // the code that cancels a started recovery
}

//go:embed text.tmpl html.tmpl
var files embed.FS

var (
	text = texttemplate.Must(texttemplate.New("text.tmpl").Funcs(texttemplate.FuncMap{"minutes": minutes, "when": when}).ParseFS(files, "text.tmpl"))
	html = htmltemplate.Must(htmltemplate.New("html.tmpl").Funcs(htmltemplate.FuncMap{"minutes": minutes, "when": when}).ParseFS(files, "html.tmpl"))
)

// Render builds the message of kind for the recipient to. KindInternal for a kind without
// templates.
func Render(kind, to string, d Data) (core.Message, error) {
	const op core.Op = "message.Render"
	var subject, body, page bytes.Buffer
	if err := text.ExecuteTemplate(&subject, kind+".subject", d); err != nil {
		return core.Message{}, core.Wrap(op, err)
	}
	if err := text.ExecuteTemplate(&body, kind, d); err != nil {
		return core.Message{}, core.Wrap(op, err)
	}
	if err := html.ExecuteTemplate(&page, kind, d); err != nil {
		return core.Message{}, core.Wrap(op, err)
	}
	return core.Message{
		Kind:    kind,
		To:      to,
		Subject: strings.TrimSpace(subject.String()),
		Text:    strings.TrimSpace(body.String()) + "\n",
		HTML:    page.String(),
	}, nil
}

// minutes is d in whole minutes, for "expires in 10 minutes".
func minutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// when is t as a person reads it, in UTC.
func when(t time.Time) string { return t.UTC().Format("Monday 2 January 2006, 15:04 MST") }
