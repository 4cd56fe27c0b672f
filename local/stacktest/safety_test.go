package stacktest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/local/testenv"
)

// The account-safety properties, tried against the real binaries as an attacker would, with
// the software authenticator speaking for the browser at the stack's RP origin.
const rpOrigin = "http://localhost:3000"

// api sends a JSON request and decodes the JSON answer (nil for an empty body).
func api(t *testing.T, method, u, bearer string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	status, hdr, raw := send(t, method, u, bearer, "application/json", rd)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, u, status, raw)
		}
	}
	return status, hdr, out
}

// options is a begin answer's publicKey member as JSON, for the authenticator.
func options(t *testing.T, begin map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(begin["publicKey"])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signUp creates an account (with email, when not "", verified through the outbox) through
// the API with auth's new passkey, or with bearer adds the passkey to its holder, and returns
// the answer of register/finish.
func signUp(t *testing.T, g *gateway, auth *passkeytest.Authenticator, bearer, email string) map[string]any {
	t.Helper()
	req := map[string]any{}
	if email != "" {
		req["signupToken"] = verifiedSignUp(t, g, email)
	}
	status, _, begin := api(t, "POST", g.url+"/v1/passkeys/register/begin", bearer, req)
	if status != 200 {
		t.Fatalf("register/begin: %d %v", status, begin)
	}
	cred, _, err := auth.Create(options(t, begin), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, reg := api(t, "POST", g.url+"/v1/passkeys/register/finish", bearer,
		map[string]any{"challengeId": begin["challengeId"], "credential": json.RawMessage(cred)})
	if status != 201 {
		t.Fatalf("register/finish: %d %v", status, reg)
	}
	return reg
}

// signIn runs a login ceremony (a re-authentication with bearer) with auth and tweaks.
func signIn(t *testing.T, g *gateway, auth *passkeytest.Authenticator, bearer string, tw passkeytest.Tweaks) (int, map[string]any) {
	t.Helper()
	status, _, begin := api(t, "POST", g.url+"/v1/passkeys/login/begin", bearer, map[string]any{})
	if status != 200 {
		t.Fatalf("login/begin: %d %v", status, begin)
	}
	assertion, err := auth.Get(options(t, begin), tw)
	if err != nil {
		t.Fatal(err)
	}
	status, _, out := api(t, "POST", g.url+"/v1/passkeys/login/finish", bearer,
		map[string]any{"challengeId": begin["challengeId"], "credential": json.RawMessage(assertion)})
	return status, out
}

// TestFloodedVictimStillSignsIn: 31 forged assertions naming a victim's user id and
// credential id (more than the per-account limit of a minute) are refused, and the victim's
// own sign-in right after, from the same address, goes through.
func TestFloodedVictimStillSignsIn(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	victim := passkeytest.NewAuthenticator(rpOrigin)
	reg := signUp(t, g, victim, "", "")
	uid := reg["user"].(map[string]any)["id"].(string)
	forger := passkeytest.NewAuthenticator(rpOrigin)
	signUp(t, g, forger, "", "")
	fake := *forger.Credentials()[0]
	fake.ID, fake.UserHandle = victim.Credentials()[0].ID, mustDecode(t, uid)
	refused := map[int]int{}
	for range 31 {
		status, _ := signIn(t, g, forger, "", passkeytest.Tweaks{Credential: &fake})
		refused[status]++
	}
	if refused[401]+refused[429] != 31 || refused[429] == 0 {
		t.Fatalf("forgeries answered %v, want 401s and then 429s", refused)
	}
	if status, out := signIn(t, g, victim, "", passkeytest.Tweaks{}); status != 200 || out["access_token"] == nil {
		t.Fatalf("the victim's sign-in after the flood: %d %v", status, out)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStaleTokenCannotChangePasskeys: a token refreshed long after its sign-in (a stolen
// refresh token) can neither add nor delete a passkey; the passkey ceremony with that token
// re-authenticates the same session, and then it can.
func TestStaleTokenCannotChangePasskeys(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	phone := passkeytest.NewAuthenticator(rpOrigin)
	reg := signUp(t, g, phone, "", "")
	uid := reg["user"].(map[string]any)["id"].(string)
	pkID := reg["passkey"].(map[string]any)["id"].(string)
	_, stale := s.oldSession(t, uid, pkID, time.Hour)
	status, _, body := call(t, "POST", g.url+"/v1/token", "", refreshForm(stale))
	var refreshed map[string]any
	if err := json.Unmarshal(body, &refreshed); status != 200 || err != nil {
		t.Fatalf("refresh of the stale session: %d %s", status, body)
	}
	staleAccess := refreshed["access_token"].(string)
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/passkeys/register/begin"},
		{"DELETE", "/v1/me/passkeys/" + pkID},
	} {
		status, hdr, out := api(t, c.method, g.url+c.path, staleAccess, map[string]any{})
		if status != 401 || out["code"] != "reauthentication_required" ||
			!strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Bearer error="insufficient_user_authentication"`) || !strings.Contains(hdr.Get("WWW-Authenticate"), "max_age=300") {
			t.Fatalf("%s %s with a stale token: %d %v %v", c.method, c.path, status, hdr, out)
		}
	}
	status, out := signIn(t, g, phone, staleAccess, passkeytest.Tweaks{})
	if status != 200 || out["session_id"] != refreshed["session_id"] {
		t.Fatalf("re-authentication: %d %v", status, out)
	}
	fresh := out["access_token"].(string)
	status, _, begin := api(t, "POST", g.url+"/v1/passkeys/register/begin", fresh, map[string]any{})
	if status != 200 || begin["challengeId"] == nil {
		t.Fatalf("add after re-authentication: %d %v", status, begin)
	}
	// The refresh token the re-authentication superseded is a replay from now on, even
	// within the grace window of a lost response: it ends the session.
	if status, _, body := call(t, "POST", g.url+"/v1/token", "", refreshForm(refreshed["refresh_token"].(string))); status != 400 || !strings.Contains(string(body), "invalid_grant") {
		t.Fatalf("the superseded refresh token: %d %s", status, body)
	}
	if status, _, _ := api(t, "GET", g.url+"/v1/me/passkeys", fresh, nil); status != 401 {
		t.Fatalf("the session after its superseded refresh token was replayed: %d", status)
	}
}

// TestLoginBeginTellsNothingThroughTheStack: login/begin answers alike for a known email, an
// unknown one and none, with no credential ids, so registering one of them can reveal nothing.
func TestLoginBeginTellsNothingThroughTheStack(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	known := testenv.Name("alice") + "@example.com"
	signUp(t, g, passkeytest.NewAuthenticator(rpOrigin), "", known)
	var first []byte
	for _, body := range []map[string]any{{"email": known}, {"email": "nobody@example.org"}, {}} {
		status, _, begin := api(t, "POST", g.url+"/v1/passkeys/login/begin", "", body)
		pk, _ := begin["publicKey"].(map[string]any)
		if status != 200 || pk == nil {
			t.Fatalf("login/begin %v: %d %v", body, status, begin)
		}
		if _, ok := pk["allowCredentials"]; ok {
			t.Fatalf("login/begin %v hands out credential ids: %v", body, pk)
		}
		delete(pk, "challenge")
		b, _ := json.Marshal(pk)
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("login/begin %v answered %s, another %s", body, b, first)
		}
	}
}

// TestIdsThatCannotExistAre4xx: ids of a shape never issued are refused before any lookup.
func TestIdsThatCannotExistAre4xx(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	tk := s.devToken(t)
	long := strings.Repeat("A", 2048)
	for _, path := range []string{"/v1/me/passkeys/" + long, "/v1/me/passkeys/not*base64", "/v1/me/sessions/" + long, "/v1/me/sessions/abc"} {
		status, _, out := api(t, "DELETE", g.url+path, tk.AccessToken, nil)
		if status < 400 || status >= 500 {
			t.Errorf("DELETE %s: %d %v", path[:min(len(path), 40)], status, out)
		}
	}
}
