package core

import (
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxEmail is the longest address accepted (RFC 5321 §4.5.3.1.3 path limit less the brackets).
const maxEmail = 254

// NormalizeEmail returns the form of an email address that accounts are keyed by: trimmed,
// in Unicode normalization form C and lower-cased as a whole, so that case and composition
// variants of one address are one account. It checks only the shape (one @, a local part, a
// dotted domain, at most 254 bytes) and refuses spaces, control characters and format
// characters (zero-width joiners, bidirectional overrides: characters that make two addresses
// look alike); KindInvalid otherwise. Whether the mailbox exists is not its business.
func NormalizeEmail(s string) (string, error) {
	const op = "core.NormalizeEmail"
	bad := E(op, KindInvalid, "email is not a valid address", nil)
	if !utf8.ValidString(s) {
		return "", bad
	}
	e := strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	if e == "" || len(e) > maxEmail {
		return "", bad
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	for _, r := range e {
		if unicode.IsSpace(r) || Invisible(r) {
			return "", bad
		}
	}
	return e, nil
}

// Invisible reports whether r is a control character (Cc) or a format character (Cf: zero-width
// spaces and joiners, bidirectional marks and overrides, the soft hyphen), which no address or
// name a person reads needs and which make one text look like another.
func Invisible(r rune) bool { return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) }

// CleanLabel trims a user-chosen label (a display name, a passkey name), puts it in Unicode
// normalization form C, and checks it is valid UTF-8 of at most max characters without
// control or format characters (Invisible). Empty is allowed; callers decide. KindInvalid
// names what the label is for.
func CleanLabel(op Op, what, s string, max int) (string, error) {
	if !utf8.ValidString(s) {
		return "", E(op, KindInvalid, what+" is not valid UTF-8", nil)
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > max {
		return "", E(op, KindInvalid, what+" must be at most "+strconv.Itoa(max)+" characters", nil)
	}
	for _, r := range s {
		if Invisible(r) {
			return "", E(op, KindInvalid, what+" must not contain control or invisible formatting characters", nil)
		}
	}
	return s, nil
}

// Message is one email to one recipient, already rendered: a subject, a plain-text body and
// an HTML body. Kind names the message for logs and metrics (signup_code, recovery_started,
// …); it is never sent. A Message holds no secret but the code it exists to deliver, so a
// sender must not log its bodies.
type Message struct {
	Kind    string
	To      string
	Subject string
	Text    string
	HTML    string
}

// LogValue keeps the recipient and bodies out of logs: only the kind is logged.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", m.Kind))
}
