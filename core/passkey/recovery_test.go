package passkey_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// mailbox is a passkey.Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	sent []core.Message
}

func (m *mailbox) Send(_ context.Context, msg core.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

func wantProblem(t *testing.T, err error, kind core.Kind, code string) {
	t.Helper()
	if got, _ := core.CodeOf(err); !core.Is(err, kind) || got != code {
		t.Fatalf("got %v (code %q), want %s with code %q", err, got, kind, code)
	}
}

// register runs a registration ceremony that start began, with auth.
func (f *pkFixture) register(t *testing.T, auth *passkeytest.Authenticator, start passkey.RegistrationStart) (passkey.Registration, error) {
	t.Helper()
	resp, _, err := auth.Create(mustJSON(t, start.Options), passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	return f.p.FinishRegistration(context.Background(), passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
}

func TestSignUpNeedsAVerifiedEmail(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	// A bare email is refused; so is no email where one is required.
	if _, err := f.p.BeginSignUp(ctx, passkey.SignUp{Email: "a@example.com"}, cli); !core.Is(err, core.KindInvalid) {
		t.Fatalf("sign-up with an unverified email: %v", err)
	}
	f.p.EmailRequired = true
	if _, err := f.p.BeginSignUp(ctx, passkey.SignUp{}, cli); !core.Is(err, core.KindInvalid) {
		t.Fatalf("sign-up without email where one is required: %v", err)
	}
	ticket := passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, "a@example.com", f.clock.Now())
	secret := ticket[strings.IndexByte(ticket, '.')+1:]
	last := "A"
	if strings.HasSuffix(ticket, "A") {
		last = "B"
	}
	for _, bad := range []string{"nonsense", core.NewID() + "." + secret, ticket[:len(ticket)-1] + last, ticket + "A"} {
		_, err := f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: bad}, cli)
		wantProblem(t, err, core.KindInvalid, "invalid_token")
	}
	// Two ceremonies begun with one ticket: the first to finish creates the account, the
	// other is refused and its credential named for the browser to forget.
	first, err := f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket, DisplayName: "A"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket}, cli)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := f.register(t, f.auth, first)
	if err != nil || reg.User.Email != "a@example.com" || reg.Tokens == nil {
		t.Fatalf("sign-up with the ticket: %+v %v", reg, err)
	}
	if u, err := f.mem.GetUser(ctx, reg.User.ID); err != nil || !u.EmailVerified {
		t.Fatalf("the account's email is not marked verified: %+v %v", u, err)
	}
	_, err = f.register(t, passkeytest.NewAuthenticator(passkeytest.Origin), second)
	wantProblem(t, err, core.KindConflict, "credential_not_saved")
	if !errors.Is(err, core.ErrTicketSpent) {
		t.Fatalf("the second finish: %v, want the ticket spent", err)
	}
	// The spent ticket begins nothing more.
	_, err = f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket}, cli)
	wantProblem(t, err, core.KindInvalid, "invalid_token")

	// A ticket past its lifetime is refused.
	late := passkeytest.SignUpTicket(t, f.mem, passkeytest.SignUpKey, "late@example.com", f.clock.Now())
	f.clock.Advance(16 * time.Minute)
	_, err = f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: late}, cli)
	wantProblem(t, err, core.KindInvalid, "invalid_token")
}

func TestRecoveryEnrolsOnePasskeyAndEndsTheOtherSessions(t *testing.T) {
	f := newPKFixture(t)
	mail := &mailbox{}
	f.p.Mailer = mail
	ctx := context.Background()
	owner, _ := f.signUp(t, f.auth, "owner@example.com")
	ticket := passkeytest.RecoveryTicket(t, f.mem, passkeytest.RecoveryKey, owner.User.ID, f.clock.Now(), f.clock.Now().Add(time.Hour))

	// Before it is available, the ticket begins nothing, and says when.
	_, err := f.p.BeginRecovery(ctx, ticket, cli)
	wantProblem(t, err, core.KindForbidden, "recovery_not_available")
	if _, m := core.CodeOf(err); m["availableAt"] != f.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339) {
		t.Fatalf("availableAt %v", m)
	}
	// A recovery ticket is no sign-up ticket.
	_, err = f.p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket}, cli)
	wantProblem(t, err, core.KindInvalid, "invalid_token")

	f.clock.Advance(time.Hour)
	start, err := f.p.BeginRecovery(ctx, ticket, cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(start.Options.CredentialExcludeList) != 1 {
		t.Fatalf("the recovery ceremony excludes %d passkeys, want the account's one", len(start.Options.CredentialExcludeList))
	}
	phone := passkeytest.NewAuthenticator(passkeytest.Origin)
	reg, err := f.register(t, phone, start)
	if err != nil || reg.Tokens == nil || reg.User.ID != owner.User.ID {
		t.Fatalf("FinishRegistration of the recovery: %+v %v", reg, err)
	}
	// The owner's earlier session has ended; the recovery's own session works.
	if _, err := f.s.Refresh(ctx, owner.Tokens.RefreshToken, cli); err == nil {
		t.Fatal("the session from before the recovery still refreshes")
	}
	if _, err := f.s.Verifier.Authenticate(ctx, reg.Tokens.AccessToken); err != nil {
		t.Fatalf("the recovery's session: %v", err)
	}
	// Both passkeys sign in: recovery adds one and removes none.
	for _, auth := range []*passkeytest.Authenticator{f.auth, phone} {
		id, resp := f.assertion(t, auth, passkeytest.Tweaks{})
		if _, err := f.p.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: id, Credential: resp, Client: cli}); err != nil {
			t.Fatalf("sign-in after the recovery: %v", err)
		}
	}
	if len(mail.sent) != 1 || mail.sent[0].Kind != "recovery_completed" || mail.sent[0].To != "owner@example.com" {
		t.Fatalf("mailed %+v, want the owner told of the recovery", mail.sent)
	}
	if !strings.Contains(f.logs.String(), `"msg":"recovery.completed"`) {
		t.Fatal("the recovery is not audited")
	}
	// The ticket did its one thing.
	_, err = f.p.BeginRecovery(ctx, ticket, cli)
	wantProblem(t, err, core.KindInvalid, "invalid_token")
}

func TestARecoveryTicketIsRedeemedOnce(t *testing.T) {
	f := newPKFixture(t)
	ctx := context.Background()
	owner, _ := f.signUp(t, f.auth, "once@example.com")
	ticket := passkeytest.RecoveryTicket(t, f.mem, passkeytest.RecoveryKey, owner.User.ID, f.clock.Now(), f.clock.Now())
	a, err := f.p.BeginRecovery(ctx, ticket, cli)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.p.BeginRecovery(ctx, ticket, cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.register(t, passkeytest.NewAuthenticator(passkeytest.Origin), a); err != nil {
		t.Fatal(err)
	}
	_, err = f.register(t, passkeytest.NewAuthenticator(passkeytest.Origin), b)
	if !errors.Is(err, core.ErrTicketSpent) {
		t.Fatalf("a second enrolment with one ticket: %v", err)
	}
	list, _ := f.mem.UserPasskeys(ctx, owner.User.ID)
	if len(list) != 2 {
		t.Fatalf("the account holds %d passkeys, want 2", len(list))
	}
	// A made-up secret for the account is refused before any ceremony.
	_, err = f.p.BeginRecovery(ctx, core.NewTicket(owner.User.ID).String(), cli)
	wantProblem(t, err, core.KindInvalid, "invalid_token")
}
