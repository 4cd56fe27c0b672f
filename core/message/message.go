// Package message renders the emails Latchkey sends: per kind of message a subject, a
// plain-text body and an HTML body, from the templates in texts.go filled with the
// application's name and the message's values (escaped in the HTML). A message holds no secret
// but the code it exists to deliver, and no link: a link in an email would be opened by mail
// scanners, so nothing is ever consumed by following one.
//
// The templates are filled by plain substitution rather than text/template or html/template:
// those call methods through reflection, which makes the linker keep every exported method of
// every SDK client in the binary (several megabytes in each function that sends mail).
package message

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
)

// The kinds of message, each a template of texts.go.
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

// Render builds the message of kind for the recipient to. KindInternal for a kind without
// templates.
func Render(kind, to string, d Data) (core.Message, error) {
	t, ok := templates[kind]
	if !ok {
		return core.Message{}, core.Wrap("message.Render", fmt.Errorf("no templates for message kind %q", kind))
	}
	values := d.values()
	return core.Message{
		Kind:    kind,
		To:      to,
		Subject: fill(t.subject, values, false),
		Text:    fill(t.text, values, false),
		HTML:    htmlHead + fill(t.html, values, true) + htmlFoot,
	}, nil
}

// values are the placeholders of the templates and what they stand for.
func (d Data) values() map[string]string {
	how, when := "with a code sent to this address", ", from "+whenString(d.AvailableAt)
	if d.Method == "code" {
		how, when = "with one of your recovery codes", " now"
	}
	return map[string]string{
		"app": d.App, "code": d.Code, "expires": minutes(d.ExpiresIn), "cancel": d.CancelCode,
		"how": how, "when": when,
	}
}

// fill replaces every {name} of values in t, escaping the values for HTML when asHTML.
func fill(t string, values map[string]string, asHTML bool) string {
	pairs := make([]string, 0, 2*len(values))
	for k, v := range values {
		if asHTML {
			v = html.EscapeString(v)
		}
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(t)
}

// minutes is d in whole minutes, for "expires in 10 minutes".
func minutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// whenString is t as a person reads it, in UTC.
func whenString(t time.Time) string { return t.UTC().Format("Monday 2 January 2006, 15:04 MST") }
