package recovery_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
)

var (
	t0  = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cli = core.Client{IP: "198.51.100.7", UserAgent: "test"}
)

var (
	_ recovery.FlowStore     = (*coretest.Memory)(nil)
	_ recovery.RecoveryStore = (*coretest.Memory)(nil)
	_ recovery.CodeStore     = (*coretest.Memory)(nil)
	_ recovery.Accounts      = (*coretest.Memory)(nil)
)

// outbox is a Mailer that keeps what it is given, and fails while down is set.
type outbox struct {
	mu   sync.Mutex
	sent []core.Message
	down bool
}

func (o *outbox) Send(_ context.Context, m core.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return core.E("outbox.Send", core.KindUnavailable, "", errors.New("mail is down"))
	}
	o.sent = append(o.sent, m)
	return nil
}

// last is the last message sent to to, or fails the test.
func (o *outbox) last(t *testing.T, to string) core.Message {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.sent) - 1; i >= 0; i-- {
		if o.sent[i].To == to {
			return o.sent[i]
		}
	}
	t.Fatalf("nothing was sent to %s", to)
	return core.Message{}
}

func (o *outbox) count() int { o.mu.Lock(); defer o.mu.Unlock(); return len(o.sent) }

type fixture struct {
	d     *recovery.Desk
	mem   *coretest.Memory
	clock *coretest.Clock
	mail  *outbox
	logs  *coretest.Logs
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, clk, logs, mail := coretest.NewMemory(), coretest.NewClock(t0), &coretest.Logs{}, &outbox{}
	lots := func(name string) core.Rule { return core.Rule{Name: name, Limit: 1000, Window: time.Minute} }
	d := &recovery.Desk{
		Flows: mem, Recoveries: mem, Codes: mem, Accounts: mem, Mailer: mail,
		Limiter: &core.RateLimiter{Counters: mem}, Audit: slog.New(slog.NewJSONHandler(logs, nil)), Now: clk.Now,
		Secret: coretest.HMACKey, App: "Example", Delay: 24 * time.Hour, ReauthMaxAge: 5 * time.Minute,
		BeginByIP: lots("email-begin-ip"), BeginByAddress: lots("email-begin-addr"), SendByAddress: lots("email-send-addr"),
		VerifyByIP: lots("email-verify-ip"), CodeByIP: lots("recovery-code-ip"),
	}
	return &fixture{d: d, mem: mem, clock: clk, mail: mail, logs: logs}
}

// account seeds a user with email and returns its id.
func (f *fixture) account(t *testing.T, email string) string {
	t.Helper()
	u := core.User{ID: core.NewID(), Email: email, CreatedAt: t0}
	if err := f.mem.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// codeIn is the six-digit code of m, in both bodies, or fails the test.
func codeIn(t *testing.T, m core.Message) string {
	t.Helper()
	code := sixDigits.FindString(m.Text)
	if code == "" || !strings.Contains(m.HTML, code) || !strings.Contains(m.Subject, code) {
		t.Fatalf("message %s carries no code in subject, text and HTML: %q / %q", m.Kind, m.Subject, m.Text)
	}
	return code
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got, _ := core.CodeOf(err); !core.Is(err, core.KindInvalid) || got != code {
		t.Fatalf("got %v (code %q), want KindInvalid with code %s", err, got, code)
	}
}

func TestSignUpCodeBecomesASingleUseTicket(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: " New@Example.com ", Purpose: "signup"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	if !core.IsID(start.FlowID) || start.ExpiresIn != 10*time.Minute {
		t.Fatalf("flow start %+v", start)
	}
	m := f.mail.last(t, "new@example.com")
	if m.Kind != "signup_code" || !strings.Contains(m.Text, "Example") {
		t.Fatalf("sent %s: %q", m.Kind, m.Text)
	}
	code := codeIn(t, m)
	v, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code}, cli)
	if err != nil || v.SignUpTicket == "" || v.RecoveryTicket != "" {
		t.Fatalf("Verify: %+v %v", v, err)
	}
	ticket, err := core.ParseTicket("test", "signupToken", v.SignUpTicket)
	if err != nil || ticket.ID != start.FlowID {
		t.Fatalf("ticket %q: %v", v.SignUpTicket, err)
	}
	flow, err := f.mem.GetFlow(ctx, start.FlowID, f.clock.Now())
	if err != nil || !flow.Verified || flow.Email != "new@example.com" || !ticket.HashMatches(core.DeriveKey(coretest.HMACKey, core.KeySignUpTicket), flow.TicketHash) {
		t.Fatalf("the flow after verify: %+v %v", flow, err)
	}
	// The code works once.
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code}, cli)
	wantCode(t, err, "invalid_flow")
	if strings.Contains(f.logs.String(), code) || strings.Contains(f.logs.String(), ticket.Secret) {
		t.Fatal("the log holds the code or the ticket")
	}
}

