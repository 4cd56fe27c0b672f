// Package coretest holds the in-memory store, the test signer and clock, and one contract suite
// per storage port of core. The suites run against the fakes here and against DynamoDB Local in
// package dynamo, so the fakes cannot drift from the real store. The passkey ports' suites are
// in core/passkey/passkeytest, beside the software authenticator.
package coretest

import (
	"sync"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
)

// Memory implements the storage ports of core and of the use cases (passkey's and recovery's
// among them, structurally, as package dynamo does; oidc.Store too, whose methods take
// core/oidc's types) in process memory, for tests of the use cases. It keeps the store's
// semantics: times are kept to the second (a session's CreatedAt and a user's SessionsEndedAt
// to the millisecond), expired entries stay in the maps (as they stay in the table until TTL
// runs) and are treated as absent. Safe for concurrent use.
type Memory struct {
	mu         sync.Mutex
	challenges map[string]core.Challenge
	denied     map[string]int64 // jti → denied until, in epoch seconds
	counters   map[counterKey]counter
	sessions   map[string]core.Session
	users      map[string]core.User
	emails     map[string]string // email → uid
	passkeys   map[string]core.Passkey
	counts     map[string]int // uid → passkeys counted on the user, as the user item keeps it
	flows      map[string]core.EmailFlow
	recoveries map[string]core.PendingRecovery // uid → the user's pending recovery
	codes      map[string]recoveryCode         // string(keyed hash) → the recovery code's owner and set
	apiKeys    map[string]core.APIKey          // string(SHA-256) → the API key, its lookup item

	oidcRequests     map[string]oidc.Request // the OpenID provider's authorization requests by id
	oidcCodes        map[oidc.Hash]oidc.Code
	providerSessions map[oidc.Hash]oidc.ProviderSession
}

var (
	_ core.TokenDenylist = (*Memory)(nil)
	_ core.Counters      = (*Memory)(nil)
	_ core.SessionStore  = (*Memory)(nil)
	_ core.AccessStates  = (*Memory)(nil)
)

// NewMemory returns an empty Memory.
func NewMemory() *Memory {
	return &Memory{
		challenges: make(map[string]core.Challenge),
		denied:     make(map[string]int64),
		counters:   make(map[counterKey]counter),
		sessions:   make(map[string]core.Session),
		users:      make(map[string]core.User),
		emails:     make(map[string]string),
		passkeys:   make(map[string]core.Passkey),
		counts:     make(map[string]int),
		flows:      make(map[string]core.EmailFlow),
		recoveries: make(map[string]core.PendingRecovery),
		codes:      make(map[string]recoveryCode),
		apiKeys:    make(map[string]core.APIKey),

		oidcRequests:     make(map[string]oidc.Request),
		oidcCodes:        make(map[oidc.Hash]oidc.Code),
		providerSessions: make(map[oidc.Hash]oidc.ProviderSession),
	}
}

// live reports whether something expiring at exp (epoch seconds) is live at now. It is the
// store's rule: live while expiresAt > now, both in whole seconds.
func live(exp int64, now time.Time) bool { return exp > now.Unix() }
