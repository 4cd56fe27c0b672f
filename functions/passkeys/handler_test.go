package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

type fixture struct {
	serve    func(context.Context, apigw.Request) (apigw.Response, error)
	passkeys *passkey.RelyingParty
	mem      *coretest.Memory
	clock    *coretest.Clock
	logs     *coretest.Logs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	s := coretest.NewSessions(mem, signer, clk.Now, logs)
	p := passkeytest.NewRelyingParty(mem, s, clk.Now, logs)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	h := &handler{rp: p, verifier: s.Verifier, log: log}
	return &fixture{serve: apigw.Serve(log, boot.Deadline, h.Handle), passkeys: p, mem: mem, clock: clk, logs: logs}
}

// event loads a sample event of the passkeys function with its placeholders filled.
func event(t *testing.T, name string, vars map[string]string) apigw.Request {
	return apigwtest.Event(t, "passkeys", name, vars)
}

func (f *fixture) do(t *testing.T, req apigw.Request) apigw.Response {
	t.Helper()
	return apigwtest.Do(t, f.serve, req)
}

func decode(t *testing.T, resp apigw.Response) map[string]any {
	t.Helper()
	return apigwtest.Decode(t, resp)
}

func want(t *testing.T, resp apigw.Response, status int) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	if resp.StatusCode == 204 {
		return nil
	}
	return decode(t, resp)
}

// ticket is the sign-up ticket of a verified address, as /v1/email/verify hands it out.
func (f *fixture) ticket(t *testing.T, email string) string {
	t.Helper()
	return passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, email, f.clock.Now())
}

// begin runs a begin event and returns the challenge id and the publicKey options JSON.
func (f *fixture) begin(t *testing.T, name string, vars map[string]string) (string, []byte) {
	t.Helper()
	body := want(t, f.do(t, event(t, name, vars)), 200)
	opts, err := json.Marshal(body["publicKey"])
	if err != nil {
		t.Fatal(err)
	}
	id, _ := body["challengeId"].(string)
	if id == "" {
		t.Fatalf("no challengeId in %v", body)
	}
	return id, opts
}

