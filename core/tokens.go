package core

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLength bounds the access tokens Latchkey will even look at. Ours are well under
// 1 KB; anything far longer is refused before any decoding (docs/security.md, tokens: huge tokens
// fail fast).
const MaxTokenLength = 4096

// accessTokenType is the JWS typ of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// AccessClaims are the claims of a Latchkey access token (RFC 9068 §2.2).
type AccessClaims struct {
	Issuer    string
	Subject   string // the user id; a machine client's id for its own tokens
	Audience  string
	ExpiresAt time.Time
	IssuedAt  time.Time
	ID        string    // jti
	SessionID string    // "" in a machine client's token, which no session backs
	AuthTime  time.Time // zero in a machine client's token: no one signed in
	AMR       []string
	Scope     string
	ClientID  string // client_id: the OAuth client the token was issued to (RFC 9068 §2.2)
}

// jwtClaims is the wire form of AccessClaims.
type jwtClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id"`
}

// Minter issues ES256 access tokens. The signature is made inside the HSM behind Signer;
// only the functions that sign people in (or machine clients, IssueClient) hold a Minter (the
// authorizer holds a Verifier).
type Minter struct {
	Signer   Signer
	Issuer   string
	Audience string
	ClientID string // client_id of every user's token: the configured public client (LATCHKEY_CLIENT_ID)
	TTL      time.Duration
}

// Issue signs an access token for the session s at now. The header carries typ at+jwt and the
// kid of the signing key, the claims RFC 9068 §2.2 requires, client_id among them (the
// session's client, or the Minter's ClientID for a first-party session); the signature is made
// inside the HSM. A Minter without a ClientID is a configuration bug: it refuses to sign,
// since every verifier would refuse the token.
func (t *Minter) Issue(ctx context.Context, s Session, now time.Time) (string, AccessClaims, error) {
	if t.ClientID == "" {
		return "", AccessClaims{}, E("core.Minter.Issue", KindInternal, "", errors.New("the Minter has no ClientID"))
	}
	return t.sign(ctx, AccessClaims{
		Issuer:    t.Issuer,
		Subject:   s.UserID,
		Audience:  t.Audience,
		IssuedAt:  now.Truncate(time.Second),
		ExpiresAt: now.Add(t.TTL).Truncate(time.Second),
		ID:        NewID(),
		SessionID: s.ID,
		AuthTime:  s.AuthTime,
		AMR:       s.AMR,
		Scope:     s.Scope,
		ClientID:  cmp.Or(s.ClientID, t.ClientID),
	})
}

// IssueClient signs an access token of machine client clientID for itself (the
// client_credentials grant, RFC 6749 §4.4; RFC 9068 §2.2: sub is the client's id when no
// resource owner is involved): sub and client_id are clientID, scope is scope, and there is no
// sid, auth_time or amr, since no session backs it and no one signed in. The Verifier tells it
// from a user's token by exactly that shape (no sid, sub = client_id).
func (t *Minter) IssueClient(ctx context.Context, clientID, scope string, now time.Time) (string, AccessClaims, error) {
	if clientID == "" {
		return "", AccessClaims{}, E("core.Minter.IssueClient", KindInternal, "", errors.New("no client id"))
	}
	return t.sign(ctx, AccessClaims{
		Issuer:    t.Issuer,
		Subject:   clientID,
		Audience:  t.Audience,
		IssuedAt:  now.Truncate(time.Second),
		ExpiresAt: now.Add(t.TTL).Truncate(time.Second),
		ID:        NewID(),
		Scope:     scope,
		ClientID:  clientID,
	})
}

// sign encodes c with typ at+jwt and the kid of the signing key, and has the HSM sign it.
func (t *Minter) sign(ctx context.Context, c AccessClaims) (string, AccessClaims, error) {
	const op = "core.Minter.Issue"
	keys, err := t.Signer.PublicKeys(ctx)
	if err != nil {
		return "", AccessClaims{}, err
	}
	var authTime int64
	if !c.AuthTime.IsZero() {
		authTime = c.AuthTime.Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.Subject,
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		SessionID: c.SessionID,
		AuthTime:  authTime,
		AMR:       c.AMR,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
	})
	tok.Header["typ"] = accessTokenType
	tok.Header["kid"] = keys[0].ID
	input, err := tok.SigningString()
	if err != nil {
		return "", AccessClaims{}, Wrap(op, err)
	}
	sig, err := t.Signer.Sign(ctx, []byte(input))
	if err != nil {
		return "", AccessClaims{}, err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), c, nil
}

// NewID returns a random 128-bit identifier, base64url encoded (22 characters), for users,
// sessions, token ids and challenges.
func NewID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // rand.Read never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// IsID reports whether s has the shape of the ids NewID hands out: 22 base64url characters.
// Anything else cannot have been issued, so callers refuse it before any lookup (and so never
// hand the store a key it would reject for its size).
func IsID(s string) bool {
	if len(s) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// NewSecret returns 256 random bits in base64url without padding (43 characters): the secret
// half of a ticket, an authorization code, a cookie value, a machine client's secret.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// IsSecret reports whether s has the shape NewSecret hands out: anything else cannot have been
// issued, so callers refuse it before any lookup.
func IsSecret(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// RequireRecent refuses a change of how the account is protected (adding or deleting a
// passkey, recovery codes, API keys) unless the holder of c authenticated within maxAge of now
// (RFC 9470; ASVS V7.5.1): a token minted by a refresh weeks after the last ceremony carries
// that old auth_time and is not enough. KindReauthenticate with MaxAge set otherwise; the
// client re-authenticates with a passkey ceremony on the same session.
func RequireRecent(c AccessClaims, now time.Time, maxAge time.Duration) error {
	if !c.AuthTime.IsZero() && now.Sub(c.AuthTime) <= maxAge {
		return nil
	}
	e := E("core.RequireRecent", KindReauthenticate, "this change needs a recent sign-in; sign in with a passkey again", nil)
	e.MaxAge = maxAge
	return e
}
