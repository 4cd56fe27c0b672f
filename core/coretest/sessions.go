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

// Test settings of NewVerifier and NewSessions.
const (
	Issuer   = "https://auth.example.com"
	Audience = "api"
	ClientID = "latchkey" // the public client every test token is issued to
)

// NewVerifier returns a core.Verifier over the store's access states (the in-memory store's,
// or DynamoDB's in package dynamo) and the signer's keys, for Issuer and Audience with a 30 s
// leeway.
func NewVerifier(mem core.AccessStates, keys core.KeySource, now func() time.Time) *core.Verifier {
	return &core.Verifier{Keys: keys, States: mem, Issuer: Issuer, Audience: Audience, FirstParty: ClientID, Leeway: 30 * time.Second, Now: now}
}

// SessionsStore is every storage port core.Sessions and its Verifier use, in one store: Memory,
// or package dynamo's Store.
type SessionsStore interface {
	core.SessionStore
	core.TokenDenylist
	core.AccessStates
	core.Counters
}

var _ SessionsStore = (*Memory)(nil)

// NewSessions returns a core.Sessions over the store (the in-memory one, or DynamoDB's in
// package dynamo) and signer with test-friendly settings: NewVerifier's issuer and audience,
// 10-minute access tokens, 24 h absolute and 1 h idle sessions, a 10 s grace window and
// generous rate limits.
func NewSessions(mem SessionsStore, signer core.Signer, now func() time.Time, logs *Logs) *core.Sessions {
	codec, err := core.NewRefreshCodec(HMACKey)
	if err != nil {
		panic(err)
	}
	return &core.Sessions{
		Store: mem, Denylist: mem,
		Verifier:    NewVerifier(mem, signer, now),
		Minter:      &core.Minter{Signer: signer, Issuer: Issuer, Audience: Audience, ClientID: ClientID, TTL: 10 * time.Minute},
		Codec:       codec,
		Limiter:     &core.RateLimiter{Counters: mem},
		Audit:       slog.New(slog.NewJSONHandler(logs, nil)),
		Now:         now,
		AbsoluteTTL: 24 * time.Hour, IdleTTL: time.Hour, Grace: 10 * time.Second,
		TokenByIP:      core.Rule{Name: "token-ip", Limit: 1000, Window: time.Minute},
		TokenBySession: core.Rule{Name: "token-sid", Limit: 1000, Window: time.Minute},
	}
}