// signUp creates alice's account through the events and returns the register/finish answer.
func (f *fixture) signUp(t *testing.T, auth *passkeytest.Authenticator) map[string]any {
	t.Helper()
	id, opts := f.begin(t, "register-begin", map[string]string{"signup_token": f.ticket(t, "alice@example.com")})
	cred, _, err := auth.Create(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	return want(t, f.do(t, event(t, "register-finish", map[string]string{"challenge_id": id, "credential": string(cred), "name": "Phone"})), 201)
}

// The whole life of an account, through the sample events: sign up, sign in, add a second
// passkey, list, rename, delete, and the last passkey refused.
func TestAccountLifecycle(t *testing.T) {
	f := newFixture(t)
	phone := passkeytest.NewAuthenticator(passkeytest.Origin)
	reg := f.signUp(t, phone)
	user := reg["user"].(map[string]any)
	pk := reg["passkey"].(map[string]any)
	if user["id"] == "" || pk["name"] != "Phone" || pk["id"] != phone.Credentials()[0].IDString() || reg["token_type"] != "Bearer" ||
		reg["access_token"] == nil || reg["refresh_token"] == nil || reg["session_id"] == nil || reg["expires_in"] != 600.0 || pk["backedUp"] != true {
		t.Fatalf("register/finish %v", reg)
	}

	f.clock.Advance(time.Minute)
	id, opts := f.begin(t, "login-begin", nil)
	assertion, err := phone.Get(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do(t, event(t, "login-finish", map[string]string{"challenge_id": id, "credential": string(assertion)}))
	login := want(t, resp, 200)
	if login["token_type"] != "Bearer" || login["access_token"] == "" || login["session_id"] == reg["session_id"] || resp.Headers["Cache-Control"] != "no-store" {
		t.Fatalf("login/finish %v %v", login, resp.Headers)
	}
	token := map[string]string{"access_token": login["access_token"].(string)}

	laptop := passkeytest.NewAuthenticator(passkeytest.Origin)
	f.clock.Advance(time.Minute)
	id, opts = f.begin(t, "register-begin-add", token)
	cred, _, err := laptop.Create(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"access_token": token["access_token"], "challenge_id": id, "credential": string(cred), "name": "Laptop"}
	added := want(t, f.do(t, event(t, "register-finish-add", vars)), 201)
	if added["access_token"] != nil || added["user"].(map[string]any)["id"] != user["id"] {
		t.Fatalf("adding a passkey answered %v", added)
	}
	laptopID := added["passkey"].(map[string]any)["id"].(string)

	list := want(t, f.do(t, event(t, "list-passkeys", token)), 200)["passkeys"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["lastUsedAt"] == nil || list[1].(map[string]any)["lastUsedAt"] != nil {
		t.Fatalf("passkeys %v", list)
	}
	token["passkey_id"] = laptopID
	renamed := want(t, f.do(t, event(t, "rename-passkey", token)), 200)
	if renamed["name"] != "Work laptop" || renamed["id"] != laptopID {
		t.Fatalf("renamed %v", renamed)
	}
	want(t, f.do(t, event(t, "delete-passkey", token)), 204)
	token["passkey_id"] = pk["id"].(string)
	last := want(t, f.do(t, event(t, "delete-passkey", token)), 409)
	golden(t, "delete-last", last)
	// Someone else's passkey is not there for the caller.
	other := f.signUpOther(t)
	token["passkey_id"] = other
	want(t, f.do(t, event(t, "delete-passkey", token)), 404)
	want(t, f.do(t, event(t, "rename-passkey", token)), 404)
}

// signUpOther creates an account without an email and returns its passkey's id.
func (f *fixture) signUpOther(t *testing.T) string {
	t.Helper()
	req := event(t, "register-begin", nil)
	req.Body = `{}`
	body := want(t, f.do(t, req), 200)
	opts, _ := json.Marshal(body["publicKey"])
	cred, soft, err := passkeytest.NewAuthenticator(passkeytest.Origin).Create(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, f.do(t, event(t, "register-finish", map[string]string{"challenge_id": body["challengeId"].(string), "credential": string(cred)})), 201)
	return soft.IDString()
}

// Every way a sign-in can fail answers the one 401, byte for byte, and never carries
// go-webauthn's DevInfo.
func TestEverySignInFailureIsTheSame401(t *testing.T) {
	f := newFixture(t)
	phone := passkeytest.NewAuthenticator(passkeytest.Origin)
	f.signUp(t, phone)
	id, opts := f.begin(t, "login-begin", nil)
	good, err := phone.Get(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, f.do(t, event(t, "login-finish", map[string]string{"challenge_id": id, "credential": string(good)})), 200)

	fresh := func(tw passkeytest.Tweaks) (string, string) {
		id, opts := f.begin(t, "login-begin", nil)
		a, err := phone.Get(opts, tw)
		if err != nil {
			t.Fatal(err)
		}
		return id, string(a)
	}
	cases := map[string]func() apigw.Request{
		"replayed": func() apigw.Request {
			return event(t, "login-finish", map[string]string{"challenge_id": id, "credential": string(good)})
		},
		"unknown challenge": func() apigw.Request {
			_, a := fresh(passkeytest.Tweaks{})
			return event(t, "login-finish", map[string]string{"challenge_id": core.NewID(), "credential": a})
		},
		"wrong origin": func() apigw.Request {
			id, a := fresh(passkeytest.Tweaks{Origin: "https://evil.example.net"})
			return event(t, "login-finish", map[string]string{"challenge_id": id, "credential": a})
		},
		"no user verification": func() apigw.Request {
			id, a := fresh(passkeytest.Tweaks{NoUV: true})
			return event(t, "login-finish", map[string]string{"challenge_id": id, "credential": a})
		},
		"malformed credential": func() apigw.Request {
			id, _ := f.begin(t, "login-begin", nil)
			return event(t, "login-finish", map[string]string{"challenge_id": id, "credential": `{"id":"x","type":"public-key"}`})
		},
		"body not JSON": func() apigw.Request {
			req := event(t, "login-finish", nil)
			req.Body = "{"
			return req
		},
		"wrong content type": func() apigw.Request {
			req := event(t, "login-finish", map[string]string{"challenge_id": id, "credential": string(good)})
			req.Headers["content-type"] = "text/plain"
			return req
		},
	}
	var first *apigw.Response
	for name, mk := range cases {
		resp := f.do(t, mk())
		if resp.StatusCode != 401 {
			t.Errorf("%s: status %d: %s", name, resp.StatusCode, resp.Body)
			continue
		}
		if strings.Contains(strings.ToLower(resp.Body), "debug") || strings.Contains(resp.Body, "devinfo") || strings.Contains(resp.Body, "Error validating") {
			t.Errorf("%s: the body carries library detail: %s", name, resp.Body)
		}
		if first == nil {
			first = &resp
			golden(t, "login-failed", decode(t, resp))
			// No Bearer token was refused: the bare challenge, never invalid_token.
			if h := resp.Headers["WWW-Authenticate"]; h != "Bearer" {
				t.Errorf("%s: WWW-Authenticate %q, want the bare Bearer challenge", name, h)
			}
			continue
		}
		if resp.Body != first.Body || resp.Headers["WWW-Authenticate"] != first.Headers["WWW-Authenticate"] {
			t.Errorf("%s: answered %s, the others %s", name, resp.Body, first.Body)
		}
	}
	if !strings.Contains(f.logs.String(), `"devinfo":"`) {
		t.Error("DevInfo did not reach the logs")
	}

	// The one exception: a credential no account holds is named, so that the page can tell
	// the browser to forget it (signalUnknownCredential). Still a 401.
	stranger := passkeytest.NewAuthenticator(passkeytest.Origin)
	if _, _, err := stranger.Create([]byte(`{"challenge":"AAAA","rp":{"id":"example.com"},"user":{"id":"AAAA"}}`), passkeytest.Tweaks{}); err != nil {
		t.Fatal(err)
	}
	cid, opts := f.begin(t, "login-begin-discoverable", nil)
	a, err := stranger.Get(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	resp := f.do(t, event(t, "login-finish", map[string]string{"challenge_id": cid, "credential": string(a)}))
	body := decode(t, resp)
	if resp.StatusCode != 401 || body["code"] != "unknown_credential" || body["credentialId"] != stranger.Credentials()[0].IDString() {
		t.Fatalf("unknown credential: %d %s", resp.StatusCode, resp.Body)
	}
}

var volatile = regexp.MustCompile(`"(challenge|challengeId)": "[^"]*"`)

// Begin answers are the WebAuthn Level 3 JSON options; with the random challenge and ids
// blanked they match the golden files. A login-begin naming an email, known or not, answers
// exactly as one naming none: the email is ignored and no allowCredentials are handed out.
func TestBeginGolden(t *testing.T) {
	f := newFixture(t)
	f.signUp(t, passkeytest.NewAuthenticator(passkeytest.Origin)) // alice@example.com, the email of the login-begin event
	for _, c := range []struct{ event, golden string }{
		{"register-begin", "register-begin"},
		{"login-begin", "login-begin-discoverable"},
		{"login-begin-discoverable", "login-begin-discoverable"},
	} {
		body := want(t, f.do(t, event(t, c.event, map[string]string{"signup_token": f.ticket(t, "alice@example.com")})), 200)
		if pk, ok := body["publicKey"].(map[string]any); ok {
			if u, ok := pk["user"].(map[string]any); ok {
				u["id"] = "(random user handle)"
			}
		}
		golden(t, c.golden, body)
	}
}

func TestListGolden(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := "QgqnJ1ptuSg-9xYIWdMB6A" // fixed: the signal member names it
	p := core.Passkey{
		ID: "AQIDBAUGBwgJCgsMDQ4PEA", UserID: uid, Name: "iCloud Keychain", PublicKey: []byte{1},
		AAGUID:     []byte{0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd},
		Transports: []string{"hybrid", "internal"}, UserVerified: true, BackupEligible: true, BackupState: true,
		CreatedAt: t0.Add(-48 * time.Hour), LastUsedAt: t0.Add(-time.Hour),
	}
	if err := f.mem.CreateAccount(ctx, core.User{ID: uid, CreatedAt: t0}, p, core.Redemption{}); err != nil {
		t.Fatal(err)
	}
	key := core.Passkey{ID: "EBESExQVFhcYGRobHB0eHw", UserID: uid, Name: "YubiKey", PublicKey: []byte{2}, Transports: []string{"usb", "nfc"}, UserVerified: true, CreatedAt: t0.Add(-24 * time.Hour)}
	if err := f.mem.AddPasskey(ctx, key); err != nil {
		t.Fatal(err)
	}
	tr, err := f.passkeys.Sessions.Start(ctx, core.StartRequest{UserID: uid, AMR: passkey.AMR})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "list-passkeys", want(t, f.do(t, event(t, "list-passkeys", map[string]string{"access_token": tr.AccessToken})), 200))
}

// TestMeGolden: GET /v1/me answers who holds the token, with the number of passkeys the
// account has; emailVerified is false (emails are not verified yet). Without a token it is the
// Bearer 401, and a token of an account that is gone is refused like an ended session's.
func TestMeGolden(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := "QgqnJ1ptuSg-9xYIWdMB6A"
	user := core.User{ID: uid, Email: "alice@example.com", DisplayName: "Alice Liddell", CreatedAt: t0.Add(-72 * time.Hour)}
	first := core.Passkey{ID: "AQIDBAUGBwgJCgsMDQ4PEA", UserID: uid, Name: "Phone", PublicKey: []byte{1}, CreatedAt: t0.Add(-72 * time.Hour)}
	if err := f.mem.CreateAccount(ctx, user, first, core.Redemption{}); err != nil {
		t.Fatal(err)
	}
	second := core.Passkey{ID: "EBESExQVFhcYGRobHB0eHw", UserID: uid, Name: "YubiKey", PublicKey: []byte{2}, CreatedAt: t0.Add(-24 * time.Hour)}
	if err := f.mem.AddPasskey(ctx, second); err != nil {
		t.Fatal(err)
	}
	tr, err := f.passkeys.Sessions.Start(ctx, core.StartRequest{UserID: uid, AMR: passkey.AMR})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "me", want(t, f.do(t, event(t, "me", map[string]string{"access_token": tr.AccessToken})), 200))

	resp := f.do(t, event(t, "me", map[string]string{"access_token": "x.y.z"}))
	if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
		t.Fatalf("GET /v1/me with a bad token: %d %v", resp.StatusCode, resp.Headers)
	}
	req := event(t, "me", nil)
	delete(req.Headers, "authorization")
	want(t, f.do(t, req), 401)

	// An account without email or display name shows them empty, not missing.
	bare := core.NewID()
	if err := f.mem.CreateUser(ctx, core.User{ID: bare, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	tr, err = f.passkeys.Sessions.Start(ctx, core.StartRequest{UserID: bare, AMR: passkey.AMR})
	if err != nil {
		t.Fatal(err)
	}
	body := want(t, f.do(t, event(t, "me", map[string]string{"access_token": tr.AccessToken})), 200)
	if body["id"] != bare || body["email"] != "" || body["displayName"] != "" || body["passkeyCount"] != 0.0 || body["emailVerified"] != false {
		t.Fatalf("GET /v1/me of an account with nothing but an id: %v", body)
	}
}

func TestBearerAndLimits(t *testing.T) {
	f := newFixture(t)
	// A bad token on register/begin is not a sign-up: 401 with the Bearer challenge.
	resp := f.do(t, event(t, "register-begin-add", map[string]string{"access_token": "not-a-token"}))
	if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
		t.Fatalf("bad bearer: %d %v", resp.StatusCode, resp.Headers)
	}
	want(t, f.do(t, event(t, "list-passkeys", map[string]string{"access_token": "x.y.z"})), 401)
	// Bodies over 64 KB are refused before anything else.
	req := event(t, "register-begin", nil)
	req.Body = `{"email":"` + strings.Repeat("a", apigw.MaxBody) + `"}`
	want(t, f.do(t, req), 413)
	// Bad input is a 400 that names the field.
	req = event(t, "register-begin", nil)
	req.Body = `{"email":"alice@example.com"}`
	if body := want(t, f.do(t, req), 400); !strings.Contains(body["detail"].(string), "signupToken") {
		t.Fatalf("sign-up with an unverified email: %v", body)
	}
	for _, body := range []string{`{"signupToken":"nonsense"}`, `{"recoveryToken":"nonsense"}`} {
		req = event(t, "register-begin", nil)
		req.Body = body
		if got := want(t, f.do(t, req), 400); got["code"] != "invalid_token" {
			t.Fatalf("%s: %v", body, got)
		}
	}
	req = event(t, "register-begin", nil)
	req.Body = `{"recoveryToken":"x.y","signupToken":"x.y"}`
	want(t, f.do(t, req), 400)
	// Rate limited by the address API Gateway observed, never X-Forwarded-For.
	f.passkeys.BeginByIP = core.Rule{Name: "pk-begin-ip", Limit: 2, Window: time.Minute}
	for range 2 {
		want(t, f.do(t, event(t, "login-begin-discoverable", nil)), 200)
	}
	req = event(t, "login-begin-discoverable", nil)
	req.Headers["x-forwarded-for"] = "192.0.2.99"
	resp = f.do(t, req)
	if resp.StatusCode != 429 || resp.Headers["Retry-After"] == "" {
		t.Fatalf("third begin from one address: %d %v", resp.StatusCode, resp.Headers)
	}
	req.RequestContext.HTTP.SourceIP = "192.0.2.99"
	want(t, f.do(t, req), 200)
	// Routes this function does not serve: the token is checked first, then 404.
	req = event(t, "list-passkeys", nil)
	req.RouteKey = "GET /v1/me/nothing"
	want(t, f.do(t, req), 401)
	uid := core.NewID()
	if err := f.mem.CreateUser(context.Background(), core.User{ID: uid, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	tr, err := f.passkeys.Sessions.Start(context.Background(), core.StartRequest{UserID: uid, AMR: passkey.AMR})
	if err != nil {
		t.Fatal(err)
	}
	req = event(t, "list-passkeys", map[string]string{"access_token": tr.AccessToken})
	req.RouteKey = "GET /v1/me/nothing"
	want(t, f.do(t, req), 404)
}

func golden(t *testing.T, name string, body map[string]any) {
	t.Helper()
	raw, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := append(volatile.ReplaceAll(raw, []byte(`"$1": "<random>"`)), '\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantBody, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, wantBody) {
		t.Errorf("%s: body differs from golden\n got: %s\nwant: %s", name, got, wantBody)
	}
}

// TestStepUpThroughTheEvents: with a token whose sign-in is older than the step-up age, adding
// and deleting a passkey answer the RFC 9470 challenge; re-authenticating through login/begin
// and login/finish with the Bearer token gives the same session a fresh auth_time, and then
// the add goes through.
func TestStepUpThroughTheEvents(t *testing.T) {
	f := newFixture(t)
	phone := passkeytest.NewAuthenticator(passkeytest.Origin)
	reg := f.signUp(t, phone)
	f.clock.Advance(10 * time.Minute)
	sessions := f.passkeys.Sessions.(*core.Sessions)
	refreshed, err := sessions.Refresh(context.Background(), reg["refresh_token"].(string), core.Client{IP: "198.51.100.23"})
	if err != nil {
		t.Fatal(err)
	}
	stale := map[string]string{"access_token": refreshed.AccessToken, "passkey_id": phone.Credentials()[0].IDString()}
	for _, name := range []string{"register-begin-add", "delete-passkey"} {
		resp := f.do(t, event(t, name, stale))
		wantChallenge := `Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age=300`
		if resp.StatusCode != 401 || resp.Headers["WWW-Authenticate"] != wantChallenge || decode(t, resp)["code"] != "reauthentication_required" {
			t.Fatalf("%s with a stale token: %d %v %s", name, resp.StatusCode, resp.Headers, resp.Body)
		}
	}
	id, opts := f.begin(t, "login-begin-reauth", stale)
	assertion, err := phone.Get(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	body := want(t, f.do(t, event(t, "login-finish-reauth", map[string]string{
		"access_token": refreshed.AccessToken, "challenge_id": id, "credential": string(assertion)})), 200)
	if body["session_id"] != refreshed.SessionID || body["access_token"] == refreshed.AccessToken {
		t.Fatalf("re-authentication answered %v", body)
	}
	want(t, f.do(t, event(t, "register-begin-add", map[string]string{"access_token": body["access_token"].(string)})), 200)
}
