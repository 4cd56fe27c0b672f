// Package page is the provider's hosted sign-in page: the HTML the oidc function serves on
// the issuer's origin, its script and style sheet (embedded in the binary, so a deployment
// serves them with no bucket or CDN), and the plain pages for errors and sign-out. Values are
// put into the HTML by plain substitution with escaping, not html/template, whose reflection
// would keep every exported method of every SDK client in the binary.
package page

import (
	_ "embed"
	"html"
	"strings"
)

// CSP is the Content-Security-Policy of every page: scripts and styles only from the issuer
// itself, no inline script, no framing (clickjacking), forms and fetches only to the issuer.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SignIn is what the sign-in page shows and its script needs.
type SignIn struct {
	RequestID  string // the authorization request the page completes
	ClientName string // the relying party the person is signing in to
	AppName    string // the deployment's name (LATCHKEY_RP_NAME)
	LoginHint  string // an email to prefill, from login_hint
}

// Render returns the sign-in page for s.
func Render(s SignIn) []byte {
	r := strings.NewReplacer(
		"{{request}}", html.EscapeString(s.RequestID),
		"{{client}}", html.EscapeString(s.ClientName),
		"{{app}}", html.EscapeString(s.AppName),
		"{{hint}}", html.EscapeString(s.LoginHint),
	)
	return []byte(r.Replace(signInHTML))
}

// Message returns a plain page with a title and one paragraph: an authorization request that
// cannot be sent back to its client, or the end of a sign-out.
func Message(title, text string) []byte {
	r := strings.NewReplacer("{{title}}", html.EscapeString(title), "{{text}}", html.EscapeString(text))
	return []byte(r.Replace(messageHTML))
}

// Asset returns the embedded file name (signin.js, signin.css) and its content type.
func Asset(name string) (body []byte, contentType string, ok bool) {
	switch name {
	case "signin.js":
		return signInJS, "text/javascript; charset=utf-8", true
	case "signin.css":
		return signInCSS, "text/css; charset=utf-8", true
	}
	return nil, "", false
}

var (
	//go:embed signin.html
	signInHTML string
	//go:embed message.html
	messageHTML string
	//go:embed signin.js
	signInJS []byte
	//go:embed signin.css
	signInCSS []byte
)