func TestBeginAnswersAlikeForEveryAddress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(t, "taken@example.com")
	for _, c := range []struct{ email, purpose, sent string }{
		{"free@example.com", "signup", "signup_code"},
		{"taken@example.com", "signup", "signup_taken"},
		{"taken@example.com", "recovery", "recovery_code"},
		{"nobody@example.com", "recovery", ""},
	} {
		before := f.mail.count()
		start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: c.email, Purpose: c.purpose}, cli)
		if err != nil || !core.IsID(start.FlowID) || start.ExpiresIn != recovery.CodeTTL {
			t.Fatalf("%s %s: %+v %v", c.purpose, c.email, start, err)
		}
		switch {
		case c.sent == "" && f.mail.count() != before:
			t.Errorf("%s %s: something was sent", c.purpose, c.email)
		case c.sent != "":
			if m := f.mail.last(t, c.email); m.Kind != c.sent {
				t.Errorf("%s %s: sent %s, want %s", c.purpose, c.email, m.Kind, c.sent)
			} else if c.sent == "signup_taken" && sixDigits.MatchString(m.Text) {
				t.Errorf("the notice to a taken address carries a code: %q", m.Text)
			}
		}
		// A flow that sent no code can be verified by none: it fails like a wrong code.
		if c.sent == "signup_taken" || c.sent == "" {
			_, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: "123456"}, cli)
			wantCode(t, err, "invalid_code")
		}
	}
	if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "x@example.com", Purpose: "login"}, cli); !core.Is(err, core.KindInvalid) {
		t.Errorf("purpose login: %v", err)
	}
	if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "not an address", Purpose: "signup"}, cli); !core.Is(err, core.KindInvalid) {
		t.Errorf("a bad address: %v", err)
	}
}

func TestBeginTakesTheFloorWhateverItSends(t *testing.T) {
	f := newFixture(t)
	f.d.Now = time.Now
	f.d.BeginFloor = 80 * time.Millisecond
	f.account(t, "known@example.com")
	for _, email := range []string{"known@example.com", "unknown@example.com"} {
		began := time.Now()
		if _, err := f.d.Begin(context.Background(), recovery.BeginRequest{Email: email, Purpose: "recovery"}, cli); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took < f.d.BeginFloor {
			t.Errorf("begin for %s answered after %s, before the floor %s", email, took, f.d.BeginFloor)
		}
	}
}

func TestFiveWrongCodesKillTheFlowEvenInParallel(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "a@example.com", Purpose: "signup"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.mail.last(t, "a@example.com"))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: wrong}, cli)
			c, _ := core.CodeOf(err)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes["invalid_code"] != recovery.Tries || codes["invalid_flow"] != 20-recovery.Tries {
		t.Fatalf("20 parallel wrong codes answered %v, want %d invalid_code and the rest invalid_flow", codes, recovery.Tries)
	}
	// The right code is too late now.
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code}, cli)
	wantCode(t, err, "invalid_flow")
}

func TestCodesExpireAndNeedTheirFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "b@example.com", Purpose: "signup"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.mail.last(t, "b@example.com"))
	// Another flow's id with this code, a made-up flow id and malformed input are refused.
	other, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "c@example.com", Purpose: "signup"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: other.FlowID, Code: code}, cli); err == nil {
		t.Fatal("a code verified another flow")
	}
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: core.NewID(), Code: code}, cli)
	wantCode(t, err, "invalid_flow")
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: "", Code: code}, cli)
	wantCode(t, err, "invalid_flow")
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: "12345"}, cli)
	wantCode(t, err, "invalid_code")
	f.clock.Advance(recovery.CodeTTL + time.Second)
	_, err = f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code}, cli)
	wantCode(t, err, "invalid_flow")
}

