package main

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/apigw/apigwtest"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// outbox is a recovery.Mailer that keeps what it is given.
type outbox struct {
	mu   sync.Mutex
	sent []core.Message
}

func (o *outbox) Send(_ context.Context, m core.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

func (o *outbox) last(t *testing.T) core.Message {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sent) == 0 {
		t.Fatal("nothing was sent")
	}
	return o.sent[len(o.sent)-1]
}

type fixture struct {
	serve  func(context.Context, apigw.Request) (apigw.Response, error)
	desk   *recovery.Desk
	mem    *coretest.Memory
	signer *coretest.Signer
	clock  *coretest.Clock
	logs   *coretest.Logs
	mail   *outbox
	s      *core.Sessions
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, signer, clk, logs, mail := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}, &outbox{}
	s := coretest.NewSessions(mem, signer, clk.Now, logs)
	log := slog.New(slog.NewJSONHandler(logs, nil))
	lots := func(name string) core.Rule { return core.Rule{Name: name, Limit: 1000, Window: time.Minute} }
	desk := &recovery.Desk{
		Flows: mem, Recoveries: mem, Codes: mem, Accounts: mem, Mailer: mail,
		Limiter: &core.RateLimiter{Counters: mem}, Audit: log, Now: clk.Now, Secret: coretest.HMACKey,
		App: "Example", Delay: time.Hour, ReauthMaxAge: 5 * time.Minute,
		BeginByIP: lots("a"), BeginByAddress: lots("b"), SendByAddress: lots("c"), VerifyByIP: lots("d"), CodeByIP: lots("e"),
	}
	h := &handler{desk: desk, verifier: s.Verifier, log: log}
	return &fixture{serve: apigw.Serve(log, boot.Deadline, h.Handle), desk: desk, mem: mem, signer: signer, clock: clk, logs: logs, mail: mail, s: s}
}

func (f *fixture) do(t *testing.T, name string, vars map[string]string) apigw.Response {
	t.Helper()
	return apigwtest.Do(t, f.serve, apigwtest.Event(t, "email", name, vars))
}

func want(t *testing.T, resp apigw.Response, status int) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
	}
	if status == 204 {
		return nil
	}
	return apigwtest.Decode(t, resp)
}

var code6 = regexp.MustCompile(`\b\d{6}\b`)

// account seeds a user with email and a session, and returns the session's access token.
func (f *fixture) account(t *testing.T, email string) (string, string) {
	t.Helper()
	u := core.User{ID: core.NewID(), Email: email, CreatedAt: t0}
	if err := f.mem.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	tr, err := f.s.Start(context.Background(), core.StartRequest{UserID: u.ID, AMR: []string{"hwk"}, Client: core.Client{IP: "198.51.100.23"}})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID, tr.AccessToken
}

func TestSignUpThroughTheEvents(t *testing.T) {
	f := newFixture(t)
	begun := want(t, f.do(t, "email-begin", map[string]string{"email": "new@example.com", "purpose": "signup"}), 202)
	flow, _ := begun["flowId"].(string)
	if !core.IsID(flow) || begun["expiresIn"] != 600.0 || len(begun) != 2 {
		t.Fatalf("email/begin answered %v", begun)
	}
	code := code6.FindString(f.mail.last(t).Text)
	wrong := want(t, f.do(t, "email-verify", map[string]string{"flow_id": flow, "code": "000000"}), 400)
	if code == "000000" || wrong["code"] != "invalid_code" || !strings.Contains(wrong["detail"].(string), "4 tries left") {
		t.Fatalf("a wrong code answered %v", wrong)
	}
	got := want(t, f.do(t, "email-verify", map[string]string{"flow_id": flow, "code": code}), 200)
	if tk, _ := got["signupToken"].(string); !strings.HasPrefix(tk, flow+".") || len(got) != 1 {
		t.Fatalf("email/verify answered %v", got)
	}
	if again := want(t, f.do(t, "email-verify", map[string]string{"flow_id": flow, "code": code}), 400); again["code"] != "invalid_flow" {
		t.Fatalf("the code again: %v", again)
	}
	if bad := want(t, f.do(t, "email-begin", map[string]string{"email": "new@example.com", "purpose": "login"}), 400); !strings.Contains(bad["detail"].(string), "purpose") {
		t.Fatalf("a bad purpose: %v", bad)
	}
}

