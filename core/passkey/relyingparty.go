// Package passkey is the WebAuthn use case: passkey sign-up, sign-in (by email or
// discoverable, including conditional UI) and the management of a user's own passkeys, on
// go-webauthn. It is the only package that links go-webauthn, so only the passkeys function
// carries it; the entities it stores (core.Passkey, core.Challenge) live in core, and package
// dynamo satisfies the ports below without importing this package.
package passkey

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
)

// ChallengeTTL is how long a WebAuthn ceremony may take, from begin to finish. The challenge
// item expires then, whether or not the table has deleted it (docs/security.md, passkeys).
const ChallengeTTL = 5 * time.Minute

// AMR is the authentication methods (RFC 8176) of a passkey sign-in: proof of
// possession of a key held by an authenticator, with user verification making it
// multi-factor.
var AMR = []string{"hwk", "mfa"}

// The client-safe answers of failed ceremonies. Every sign-in failure is the same answer, so a
// caller learns nothing about which check failed (docs/api.md, errors).
const (
	detailLoginFailed        = "passkey sign-in failed"
	detailRegistrationFailed = "the passkey could not be registered; start again"
)

// RelyingParty is the WebAuthn relying party (WebAuthn §4): the use case behind passkey
// sign-up, sign-in and the caller's own passkeys. It is stateless: ceremony state lives in the
// challenge store between begin and finish, so any node can finish what another began.
//
// Its files follow the ceremonies: registration.go (sign-up and added passkeys), login.go
// (sign-in), manage.go (list, rename, delete), state.go (the ceremony state codec),
// webauthn.go (the go-webauthn glue) and names.go (keyed hashes, default passkey names).
type RelyingParty struct {
	WebAuthn    *webauthn.WebAuthn
	Credentials CredentialStore
	Accounts    AccountStore
	Challenges  ChallengeStore
	Tickets     TicketStore
	Sessions    Sessions
	// Mailer tells an account's owner of a completed recovery; nil sends nothing.
	Mailer  Mailer
	Limiter *core.RateLimiter
	Audit   *slog.Logger
	Now     func() time.Time
	// HashKey keys the hashes that name emails in rate-limit counters and accounts in audit
	// events, so neither the table nor the log holds them in the clear. At least 32 bytes:
	// core.DeriveKey(secret, HashKeyLabel).
	HashKey []byte
	// ReauthMaxAge is how recent the caller's authentication must be to add or delete a
	// passkey (RFC 9470 step-up).
	ReauthMaxAge time.Duration
	// EmailRequired refuses sign-up without a verified email (a sign-up ticket); when false,
	// an account may also be created with no email at all.
	EmailRequired bool
	// SignUpKey and RecoveryKey are the keys the email function hashes sign-up and recovery
	// tickets with: core.DeriveKey(secret, core.KeySignUpTicket) and (…, core.KeyRecoveryTicket).
	SignUpKey, RecoveryKey []byte
	// App is the application's name in the emails (the relying party's name).
	App string

	BeginByIP       core.Rule // register/begin and login/begin per client address
	BeginByAccount  core.Rule // per verified user, or per email and client address (sign-up)
	FinishByIP      core.Rule // register/finish and login/finish per client address
	FinishByAccount core.Rule // per verified user (verified login failures), or per email and address
}

// RegistrationStart is what a client needs to call navigator.credentials.create().
type RegistrationStart struct {
	ChallengeID string
	Options     protocol.PublicKeyCredentialCreationOptions
}

// LoginStart is what a client needs to call navigator.credentials.get().
type LoginStart struct {
	ChallengeID string
	Options     protocol.PublicKeyCredentialRequestOptions
}

// SignUp is a request for a new account: with the sign-up ticket of a verified address
// (package recovery hands it out), or, where EmailRequired is off, with neither ticket nor
// email.
type SignUp struct {
	Ticket      string // the signupToken of /v1/email/verify
	Email       string // refused: an address must be verified first
	DisplayName string // optional
}

// RegistrationFinish completes a register ceremony.
type RegistrationFinish struct {
	ChallengeID string
	Credential  []byte             // RegistrationResponseJSON, as the client sent it
	Name        string             // optional name of the passkey
	Claims      *core.AccessClaims // the caller's verified access token, if it sent one
	Client      core.Client
}

// Registration is a registered passkey, and on sign-up the new account and its first tokens.
type Registration struct {
	User    core.User
	Passkey core.Passkey
	Tokens  *core.TokenResponse // nil when a passkey was added to an existing account
}

// putChallenge stores a new challenge for a ceremony and returns its id.
func (rp *RelyingParty) putChallenge(ctx context.Context, c core.Ceremony, uid string, st ceremonyState, now time.Time) (string, error) {
	state, err := st.encode()
	if err != nil {
		return "", core.Wrap("passkey.RelyingParty.putChallenge", err)
	}
	id := core.NewID()
	err = rp.Challenges.PutChallenge(ctx, core.Challenge{ID: id, Ceremony: c, UserID: uid, State: state, ExpiresAt: now.Add(ChallengeTTL)}, now)
	if err != nil {
		return "", err
	}
	return id, nil
}

// limit counts one hit under the address rule and, when account is set, the account rule,
// concurrently.
func (rp *RelyingParty) limit(ctx context.Context, now time.Time, byIP core.Rule, ip string, byAccount core.Rule, account string) error {
	var ipErr, acctErr error
	fns := []func(){func() { ipErr = rp.Limiter.Allow(ctx, byIP, ip, now) }}
	if account != "" {
		fns = append(fns, func() { acctErr = rp.Limiter.Allow(ctx, byAccount, account, now) })
	}
	parallel.Do(fns...)
	return parallel.First(ipErr, acctErr)
}

func (rp *RelyingParty) audit(ctx context.Context, event string, attrs ...any) {
	rp.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
