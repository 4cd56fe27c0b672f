// Package oidc is Latchkey as an OpenID Connect provider: the authorization code grant with
// PKCE (OAuth 2.1, RFC 9700, OIDC Core §3.1) for the clients the deployment declares, a
// provider session for single sign-on, ID tokens, userinfo and RP-initiated logout.
//
// The people signing in do so on the hosted page with a passkey, through the passkeys API; this
// package turns such a sign-in into an authorization code for a client, and the code into the
// client's tokens. It holds no WebAuthn logic and no signing key: tokens are signed in the HSM
// behind core.Signer (access tokens, ES256) and core.IDSigner (ID tokens, RS256).
//
// Every secret it hands out (authorization codes, the cookie binding a request to a browser,
// the provider session cookie) is 256 random bits stored only as its SHA-256, so a copy of the
// table does not let anyone redeem a code or take over a provider session.
package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// Lifetimes fixed by the design (docs/security.md, OpenID provider).
const (
	// RequestTTL is how long an authorization request waits for the sign-in on the hosted page.
	RequestTTL = 10 * time.Minute
	// CodeTTL is how long an authorization code can be exchanged (RFC 9700 §4.2: short).
	CodeTTL = 60 * time.Second
)

// Scopes with a meaning of their own to the provider (OIDC Core §5.4, §11).
const (
	ScopeOpenID        = "openid"         // an ID token, and userinfo
	ScopeEmail         = "email"          // email and email_verified
	ScopeProfile       = "profile"        // name
	ScopeOfflineAccess = "offline_access" // a refresh token
)

// Request is an authorization request that passed validation and waits for the person to sign
// in on the hosted page (GET /oauth2/authorize, then POST /oauth2/authorize/complete). It is
// bound to the browser that made it by a cookie whose SHA-256 is Binding, so a request id
// alone, leaked or planted, completes nothing (login CSRF).
type Request struct {
	ID            string // core.NewID; the hosted page's ?request=
	ClientID      string
	RedirectURI   string // exactly one of the client's
	Scope         string // granted scopes, space-delimited, each the client's
	State         string // echoed back, opaque
	Nonce         string // echoed in the ID token
	CodeChallenge string // PKCE S256 challenge (RFC 7636 §4.2)
	Prompt        string // "" or "login" ("none" never waits for a sign-in)
	MaxAge        time.Duration
	HasMaxAge     bool // max_age was given (0 is a valid max_age: authenticate now)
	LoginHint     string
	Binding       Hash // SHA-256 of the binding cookie's value
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Code is an authorization code as stored (the code itself is never stored, only Hash). It is
// taken at most once; a second presentation finds it used and revokes SessionID, the session
// the first exchange opened, and with it every token of that exchange (RFC 9700 §4.2.4 via
// OAuth 2.1 §4.1.3).
type Code struct {
	Hash          Hash
	ClientID      string
	RedirectURI   string
	Scope         string
	Nonce         string
	CodeChallenge string
	UserID        string
	AuthTime      time.Time
	AMR           []string
	// SessionID is chosen when the code is made: the exchange opens the session under this id,
	// so a replay of the code knows what to revoke without a write after the exchange.
	SessionID string
	// The claims the ID token carries, as they were when the person signed in.
	Email         string
	EmailVerified bool
	Name          string
	ExpiresAt     time.Time
	UsedAt        time.Time // zero until taken
}

// ProviderSession is the person's sign-in at the provider itself, kept by an HttpOnly cookie on
// the issuer's origin: while it lives, an authorization request of any client is answered
// without another ceremony (single sign-on, prompt=none), unless prompt=login or max_age asks
// for a fresh one. It is stored by the SHA-256 of the cookie's value.
type ProviderSession struct {
	Hash      Hash
	UserID    string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Store keeps requests, codes and provider sessions, each an item with TTL. Reads and takes
// treat an item past its ExpiresAt as absent, whether or not the table has deleted it yet.
// The puts only create: they refuse with KindConflict any item stored under the id or hash,
// live or not (ids and hashes are random, so only a bug repeats one).
//
// Times are kept to the second, rounded down (an expiry rounded down can only come early), and
// MaxAge in whole seconds, kept only with HasMaxAge; an empty AMR reads back as nil. Every
// method answers KindUnavailable when the store cannot be reached or will not serve now.
type Store interface {
	// PutRequest stores a new request. KindUnavailable if the store cannot be reached.
	PutRequest(ctx context.Context, r Request) error
	// GetRequest reads request id without taking it (the hosted page shows the client's name).
	// KindNotFound if absent or expired at now.
	GetRequest(ctx context.Context, id string, now time.Time) (Request, error)
	// TakeRequest deletes request id and returns it, in one conditional write that succeeds
	// only if it is live at now and its Binding is binding, so it is taken at most once and
	// never by another browser. KindNotFound if absent, expired or bound to another browser
	// (then nothing was written).
	TakeRequest(ctx context.Context, id string, binding Hash, now time.Time) (Request, error)
	// PutCode stores a new code. KindUnavailable if the store cannot be reached.
	PutCode(ctx context.Context, c Code) error
	// TakeCode marks code hash used at now, and moves its ExpiresAt to keepUntil, in one
	// conditional write that succeeds only if it is live and unused, and returns it. A used
	// code is kept until keepUntil (the end of the longest session its exchange can open), so
	// that a replay long after the code's own 60 s is still recognised: a code already used is
	// returned as found (UsedAt set) with KindConflict, so the caller can revoke what its first
	// exchange opened. KindNotFound if absent or expired at now.
	TakeCode(ctx context.Context, hash Hash, now, keepUntil time.Time) (Code, error)
	// PutProviderSession stores a new provider session.
	PutProviderSession(ctx context.Context, s ProviderSession) error
	// GetProviderSession reads provider session hash; KindNotFound if absent or expired at now.
	GetProviderSession(ctx context.Context, hash Hash, now time.Time) (ProviderSession, error)
	// DeleteProviderSession deletes provider session hash; deleting one that is absent is not
	// an error.
	DeleteProviderSession(ctx context.Context, hash Hash) error
}

// Hash is the SHA-256 of a secret the provider handed out.
type Hash [sha256.Size]byte

// HashOf is the Hash of secret.
func HashOf(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// String is the hash in base64url, the form the table keys it by.
func (h Hash) String() string { return base64.RawURLEncoding.EncodeToString(h[:]) }
