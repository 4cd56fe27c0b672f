package stacktest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/local/testenv"
)

// outageBound is how long an answer may take while a dependency hangs: the request deadline
// (boot.RequestTimeout, 3 s) plus the gateway, the emulator and a loaded machine. The
// function timeout is 10 s, so a handler without a deadline of its own fails this.
const outageBound = 5 * time.Second

// coldBound is how long a cold start may take to fail with Secrets Manager hung: the secret's
// timeout (boot.SecretTimeout, 5 s, with the key preload beside it) plus the runtime's start.
const coldBound = 8 * time.Second

// TestOutagesAnswerInSeconds pauses (SIGSTOP) DynamoDB Local, then moto, each of the test's
// own, behind a gateway whose functions are all warm, and calls a route of every function:
// each answers within outageBound, 503 (temporarily_unavailable on /v1/token) where it needs
// the paused emulator, the authorizer denies (403), and what does not need it still works.
// After each outage the refresh token presented during it still refreshes, a sign-in works
// and the authorizer allows: nothing was half-written.
// readyReuse is how long the wellknown function reuses a readiness answer.
const readyReuse = 5 * time.Second

func TestOutagesAnswerInSeconds(t *testing.T) {
	s := newStack(t)
	em := testenv.StartEmulators(t, root)
	own, err := provision(s.dir, em.Env())
	if err != nil {
		t.Fatal(err)
	}
	g := own.startGateway(t)

	auth := passkeytest.NewAuthenticator(rpOrigin)
	reg := signUp(t, g, auth, "", "")
	at, rt := reg["access_token"].(string), reg["refresh_token"].(string)
	if at == "" || rt == "" {
		t.Fatalf("sign-up answered no tokens: %v", reg)
	}
	// Warm every function (and the wellknown key cache) before anything is paused: the outage
	// answers are those of a warm function.
	for _, r := range []struct{ method, path, bearer string }{
		{"GET", "/health/ready", ""}, {"GET", "/.well-known/jwks.json", ""},
		{"GET", "/v1/me/sessions", at}, {"GET", "/local/echo", at},
	} {
		if status, _, body := call(t, r.method, g.url+r.path, r.bearer, ""); status != 200 {
			t.Fatalf("warming %s %s: %d %s", r.method, r.path, status, body)
		}
	}

	type want struct {
		status int
		body   string // a substring of the answer
	}
	unavailable := want{503, `"code":"unavailable"`}
	for _, outage := range []struct {
		emulator *testenv.Emulator
		ready    string // the readiness probe's detail
		token    want   // POST /v1/token
		sessions want   // GET /v1/me/sessions
		begin    want   // POST /v1/passkeys/login/begin
		finish   want   // POST /v1/passkeys/login/finish
		echo     want   // GET /local/echo
	}{
		{em.DynamoDB, "not ready: dynamodb", want{503, `"error":"temporarily_unavailable"`}, unavailable, unavailable, unavailable, want{403, "Forbidden"}},
		// Bearer checks verify with the cached public keys and need no KMS; a refresh and a
		// sign-in must sign.
		{em.Moto, "not ready: kms", want{503, `"error":"temporarily_unavailable"`}, want{200, `"sessions"`}, want{200, `"challengeId"`}, unavailable, want{200, `"authorizer"`}},
	} {
		name := outage.emulator.Name
		// The sign-in's ceremony begins before the outage, so that its finish is a good one.
		_, _, begin := api(t, "POST", g.url+"/v1/passkeys/login/begin", "", map[string]any{})
		assertion, err := auth.Get(options(t, begin), passkeytest.Tweaks{})
		if err != nil {
			t.Fatal(err)
		}
		finish := `{"challengeId":"` + begin["challengeId"].(string) + `","credential":` + string(assertion) + `}`

		outage.emulator.Pause(t)
		pausedAt := time.Now()
		paused := true
		resume := func() {
			if paused {
				outage.emulator.Resume(t)
				paused = false
			}
		}
		t.Cleanup(resume)
		for _, r := range []struct {
			route, method, path, bearer, ctype, body string
			want                                     want
		}{
			{"wellknown", "GET", "/.well-known/jwks.json", "", "", "", want{200, `"keys"`}},
			{"sessions", "POST", "/v1/token", "", "application/x-www-form-urlencoded", refreshForm(rt), outage.token},
			{"sessions", "GET", "/v1/me/sessions", at, "", "", outage.sessions},
			{"passkeys", "POST", "/v1/passkeys/login/begin", "", "application/json", "{}", outage.begin},
			{"passkeys", "POST", "/v1/passkeys/login/finish", "", "application/json", finish, outage.finish},
			{"authorizer", "GET", "/local/echo", at, "", "", outage.echo},
		} {
			start := time.Now()
			status, body := sendText(t, r.method, g.url+r.path, r.bearer, r.ctype, r.body)
			took := time.Since(start)
			if status != r.want.status || !strings.Contains(body, r.want.body) || took > outageBound {
				t.Errorf("%s paused: %s %s answered %d %s in %s, want %d with %s within %s",
					name, r.method, r.path, status, body, took.Round(time.Millisecond), r.want.status, r.want.body, outageBound)
			}
			t.Logf("%s paused: %-10s %-6s %-28s %d in %s", name, r.route, r.method, r.path, status, took.Round(time.Millisecond))
		}
		// The readiness probe reuses its answer for a few seconds (so it cannot be used to
		// hammer the control plane): it turns to 503 once that answer is older than the outage,
		// and each probe answers within the bound.
		for {
			start := time.Now()
			status, body := sendText(t, "GET", g.url+"/health/ready", "", "", "")
			if took := time.Since(start); took > outageBound {
				t.Errorf("%s paused: GET /health/ready took %s", name, took.Round(time.Millisecond))
			}
			if status == 503 && strings.Contains(body, outage.ready) {
				t.Logf("%s paused: %-10s %-6s %-28s %d %s after the pause", name, "wellknown", "GET", "/health/ready", status, time.Since(pausedAt).Round(time.Millisecond))
				break
			}
			if time.Since(pausedAt) > readyReuse+outageBound {
				t.Errorf("%s paused: GET /health/ready still answers %d %s %s after the pause", name, status, body, time.Since(pausedAt).Round(time.Millisecond))
				break
			}
			time.Sleep(250 * time.Millisecond) // polling, bounded above
		}
		if outage.emulator == em.Moto {
			// A cold start with Secrets Manager hung fails after boot.SecretTimeout (5 s), and
			// the platform answers: the local gateway, like API Gateway for a function whose
			// init failed, 502.
			cold := own.startGateway(t)
			start := time.Now()
			status, body := sendText(t, "POST", cold.url+"/v1/token", "", "application/x-www-form-urlencoded", refreshForm(rt))
			took := time.Since(start)
			if status != 502 || took > coldBound {
				t.Errorf("moto paused: a cold /v1/token answered %d %s in %s, want 502 within %s", status, body, took.Round(time.Millisecond), coldBound)
			}
			t.Logf("moto paused: cold start of sessions: POST /v1/token %d in %s", status, took.Round(time.Millisecond))
		}
		resume()

		// Recovery: the refresh token presented during the outage refreshes now, once.
		status, _, body := call(t, "POST", g.url+"/v1/token", "", refreshForm(rt))
		var tr tokens
		if status != 200 || json.Unmarshal(body, &tr) != nil || tr.RefreshToken == "" || tr.AccessToken == "" {
			t.Fatalf("after the %s outage the refresh token presented during it answered %d %s", name, status, body)
		}
		at, rt = tr.AccessToken, tr.RefreshToken
		if status, _, body := call(t, "GET", g.url+"/local/echo", at, ""); status != 200 {
			t.Fatalf("after the %s outage /local/echo answered %d %s", name, status, body)
		}
		// The readiness probe is ready again once its reused answer is older than the outage.
		for resumedAt := time.Now(); ; time.Sleep(250 * time.Millisecond) {
			status, _, body := call(t, "GET", g.url+"/health/ready", "", "")
			if status == 200 {
				break
			}
			if time.Since(resumedAt) > readyReuse+outageBound {
				t.Fatalf("after the %s outage /health/ready still answers %d %s", name, status, body)
			}
		}
		if status, out := signIn(t, g, auth, "", passkeytest.Tweaks{}); status != 200 || out["access_token"] == nil {
			t.Fatalf("after the %s outage a sign-in answered %d %v", name, status, out)
		}
	}
}

// sendText is send with a string body and a string answer.
func sendText(t *testing.T, method, u, bearer, ctype, body string) (int, string) {
	t.Helper()
	status, _, b := send(t, method, u, bearer, ctype, strings.NewReader(body))
	return status, string(b)
}
