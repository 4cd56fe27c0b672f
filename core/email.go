package core

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxEmail is the longest address accepted (RFC 5321 §4.5.3.1.3 path limit less the brackets).
const maxEmail = 254

// NormalizeEmail returns the form of an email address that accounts are keyed by: trimmed and
// lower-cased as a whole, so that case variants of one address are one account. It checks only
// the shape (one @, a local part, a dotted domain, no spaces or control characters, at most
// 254 bytes); KindInvalid otherwise. Whether the mailbox exists is not its business.
func NormalizeEmail(s string) (string, error) {
	const op = "core.NormalizeEmail"
	e := strings.ToLower(strings.TrimSpace(s))
	bad := E(op, KindInvalid, "email is not a valid address", nil)
	if e == "" || len(e) > maxEmail || !utf8.ValidString(e) {
		return "", bad
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	for _, r := range e {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", bad
		}
	}
	return e, nil
}
