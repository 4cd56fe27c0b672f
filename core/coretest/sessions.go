package coretest

import (
	"bytes"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey/latchkey/core"
)

// Clock is a settable time source for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// Logs is a goroutine-safe buffer for captured log lines.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.Write(p) }

// String returns everything logged so far.
func (l *Logs) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.buf.String() }

// HMACKey is a fixed refresh-token key for tests.
var HMACKey = bytes.Repeat([]byte("k"), 32)

// NewSessions returns a core.Sessions over the in-memory store and signer with test-friendly
// settings: issuer https://auth.example.com, audience "api", 10-minute access tokens, 24 h
// absolute and 1 h idle sessions, a 10 s grace window and generous rate limits.
func NewSessions(mem *Memory, signer core.Signer, now func() time.Time, logs *Logs) *core.Sessions {
	codec, err := core.NewRefreshCodec(HMACKey)
	if err != nil {
		panic(err)
	}
	return &core.Sessions{
		Store: mem, States: mem, Denylist: mem,
		Tokens:      &core.Tokens{Signer: signer, Issuer: "https://auth.example.com", Audience: "api", TTL: 10 * time.Minute, Leeway: 30 * time.Second},
		Codec:       codec,
		Limiter:     &core.RateLimiter{Counters: mem},
		Audit:       slog.New(slog.NewJSONHandler(logs, nil)),
		Now:         now,
		AbsoluteTTL: 24 * time.Hour, IdleTTL: time.Hour, Grace: 10 * time.Second,
		TokenByIP:      core.Rule{Name: "token-ip", Limit: 1000, Window: time.Minute},
		TokenBySession: core.Rule{Name: "token-sid", Limit: 1000, Window: time.Minute},
	}
}

// The relying party of NewPasskeys: an origin of the RP ID's domain, as a team's web app is.
const (
	RPID   = "example.com"
	Origin = "https://app.example.com"
)

// NewPasskeys returns a core.Passkeys over the in-memory store and s, for RPID and Origin,
// with attestation "none", the decoy key derived from HMACKey and generous rate limits.
func NewPasskeys(mem *Memory, s *core.Sessions, now func() time.Time, logs *Logs) *core.Passkeys {
	w, err := core.NewWebAuthn(core.WebAuthnConfig{RPID: RPID, RPName: "Latchkey test", Origins: []string{Origin}})
	if err != nil {
		panic(err)
	}
	return &core.Passkeys{
		WebAuthn: w, Credentials: mem, Accounts: mem, Users: mem, Challenges: mem,
		Sessions: s, Limiter: &core.RateLimiter{Counters: mem},
		Audit:     slog.New(slog.NewJSONHandler(logs, nil)),
		Now:       now,
		DecoyKey:  core.DeriveKey(HMACKey, core.DecoyKeyLabel),
		BeginByIP: core.Rule{Name: "pk-begin-ip", Limit: 1000, Window: time.Minute}, BeginByAccount: core.Rule{Name: "pk-begin-acct", Limit: 1000, Window: time.Minute},
		FinishByIP: core.Rule{Name: "pk-finish-ip", Limit: 1000, Window: time.Minute}, FinishByAccount: core.Rule{Name: "pk-finish-acct", Limit: 1000, Window: time.Minute},
	}
}
