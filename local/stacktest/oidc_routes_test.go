package stacktest

import (
	"strings"
	"testing"
)

// TestProviderRoutesReachTheOIDCFunction: the local gateway serves every route template.yaml
// gives the oidc function by invoking the real binary, which starts with the settings the
// stack gives it (it needs the HMAC secret, the relying party and the ID-token keys, and
// parses the OpenID clients, at its cold start): each answer comes from the function (the
// gateway's request id is set), never from the gateway's own 404 or a failed invocation (5xx).
func TestProviderRoutesReachTheOIDCFunction(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	g.keepLogOnFailure(t)
	for _, r := range []struct{ method, path, ctype, body string }{
		{"GET", "/oauth2/authorize", "", ""},
		{"POST", "/oauth2/authorize/complete", "application/json", "{}"},
		{"GET", "/oauth2/userinfo", "", ""},
		{"POST", "/oauth2/userinfo", "", ""},
		{"GET", "/oauth2/logout", "", ""},
		{"GET", "/oauth2/signin", "", ""},
		{"GET", "/oauth2/assets/nothing.js", "", ""},
	} {
		status, hdr, body := send(t, r.method, g.url+r.path, "", r.ctype, strings.NewReader(r.body))
		if hdr.Get("Apigw-Requestid") == "" || status >= 500 {
			t.Errorf("%s %s: %d %s (request id %q), want an answer of the oidc function", r.method, r.path, status, body, hdr.Get("Apigw-Requestid"))
		}
	}
}