func TestEmailRecoveryWaitsTheDelayAndCanBeCancelled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := f.account(t, "owner@example.com")
	start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "owner@example.com", Purpose: "recovery"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	m := f.mail.last(t, "owner@example.com")
	if m.Kind != "recovery_code" {
		t.Fatalf("sent %s", m.Kind)
	}
	v, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: codeIn(t, m)}, cli)
	if err != nil || v.RecoveryTicket == "" || v.SignUpTicket != "" || !v.AvailableAt.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("Verify: %+v %v", v, err)
	}
	ticket, err := core.ParseTicket("test", "recoveryToken", v.RecoveryTicket)
	if err != nil || ticket.ID != uid {
		t.Fatalf("ticket %q names %s: %v", v.RecoveryTicket, ticket.ID, err)
	}
	notice := f.mail.last(t, "owner@example.com")
	if notice.Kind != "recovery_started" {
		t.Fatalf("after verify sent %s, want the recovery notice", notice.Kind)
	}
	cancelCode := regexp.MustCompile(`[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`).FindString(notice.Text)
	if cancelCode == "" || !strings.Contains(notice.HTML, cancelCode) {
		t.Fatalf("the notice carries no cancel code: %q", notice.Text)
	}
	claims := core.AccessClaims{Subject: uid, SessionID: core.NewID(), AuthTime: t0}
	p, err := f.d.Pending(ctx, claims)
	if err != nil || p == nil || !p.AvailableAt.Equal(v.AvailableAt) || p.Method != "email" || !ticket.HashMatches(core.DeriveKey(coretest.HMACKey, core.KeyRecoveryTicket), p.TicketHash) {
		t.Fatalf("Pending: %+v %v", p, err)
	}
	// A wrong cancel code leaves it; the right one ends it, once.
	wantCode(t, f.d.Cancel(ctx, core.NewTicket(uid).String(), cli), "invalid_code")
	wantCode(t, f.d.Cancel(ctx, "nonsense", cli), "invalid_code")
	if err := f.d.Cancel(ctx, cancelCode, cli); err != nil {
		t.Fatal(err)
	}
	if p, err := f.d.Pending(ctx, claims); err != nil || p != nil {
		t.Fatalf("Pending after cancel: %+v %v", p, err)
	}
	wantCode(t, f.d.Cancel(ctx, cancelCode, cli), "invalid_code")
	if m := f.mail.last(t, "owner@example.com"); m.Kind != "recovery_cancelled" {
		t.Errorf("after cancel sent %s", m.Kind)
	}
}

func TestOwnerCancelsAPendingRecovery(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := f.account(t, "o@example.com")
	start, _ := f.d.Begin(ctx, recovery.BeginRequest{Email: "o@example.com", Purpose: "recovery"}, cli)
	if _, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: codeIn(t, f.mail.last(t, "o@example.com"))}, cli); err != nil {
		t.Fatal(err)
	}
	claims := core.AccessClaims{Subject: uid, SessionID: core.NewID(), AuthTime: t0}
	if err := f.d.CancelOwn(ctx, claims, cli); err != nil {
		t.Fatal(err)
	}
	if p, err := f.d.Pending(ctx, claims); err != nil || p != nil {
		t.Fatalf("Pending after the owner cancelled: %+v %v", p, err)
	}
	if err := f.d.CancelOwn(ctx, claims, cli); err != nil {
		t.Fatalf("cancelling nothing: %v", err)
	}
}

func TestMailOutages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.account(t, "k@example.com")
	f.mail.down = true
	// Sign-up sends in both branches, so the outage is answered.
	if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "s@example.com", Purpose: "signup"}, cli); !core.Is(err, core.KindUnavailable) {
		t.Errorf("sign-up with mail down: %v", err)
	}
	// Recovery sends only for a known address: the outage must not tell it apart.
	if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "k@example.com", Purpose: "recovery"}, cli); err != nil {
		t.Errorf("recovery of a known address with mail down: %v", err)
	}
	// A recovery whose owner cannot be told does not start.
	f.mail.down = false
	f.clock.Advance(2 * time.Minute)
	start, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "k@example.com", Purpose: "recovery"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	code := codeIn(t, f.mail.last(t, "k@example.com"))
	f.mail.down = true
	if _, err := f.d.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code}, cli); !core.Is(err, core.KindUnavailable) {
		t.Fatalf("verify with the notice undeliverable: %v", err)
	}
	uid, _ := f.mem.UserIDByEmail(ctx, "k@example.com")
	if _, err := f.mem.GetRecovery(ctx, uid, f.clock.Now()); !core.Is(err, core.KindNotFound) {
		t.Fatalf("a recovery nobody was told of is pending: %v", err)
	}
}

func TestBeginLimitsAnswerAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.d.SendByAddress = core.Rule{Name: "email-send-addr", Limit: 1, Window: time.Minute}
	f.account(t, "k@example.com")
	for _, email := range []string{"k@example.com", "u@example.com"} {
		if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: email, Purpose: "recovery"}, cli); err != nil {
			t.Fatal(err)
		}
		if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: email, Purpose: "recovery"}, cli); !core.Is(err, core.KindRateLimited) {
			t.Errorf("a second begin for %s within the minute: %v", email, err)
		}
	}
	f.clock.Advance(time.Minute)
	if _, err := f.d.Begin(ctx, recovery.BeginRequest{Email: "k@example.com", Purpose: "recovery"}, cli); err != nil {
		t.Errorf("after the minute: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	uid := f.account(t, "r@example.com")
	claims := core.AccessClaims{Subject: uid, SessionID: core.NewID(), AuthTime: t0}
	// A session that signed in long ago cannot make codes (step-up).
	f.clock.Advance(10 * time.Minute)
	if _, err := f.d.NewRecoveryCodes(ctx, claims, cli); !core.Is(err, core.KindReauthenticate) {
		t.Fatalf("stale session: %v", err)
	}
	claims.AuthTime = f.clock.Now()
	codes, err := f.d.NewRecoveryCodes(ctx, claims, cli)
	if err != nil || len(codes) != recovery.RecoveryCodes {
		t.Fatalf("NewRecoveryCodes: %v %v", codes, err)
	}
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: not XXXX-XXXX-XXXX-XXXX of Crockford base32, or repeated", c)
		}
		seen[c] = true
	}
	if u, _ := f.mem.GetUser(ctx, uid); u.RecoveryCodesLeft != 10 {
		t.Fatalf("codes left %d", u.RecoveryCodesLeft)
	}
	// Typed in lower case without dashes, a code works once, at once.
	typed := strings.ToLower(strings.ReplaceAll(codes[0], "-", " "))
	v, err := f.d.VerifyRecoveryCode(ctx, typed, cli)
	if err != nil || !v.AvailableAt.Equal(f.clock.Now()) {
		t.Fatalf("VerifyRecoveryCode: %+v %v", v, err)
	}
	if tk, err := core.ParseTicket("test", "recoveryToken", v.RecoveryTicket); err != nil || tk.ID != uid {
		t.Fatalf("ticket %q: %v", v.RecoveryTicket, err)
	}
	if m := f.mail.last(t, "r@example.com"); m.Kind != "recovery_started" {
		t.Errorf("the owner was sent %s", m.Kind)
	}
	_, err = f.d.VerifyRecoveryCode(ctx, codes[0], cli)
	wantCode(t, err, "invalid_code")
	if u, _ := f.mem.GetUser(ctx, uid); u.RecoveryCodesLeft != 9 {
		t.Fatalf("codes left %d after one spent", u.RecoveryCodesLeft)
	}
	// A new set replaces the old one: its codes are dead.
	fresh, err := f.d.NewRecoveryCodes(ctx, claims, cli)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.d.VerifyRecoveryCode(ctx, codes[1], cli)
	wantCode(t, err, "invalid_code")
	if _, err := f.d.VerifyRecoveryCode(ctx, fresh[1], cli); err != nil {
		t.Fatalf("a code of the new set: %v", err)
	}
	for _, bad := range []string{"", "abcd", codes[2] + "X", "ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ-ÄÄÄÄ", "UUUU-UUUU-UUUU-UUUU"} {
		_, err := f.d.VerifyRecoveryCode(ctx, bad, cli)
		wantCode(t, err, "invalid_code")
	}
	for _, c := range append(codes, fresh...) {
		if strings.Contains(f.logs.String(), c) || strings.Contains(f.logs.String(), strings.ReplaceAll(c, "-", "")) {
			t.Fatal("the log holds a recovery code")
		}
	}
}
