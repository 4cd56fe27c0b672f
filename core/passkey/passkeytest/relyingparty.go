// Package passkeytest holds what tests of passkeys need: a software WebAuthn authenticator,
// the contract suites of the passkey ports (run against coretest.Memory here and against
// DynamoDB Local in package dynamo) and a relying party over the in-memory store.
package passkeytest

import (
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
)

// The relying party of NewRelyingParty: an origin of the RP ID's domain, as a team's web app
// is.
const (
	RPID   = "example.com"
	Origin = "https://app.example.com"
)

var (
	_ passkey.CredentialStore = (*coretest.Memory)(nil)
	_ passkey.AccountStore    = (*coretest.Memory)(nil)
	_ passkey.ChallengeStore  = (*coretest.Memory)(nil)
	_ passkey.TicketStore     = (*coretest.Memory)(nil)
)

// NewRelyingParty returns a passkey.RelyingParty over the in-memory store and s, for RPID and
// Origin, with attestation "none", the decoy key and ticket keys derived from
// coretest.HMACKey, email-less sign-up allowed, no mailer and generous rate limits.
func NewRelyingParty(mem *coretest.Memory, s passkey.Sessions, now func() time.Time, logs *coretest.Logs) *passkey.RelyingParty {
	w, err := passkey.NewWebAuthn(passkey.Config{RPID: RPID, RPName: "Latchkey test", Origins: []string{Origin}})
	if err != nil {
		panic(err)
	}
	lots := func(name string) core.Rule { return core.Rule{Name: name, Limit: 1000, Window: time.Minute} }
	return &passkey.RelyingParty{
		WebAuthn: w, Credentials: mem, Accounts: mem, Challenges: mem, Tickets: mem,
		SignUpKey: SignUpKey, RecoveryKey: RecoveryKey, App: "Latchkey test",
		Sessions: s, Limiter: &core.RateLimiter{Counters: mem},
		Audit:   slog.New(slog.NewJSONHandler(logs, nil)),
		Now:     now,
		HashKey: core.DeriveKey(coretest.HMACKey, passkey.HashKeyLabel), ReauthMaxAge: 5 * time.Minute,
		BeginByIP: lots("pk-begin-ip"), BeginByAccount: lots("pk-begin-acct"),
		FinishByIP: lots("pk-finish-ip"), FinishByAccount: lots("pk-finish-acct"),
	}
}
