// Package recovery is the use case of email codes and account recovery: verified sign-up
// (an email code exchanged for a single-use sign-up ticket), the two ways back into an account
// whose passkeys are lost (an email code, usable only after a delay the owner can cancel in,
// or a recovery code, at once) and the account's recovery codes. A recovery ticket does
// exactly one thing: package passkey redeems it in the write that enrols a new passkey.
package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"math/big"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/message"
)

// The lifetimes of the things the desk hands out (docs/security.md, email codes and recovery).
const (
	// CodeTTL is how long an email code, and the flow it belongs to, lives.
	CodeTTL = 10 * time.Minute
	// Tries is how many codes a flow can be tried with before it is dead.
	Tries = 5
	// SignUpTicketTTL is how long a verified address may take to finish its passkey ceremony.
	SignUpTicketTTL = 15 * time.Minute
	// EmailRecoveryWindow is how long an email recovery can complete once it is available:
	// the person has to come back after the delay.
	EmailRecoveryWindow = 24 * time.Hour
	// CodeRecoveryWindow is how long a recovery started with a recovery code can complete.
	CodeRecoveryWindow = time.Hour
	// RecoveryCodes is how many recovery codes a set has.
	RecoveryCodes = 10
)

// Desk is the recovery use case. It is stateless: flows, pending recoveries and recovery
// codes live in the stores, so any node can finish what another began.
type Desk struct {
	Flows      FlowStore
	Recoveries RecoveryStore
	Codes      CodeStore
	Accounts   Accounts
	Mailer     Mailer
	Limiter    *core.RateLimiter
	Audit      *slog.Logger
	Now        func() time.Time
	// Secret is the HMAC secret; the desk derives a key of its own from it for each kind of
	// code and ticket (core.Key* labels), so no two uses share a key.
	Secret []byte
	// App is the application's name in the emails.
	App string
	// Delay is how long an email recovery waits before it can complete (0 allowed).
	Delay time.Duration
	// BeginFloor is the least time Begin takes, whatever it does, so that an address with an
	// account and one without answer alike (a code is sent for one and not the other).
	BeginFloor time.Duration
	// ReauthMaxAge is how recent the caller's authentication must be to replace the recovery
	// codes (RFC 9470 step-up).
	ReauthMaxAge time.Duration

	BeginByIP      core.Rule // email/begin per client address
	BeginByAddress core.Rule // email/begin per address asked for
	SendByAddress  core.Rule // emails per address (one a minute: the resend limit)
	VerifyByIP     core.Rule // email/verify per client address
	CodeByIP       core.Rule // recovery/codes/verify and recovery/cancel per client address
}

// key derives the desk's key for label.
func (d *Desk) key(label string) []byte { return core.DeriveKey(d.Secret, label) }

// keyed is a keyed hash of value under label, base64url, 16 bytes: how rate-limit counters and
// audit events name an address.
func (d *Desk) keyed(label, value string) string {
	m := hmac.New(sha256.New, d.key(label))
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// addressKey names a normalized address in counters and audit events.
func (d *Desk) addressKey(email string) string {
	return "email:" + d.keyed("latchkey recovery address v1", email)
}

func (d *Desk) audit(ctx context.Context, event string, attrs ...any) {
	d.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

// codeHash is the keyed hash an email code is kept as.
func (d *Desk) codeHash(flowID, code string) []byte {
	m := hmac.New(sha256.New, d.key(core.KeyEmailCode))
	m.Write([]byte(flowID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// newEmailCode is six decimal digits from the CSPRNG, uniformly.
func newEmailCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	s := n.String()
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

// problem is a client mistake with a problem code the client acts on (invalid_code,
// invalid_flow, …).
func problem(op core.Op, kind core.Kind, code, detail string, cause error) error {
	return &core.Error{Op: op, Kind: kind, Detail: detail, Err: cause, Code: code}
}

// send renders and sends one message; the caller decides what a failure means.
func (d *Desk) send(ctx context.Context, kind, to string, data message.Data) error {
	data.App = d.App
	m, err := message.Render(kind, to, data)
	if err != nil {
		return err
	}
	return d.Mailer.Send(ctx, m)
}
