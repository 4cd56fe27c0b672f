package stacktest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/local/testenv"
)

// Email and recovery, tried against the real binaries with SES in moto, as a person and an
// attacker would: codes are read from the local outbox, which reads moto's record of what
// was sent.

// emailDefaults run a gateway with the deployed defaults of email (sign-up needs a verified
// address), except for the one-email-a-minute limit of an address, which these tests would
// otherwise wait out between the emails of one address; its own tests are the desk's.
var emailDefaults = []string{"LATCHKEY_EMAIL_REQUIRED=true", "LATCHKEY_LIMIT_EMAIL_SEND_ADDRESS=20/1m"}

// outboxMessage is one message of GET /local/outbox.
type outboxMessage struct {
	ID      string   `json:"id"`
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Body    string   `json:"body"`
}

// mailTo is the messages sent to address, newest first.
func mailTo(t *testing.T, g *gateway, address string) []outboxMessage {
	t.Helper()
	status, _, raw := send(t, "GET", g.url+"/local/outbox?format=json&to="+url.QueryEscape(address), "", "", nil)
	if status != 200 {
		t.Fatalf("GET /local/outbox: %d %s", status, raw)
	}
	var out struct {
		Messages []outboxMessage `json:"messages"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("the outbox: %v: %s", err, raw)
	}
	return out.Messages
}

var (
	sixDigits  = regexp.MustCompile(`\b\d{6}\b`)
	cancelCode = regexp.MustCompile(`[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`)
)

// lastMail is the newest message to address whose subject contains about, or fails the test.
func lastMail(t *testing.T, g *gateway, address, about string) outboxMessage {
	t.Helper()
	for _, m := range mailTo(t, g, address) {
		if strings.Contains(m.Subject, about) {
			return m
		}
	}
	t.Fatalf("no message about %q was sent to %s", about, address)
	return outboxMessage{}
}

// beginEmail asks for a code and returns the flow id.
func beginEmail(t *testing.T, g *gateway, email, purpose string) string {
	t.Helper()
	status, _, body := api(t, "POST", g.url+"/v1/email/begin", "", map[string]any{"email": email, "purpose": purpose})
	if status != 202 {
		t.Fatalf("email/begin %s %s: %d %v", purpose, email, status, body)
	}
	flow, _ := body["flowId"].(string)
	return flow
}

// verifiedSignUp verifies email through the outbox and returns the signupToken.
func verifiedSignUp(t *testing.T, g *gateway, email string) string {
	t.Helper()
	flow := beginEmail(t, g, email, "signup")
	code := sixDigits.FindString(lastMail(t, g, email, "sign-up code").Subject)
	status, _, body := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": code})
	if status != 200 || body["signupToken"] == nil {
		t.Fatalf("email/verify: %d %v", status, body)
	}
	return body["signupToken"].(string)
}

// register runs register/begin with begin's body and finishes it with auth.
func register(t *testing.T, g *gateway, auth *passkeytest.Authenticator, begin map[string]any) (int, map[string]any) {
	t.Helper()
	status, _, started := api(t, "POST", g.url+"/v1/passkeys/register/begin", "", begin)
	if status != 200 {
		return status, started
	}
	cred, _, err := auth.Create(options(t, started), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	status, _, reg := api(t, "POST", g.url+"/v1/passkeys/register/finish", "",
		map[string]any{"challengeId": started["challengeId"], "credential": json.RawMessage(cred)})
	return status, reg
}

func TestSignUpWithAnEmailCode(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, emailDefaults...)
	email := testenv.Name("signup") + "@example.com"
	// An unverified address cannot sign up, nor can nobody.
	for _, body := range []map[string]any{{"email": email}, {}} {
		if status, _, got := api(t, "POST", g.url+"/v1/passkeys/register/begin", "", body); status != 400 {
			t.Fatalf("register/begin %v: %d %v", body, status, got)
		}
	}
	ticket := verifiedSignUp(t, g, email)
	m := lastMail(t, g, email, "sign-up code")
	if !slices.Equal(m.To, []string{email}) || !strings.Contains(m.From, "@") {
		t.Fatalf("the code went from %q to %v", m.From, m.To)
	}
	status, reg := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": ticket, "displayName": "New"})
	if status != 201 || reg["access_token"] == nil {
		t.Fatalf("register/finish: %d %v", status, reg)
	}
	status, _, me := api(t, "GET", g.url+"/v1/me", reg["access_token"].(string), nil)
	if status != 200 || me["email"] != email || me["emailVerified"] != true || me["recoveryCodesLeft"] != 0.0 {
		t.Fatalf("GET /v1/me: %d %v", status, me)
	}
	// The ticket did its one thing.
	if status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": ticket}); status != 400 || got["code"] != "invalid_token" {
		t.Fatalf("the ticket again: %d %v", status, got)
	}
	// Signing up again with the address sends its owner a notice, not a code.
	flow := beginEmail(t, g, email, "signup")
	notice := lastMail(t, g, email, "tried to create")
	if sixDigits.MatchString(notice.Subject + notice.Body) {
		t.Fatalf("the notice to a taken address carries a code: %s", notice.Body)
	}
	if status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": "123456"}); status != 400 || got["code"] != "invalid_code" {
		t.Fatalf("verifying the notice's flow: %d %v", status, got)
	}
}

func TestCodesRefuseBruteForceExpiryAndOtherFlows(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, emailDefaults...)
	email := testenv.Name("brute") + "@example.com"
	flow := beginEmail(t, g, email, "signup")
	code := sixDigits.FindString(lastMail(t, g, email, "sign-up code").Subject)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	// The code with another flow's id is refused, and spends that flow's try.
	other := testenv.Name("other") + "@example.com"
	otherFlow := beginEmail(t, g, other, "signup")
	if status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": otherFlow, "code": code}); status != 400 || got["code"] != "invalid_code" {
		if code != sixDigits.FindString(lastMail(t, g, other, "sign-up code").Subject) {
			t.Fatalf("a code with another flow's id: %d %v", status, got)
		}
	}
	// Twelve wrong codes at once: five are tried, the rest find the flow dead.
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": wrong})
			mu.Lock()
			answers[fmt.Sprint(status, " ", got["code"])]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if answers["400 invalid_code"] != 5 || answers["400 invalid_flow"] != 7 {
		t.Fatalf("12 parallel wrong codes answered %v, want 5 invalid_code and 7 invalid_flow", answers)
	}
	if status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": code}); status != 400 || got["code"] != "invalid_flow" {
		t.Fatalf("the right code after five wrong ones: %d %v", status, got)
	}
	// A made-up flow id and malformed input.
	for _, body := range []map[string]any{
		{"flowId": "AAAAAAAAAAAAAAAAAAAAAA", "code": code}, {"flowId": flow}, {"code": code}, {"flowId": flow, "code": "12 34 56"},
	} {
		if status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", body); status != 400 {
			t.Fatalf("email/verify %v: %d %v", body, status, got)
		}
	}
}

func TestBeginAnswersAlikeForKnownAndUnknownAddresses(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, emailDefaults...)
	known := testenv.Name("known") + "@example.com"
	if status, reg := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": verifiedSignUp(t, g, known)}); status != 201 {
		t.Fatalf("sign-up: %d %v", status, reg)
	}
	// The resend limit is one a minute per address: every begin here names a fresh address,
	// known ones made for it.
	var knownTimes, unknownTimes []time.Duration
	for i := range 4 {
		k := fmt.Sprintf("%s-k%d@example.com", testenv.Name("alike"), i)
		if status, reg := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": verifiedSignUp(t, g, k)}); status != 201 {
			t.Fatalf("sign-up: %d %v", status, reg)
		}
		for _, c := range []struct {
			email string
			times *[]time.Duration
		}{{k, &knownTimes}, {fmt.Sprintf("%s-u%d@example.com", testenv.Name("alike"), i), &unknownTimes}} {
			began := time.Now()
			status, hdr, body := api(t, "POST", g.url+"/v1/email/begin", "", map[string]any{"email": c.email, "purpose": "recovery"})
			*c.times = append(*c.times, time.Since(began))
			keys := make([]string, 0, len(body))
			for k := range body {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if status != 202 || !slices.Equal(keys, []string{"expiresIn", "flowId"}) || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("email/begin recovery %s: %d %v %v", c.email, status, hdr, body)
			}
		}
		if len(mailTo(t, g, fmt.Sprintf("%s-u%d@example.com", testenv.Name("alike"), i))) != 0 {
			t.Fatal("an unknown address was sent something")
		}
	}
	mk, mu := median(knownTimes), median(unknownTimes)
	t.Logf("email/begin recovery: known %v (median %v), unknown %v (median %v)", knownTimes, mk, unknownTimes, mu)
	if d := mk - mu; d > 150*time.Millisecond || d < -150*time.Millisecond {
		t.Errorf("email/begin takes %v for a known address and %v for an unknown one: the time tells them apart", mk, mu)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestRecoveryByCodeEndsEverySessionOnEveryNode(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, emailDefaults...)
	other := s.startGateway(t, emailDefaults...)
	email := testenv.Name("rcode") + "@example.com"
	laptop := passkeytest.NewAuthenticator(rpOrigin)
	status, reg := register(t, g, laptop, map[string]any{"signupToken": verifiedSignUp(t, g, email)})
	if status != 201 {
		t.Fatalf("sign-up: %d %v", status, reg)
	}
	old := reg["access_token"].(string)
	status, _, made := api(t, "POST", g.url+"/v1/me/recovery-codes", old, map[string]any{})
	codes, _ := made["codes"].([]any)
	if status != 201 || len(codes) != 10 {
		t.Fatalf("recovery codes: %d %v", status, made)
	}
	if _, _, me := api(t, "GET", g.url+"/v1/me", old, nil); me["recoveryCodesLeft"] != 10.0 {
		t.Fatalf("GET /v1/me after making codes: %v", me)
	}
	// The laptop is lost. A recovery code, typed in lower case, gives a token at once.
	status, _, got := api(t, "POST", g.url+"/v1/recovery/codes/verify", "", map[string]any{"code": strings.ToLower(codes[3].(string))})
	if status != 200 || got["recoveryToken"] == nil {
		t.Fatalf("recovery/codes/verify: %d %v", status, got)
	}
	rt := got["recoveryToken"].(string)
	// The token does exactly one thing: it is no access token and no sign-up token.
	if status, _, _ := api(t, "GET", g.url+"/v1/me", rt, nil); status != 401 {
		t.Fatalf("the recovery token as a Bearer token: %d", status)
	}
	if status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": rt}); status != 400 {
		t.Fatalf("the recovery token as a sign-up token: %d %v", status, got)
	}
	phone := passkeytest.NewAuthenticator(rpOrigin)
	status, rec := register(t, g, phone, map[string]any{"recoveryToken": rt})
	if status != 201 || rec["access_token"] == nil || rec["user"].(map[string]any)["id"] != reg["user"].(map[string]any)["id"] {
		t.Fatalf("the recovery's register/finish: %d %v", status, rec)
	}
	// Every earlier session has ended, on this node and on another; the new one works.
	for _, gw := range []*gateway{g, other} {
		if status, _, _ := api(t, "GET", gw.url+"/v1/me", old, nil); status != 401 {
			t.Fatalf("the session from before the recovery answers %d on %s", status, gw.url)
		}
		if status, _, _ := call(t, "POST", gw.url+"/v1/token", "", refreshForm(reg["refresh_token"].(string))); status != 400 {
			t.Fatalf("the refresh token from before the recovery answers %d on %s", status, gw.url)
		}
	}
	status, _, me := api(t, "GET", other.url+"/v1/me", rec["access_token"].(string), nil)
	if status != 200 || me["passkeyCount"] != 2.0 || me["recoveryCodesLeft"] != 9.0 {
		t.Fatalf("GET /v1/me after the recovery: %d %v", status, me)
	}
	// The code and the token are spent; the owner was told twice.
	if status, _, got := api(t, "POST", g.url+"/v1/recovery/codes/verify", "", map[string]any{"code": codes[3]}); status != 400 || got["code"] != "invalid_code" {
		t.Fatalf("the recovery code again: %d %v", status, got)
	}
	if status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"recoveryToken": rt}); status != 400 || got["code"] != "invalid_token" {
		t.Fatalf("the recovery token again: %d %v", status, got)
	}
	lastMail(t, g, email, "recovery of your")
	lastMail(t, g, email, "added to your")
	// Both passkeys sign in.
	for _, auth := range []*passkeytest.Authenticator{laptop, phone} {
		if status, out := signIn(t, g, auth, "", passkeytest.Tweaks{}); status != 200 {
			t.Fatalf("sign-in after the recovery: %d %v", status, out)
		}
	}
	checkLogsHoldNo(t, g, append([]string{rt, strings.ReplaceAll(codes[3].(string), "-", "")}, toStrings(codes)...)...)
}

func TestEmailRecoveryWaitsItsDelayAndCanBeCancelled(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t, append(emailDefaults, "LATCHKEY_RECOVERY_DELAY=3s")...)
	email := testenv.Name("remail") + "@example.com"
	status, reg := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"signupToken": verifiedSignUp(t, g, email)})
	if status != 201 {
		t.Fatalf("sign-up: %d %v", status, reg)
	}
	owner := reg["access_token"].(string)

	recoverByEmail := func() (string, time.Time) {
		t.Helper()
		flow := beginEmail(t, g, email, "recovery")
		code := sixDigits.FindString(lastMail(t, g, email, "recovery code").Subject)
		status, _, got := api(t, "POST", g.url+"/v1/email/verify", "", map[string]any{"flowId": flow, "code": code})
		if status != 200 || got["recoveryToken"] == nil {
			t.Fatalf("email/verify of a recovery: %d %v", status, got)
		}
		at, err := time.Parse(time.RFC3339, got["availableAt"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return got["recoveryToken"].(string), at
	}

	// A recovery started and cancelled with the notice's code.
	rt, _ := recoverByEmail()
	cancel := cancelCode.FindString(lastMail(t, g, email, "has started").Body)
	if status, _, got := api(t, "GET", g.url+"/v1/me/recovery", owner, nil); status != 200 || got["pending"] == nil {
		t.Fatalf("GET /v1/me/recovery while one is pending: %d %v", status, got)
	}
	if status, _, got := api(t, "POST", g.url+"/v1/recovery/cancel", "", map[string]any{"cancelCode": cancel}); status != 204 {
		t.Fatalf("recovery/cancel: %d %v", status, got)
	}
	if status, _, got := api(t, "GET", g.url+"/v1/me/recovery", owner, nil); status != 200 || got["pending"] != nil {
		t.Fatalf("GET /v1/me/recovery after cancel: %d %v", status, got)
	}
	if status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"recoveryToken": rt}); status != 400 || got["code"] != "invalid_token" {
		t.Fatalf("a cancelled recovery's token: %d %v", status, got)
	}

	// Another, cancelled by the signed-in owner.
	rt, _ = recoverByEmail()
	if status, _, _ := api(t, "DELETE", g.url+"/v1/me/recovery", owner, nil); status != 204 {
		t.Fatalf("DELETE /v1/me/recovery: %d", status)
	}
	if status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"recoveryToken": rt}); status != 400 {
		t.Fatalf("a recovery the owner cancelled: %d %v", status, got)
	}

	// And one that completes, after its delay only.
	rt, at := recoverByEmail()
	status, got := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"recoveryToken": rt})
	if status != 403 || got["code"] != "recovery_not_available" || got["availableAt"] == nil {
		t.Fatalf("the recovery before its delay: %d %v", status, got)
	}
	for time.Now().Before(at.Add(time.Second)) { // availableAt is in whole seconds
		time.Sleep(100 * time.Millisecond)
	}
	status, rec := register(t, g, passkeytest.NewAuthenticator(rpOrigin), map[string]any{"recoveryToken": rt})
	if status != 201 || rec["access_token"] == nil {
		t.Fatalf("the recovery after its delay: %d %v", status, rec)
	}
	if status, _, _ := api(t, "GET", g.url+"/v1/me", owner, nil); status != 401 {
		t.Fatalf("the owner's session after the recovery answers %d", status)
	}
	checkLogsHoldNo(t, g, rt, cancel)
}

func toStrings(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprint(x)
	}
	return out
}

// checkLogsHoldNo fails the test if the gateway's log (every function's output) holds any of
// secrets.
func checkLogsHoldNo(t *testing.T, g *gateway, secrets ...string) {
	t.Helper()
	logs := g.log.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("the functions' logs hold a secret (%.8s…)", s)
		}
	}
}