func TestRecoveryThroughTheEvents(t *testing.T) {
	f := newFixture(t)
	_, token := f.account(t, "owner@example.com")
	// Nothing pending yet.
	if got := want(t, f.do(t, "me-recovery", map[string]string{"access_token": token}), 200); got["pending"] != nil {
		t.Fatalf("GET /v1/me/recovery: %v", got)
	}
	begun := want(t, f.do(t, "email-begin", map[string]string{"email": "owner@example.com", "purpose": "recovery"}), 202)
	code := code6.FindString(f.mail.last(t).Text)
	got := want(t, f.do(t, "email-verify", map[string]string{"flow_id": begun["flowId"].(string), "code": code}), 200)
	if got["recoveryToken"] == nil || got["availableAt"] != t0.Add(time.Hour).Format(time.RFC3339) || got["signupToken"] != nil {
		t.Fatalf("email/verify of a recovery answered %v", got)
	}
	pending := want(t, f.do(t, "me-recovery", map[string]string{"access_token": token}), 200)["pending"].(map[string]any)
	if pending["availableAt"] != t0.Add(time.Hour).Format(time.RFC3339) || pending["startedAt"] != t0.Format(time.RFC3339) || pending["method"] != "email" {
		t.Fatalf("pending %v", pending)
	}
	// The cancel code of the notice ends it.
	notice := f.mail.last(t)
	cancel := regexp.MustCompile(`[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`).FindString(notice.Text)
	if bad := want(t, f.do(t, "recovery-cancel", map[string]string{"cancel_code": "nonsense"}), 400); bad["code"] != "invalid_code" {
		t.Fatalf("a bad cancel code: %v", bad)
	}
	want(t, f.do(t, "recovery-cancel", map[string]string{"cancel_code": cancel}), 204)
	if got := want(t, f.do(t, "me-recovery", map[string]string{"access_token": token}), 200); got["pending"] != nil {
		t.Fatalf("after cancel: %v", got)
	}
	want(t, f.do(t, "me-recovery-cancel", map[string]string{"access_token": token}), 204)
	// Without a token the /v1/me routes are 401 with a bare challenge.
	resp := f.do(t, "me-recovery", map[string]string{"access_token": ""})
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Headers["WWW-Authenticate"], "Bearer") {
		t.Fatalf("no token: %d %v", resp.StatusCode, resp.Headers)
	}
}

func TestRecoveryCodesThroughTheEvents(t *testing.T) {
	f := newFixture(t)
	_, token := f.account(t, "codes@example.com")
	got := want(t, f.do(t, "me-recovery-codes", map[string]string{"access_token": token}), 201)
	codes, _ := got["codes"].([]any)
	if len(codes) != 10 {
		t.Fatalf("recovery codes %v", got)
	}
	spent := want(t, f.do(t, "recovery-codes-verify", map[string]string{"code": codes[0].(string)}), 200)
	if spent["recoveryToken"] == nil || spent["availableAt"] != t0.Format(time.RFC3339) {
		t.Fatalf("recovery/codes/verify %v", spent)
	}
	if again := want(t, f.do(t, "recovery-codes-verify", map[string]string{"code": codes[0].(string)}), 400); again["code"] != "invalid_code" {
		t.Fatalf("the code again: %v", again)
	}
	// A session that signed in long ago must re-authenticate first (RFC 9470).
	f.clock.Advance(6 * time.Minute)
	resp := f.do(t, "me-recovery-codes", map[string]string{"access_token": token})
	if resp.StatusCode != 401 || !strings.Contains(resp.Headers["WWW-Authenticate"], "insufficient_user_authentication") {
		t.Fatalf("stale session: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	if strings.Contains(f.logs.String(), codes[1].(string)) {
		t.Fatal("the log holds a recovery code")
	}
}
