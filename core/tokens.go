package core

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenLength bounds the access tokens Latchkey will even look at. Ours are well under
// 1 KB; anything far longer is refused before any decoding (SECURITY.md: huge tokens fail fast).
const MaxTokenLength = 4096

// accessTokenType is the JWS typ of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// AccessClaims are the claims of a Latchkey access token (RFC 9068 §2.2).
type AccessClaims struct {
	Issuer    string
	Subject   string // the user id
	Audience  string
	ExpiresAt time.Time
	IssuedAt  time.Time
	ID        string // jti
	SessionID string
	AuthTime  time.Time
	AMR       []string
	Scope     string
}

// jwtClaims is the wire form of AccessClaims.
type jwtClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	AuthTime  int64    `json:"auth_time"`
	AMR       []string `json:"amr,omitempty"`
	Scope     string   `json:"scope,omitempty"`
}

// Tokens issues and verifies ES256 access tokens. Signing happens in the HSM behind Signer;
// verification is local, against the public keys loaded once per process.
type Tokens struct {
	Signer   Signer
	Issuer   string
	Audience string
	TTL      time.Duration
	Leeway   time.Duration // clock skew tolerated on exp and iat

	parserOnce sync.Once
	parser     *jwt.Parser
}

// Issue signs an access token for the session s at now. The header carries typ at+jwt and the
// kid of the signing key; the signature is made inside the HSM.
func (t *Tokens) Issue(ctx context.Context, s Session, now time.Time) (string, AccessClaims, error) {
	const op = "core.Tokens.Issue"
	keys, err := t.Signer.PublicKeys(ctx)
	if err != nil {
		return "", AccessClaims{}, err
	}
	c := AccessClaims{
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
		AuthTime:  c.AuthTime.Unix(),
		AMR:       c.AMR,
		Scope:     c.Scope,
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

// errBadToken is the one answer for every token that fails verification; the reason is
// logged, never told to the caller.
var errBadToken = errors.New("invalid access token")

// Verify checks raw's signature and claims and returns them; it does not decide revocation
// (Sessions.Authenticate does, with one store read). It accepts exactly ES256 under a key of
// ours found by kid, never follows jku, x5u or jwk headers, and requires exp, iat, iss, aud and
// typ at+jwt (RFC 8725 §3.1, §3.11; RFC 9068 §4). Every failure is KindUnauthenticated except
// an unreachable HSM on a cold start, which is KindUnavailable.
func (t *Tokens) Verify(ctx context.Context, raw string, now time.Time) (AccessClaims, error) {
	const op = "core.Tokens.Verify"
	if raw == "" || len(raw) > MaxTokenLength || strings.Count(raw, ".") != 2 {
		return AccessClaims{}, E(op, KindUnauthenticated, "invalid access token", errBadToken)
	}
	keys, err := t.Signer.PublicKeys(ctx)
	if err != nil {
		return AccessClaims{}, err
	}
	var wire jwtClaims
	_, err = t.jwtParser().ParseWithClaims(raw, &wire, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
			return nil, fmt.Errorf("typ %q is not %s", typ, accessTokenType)
		}
		kid, _ := tok.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid {
				return k.Key, nil
			}
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	})
	if err == nil {
		err = t.validate(&wire, now)
	}
	if err != nil {
		return AccessClaims{}, E(op, KindUnauthenticated, "invalid access token", err)
	}
	if wire.IssuedAt == nil || wire.ID == "" || wire.Subject == "" || wire.SessionID == "" {
		return AccessClaims{}, E(op, KindUnauthenticated, "invalid access token", errors.New("iat, jti, sub or sid missing"))
	}
	return AccessClaims{
		Issuer:    wire.Issuer,
		Subject:   wire.Subject,
		Audience:  t.Audience,
		ExpiresAt: wire.ExpiresAt.Time,
		IssuedAt:  wire.IssuedAt.Time,
		ID:        wire.ID,
		SessionID: wire.SessionID,
		AuthTime:  time.Unix(wire.AuthTime, 0),
		AMR:       wire.AMR,
		Scope:     wire.Scope,
	}, nil
}

// jwtParser is built once: it checks structure, the ES256-only algorithm list and the
// signature; validate checks the claims, with the caller's clock.
func (t *Tokens) jwtParser() *jwt.Parser {
	t.parserOnce.Do(func() {
		t.parser = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		)
	})
	return t.parser
}

// validate requires exp, iat, iss and aud and checks them at now (RFC 9068 §4; golang-jwt
// would accept a token without exp unless told otherwise).
func (t *Tokens) validate(c *jwtClaims, now time.Time) error {
	switch {
	case c.ExpiresAt == nil:
		return errors.New("exp missing")
	case !now.Before(c.ExpiresAt.Add(t.Leeway)):
		return errors.New("token expired")
	case c.IssuedAt == nil:
		return errors.New("iat missing")
	case c.IssuedAt.After(now.Add(t.Leeway)):
		return errors.New("iat in the future")
	case c.Issuer != t.Issuer:
		return fmt.Errorf("iss %q is not ours", c.Issuer)
	case !slices.Contains(c.Audience, t.Audience):
		return fmt.Errorf("aud %q does not include %q", c.Audience, t.Audience)
	}
	return nil
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
