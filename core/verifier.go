package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier decides whether an access token is good: its signature and claims, checked locally
// against the public keys loaded once per process, then its revocation state, read with one
// strongly consistent round trip. It can only verify: it holds no signing key, no HMAC key and
// no session writer, which is all the authorizer needs and all it gets.
type Verifier struct {
	Keys     KeySource
	States   AccessStates
	Issuer   string
	Audience string
	Leeway   time.Duration // clock skew tolerated on exp and iat
	Now      func() time.Time
	// FirstParty is the client_id of the tokens the account API serves (LATCHKEY_CLIENT_ID):
	// Authenticate refuses every other client's token, so an access token the OpenID provider
	// issued to a relying party cannot manage the account it was issued for (its passkeys,
	// recovery codes, API keys, sessions). AuthenticateAny and AuthenticateWithUser, which
	// serve the team's APIs and userinfo, take every client's.
	FirstParty string
	// Machines are the machine clients the deployment declares (LATCHKEY_MACHINE_CLIENTS).
	// AuthenticateAny accepts a machine client's token only while its client is here and
	// enabled, so removing or disabling a client stops its tokens at the next request.
	Machines MachineClients

	parserOnce sync.Once
	parser     *jwt.Parser
}

// Authenticate verifies an access token and then decides revocation with one strongly
// consistent read of its session, its jti and its user: the token fails if the session is
// revoked, expired or idle, the jti is denied, or the user is gone, disabled, has asked that
// tokens issued (or sessions authenticated) before a time be refused, or has logged out its
// other devices since the session began (User.SessionsEndedAt). KindUnauthenticated for every refusal, with no hint
// of which check failed; KindUnavailable when the store or, on a cold start, the HSM cannot be
// reached.
//
// Authenticate accepts the first-party client's user tokens only (FirstParty): a machine
// client's token (no sid) is refused, since the routes it guards act for a signed-in user
// (/v1/me, logout), and so is a relying party's token of the OpenID provider, which was never
// meant to manage the account. The authorizer and introspection, which serve machine clients
// and relying parties too, call AuthenticateAny; userinfo calls AuthenticateWithUser.
func (v *Verifier) Authenticate(ctx context.Context, raw string) (AccessClaims, error) {
	const op = "core.Verifier.Authenticate"
	now := v.Now()
	c, err := v.Verify(ctx, raw, now)
	if err != nil {
		return AccessClaims{}, err
	}
	switch {
	case c.SessionID == "":
		return AccessClaims{}, refused(op, errors.New("a machine client's token on a user's route"))
	case c.ClientID != v.FirstParty:
		return AccessClaims{}, refused(op, errors.New("another client's token on the account API"))
	}
	c, _, err = v.decideUser(ctx, op, c, now)
	return c, err
}

// AuthenticateWithUser verifies a user's token of any client, as Authenticate does but without
// the FirstParty check, and also returns its user as read by the same round trip, for routes
// that answer with the user's own claims (userinfo; the provider's completion of a sign-in,
// which checks the client itself).
func (v *Verifier) AuthenticateWithUser(ctx context.Context, raw string) (AccessClaims, User, error) {
	const op = "core.Verifier.AuthenticateWithUser"
	now := v.Now()
	c, err := v.Verify(ctx, raw, now)
	if err != nil {
		return AccessClaims{}, User{}, err
	}
	if c.SessionID == "" {
		return AccessClaims{}, User{}, refused(op, errors.New("a machine client's token on a user's route"))
	}
	return v.decideUser(ctx, op, c, now)
}

// AuthenticateAny is Authenticate for a user's token, and also accepts a machine client's
// (IsMachine): its client must be one of Machines, enabled, still holding every scope the token
// carries, and its jti must not be denied, which is one strongly consistent read of the jti
// alone. A client removed from the configuration or disabled there is refused at the next
// request on every node that runs with that configuration.
func (v *Verifier) AuthenticateAny(ctx context.Context, raw string) (AccessClaims, error) {
	const op = "core.Verifier.AuthenticateAny"
	now := v.Now()
	c, err := v.Verify(ctx, raw, now)
	if err != nil {
		return AccessClaims{}, err
	}
	if !c.IsMachine() {
		c, _, err = v.decideUser(ctx, op, c, now)
		return c, err
	}
	mc, ok := v.Machines.Active(c.ClientID)
	switch {
	case !ok:
		return AccessClaims{}, refused(op, errors.New("machine client unknown or disabled"))
	case !mc.Holds(c.Scope):
		return AccessClaims{}, refused(op, errors.New("machine client no longer holds the token's scope"))
	}
	st, err := v.States.AccessState(ctx, "", c.ID, "", now)
	if err != nil {
		return AccessClaims{}, err
	}
	if st.TokenDenied {
		return AccessClaims{}, refused(op, errors.New("token revoked"))
	}
	return c, nil
}

// decideUser decides the revocation of a user's verified token c: one read of its session,
// jti and user, which it returns with c when the token is good.
func (v *Verifier) decideUser(ctx context.Context, op Op, c AccessClaims, now time.Time) (AccessClaims, User, error) {
	st, err := v.States.AccessState(ctx, c.SessionID, c.ID, c.Subject, now)
	if err != nil {
		return AccessClaims{}, User{}, err
	}
	var why string
	switch {
	case !st.SessionFound || !st.Session.Live(now):
		why = "session ended"
	case st.Session.UserID != c.Subject:
		why = "session of another user"
	case st.TokenDenied:
		why = "token revoked"
	case c.IssuedAt.Before(st.User.TokensNotBefore.Truncate(time.Second)):
		why = "token issued before the user's not-before time"
	default:
		if why = userEnded(st); why == "" {
			return c, st.User, nil
		}
	}
	return AccessClaims{}, User{}, refused(op, errors.New(why))
}

// AcceptsUntil is the first instant at which Verify refuses c for being expired: its exp plus
// the Leeway tolerated for clock skew, rounded up to the whole second. A denial of c's jti must
// last until then, not merely until exp, or the token works again for the leeway after its
// exp; the store keeps times to the second, rounded down, so the rounding up here keeps a
// denial at least that long. Every verifier of a deployment is built with the same Leeway.
func (v *Verifier) AcceptsUntil(c AccessClaims) time.Time {
	until := c.ExpiresAt.Add(v.Leeway)
	if t := until.Truncate(time.Second); !t.Equal(until) {
		return t.Add(time.Second)
	}
	return until
}

// ErrInvalidToken is in the chain of every refusal of a presented access token, by Verify or
// Authenticate, whatever the reason (which is logged, never told to the caller). It lets the
// edge tell a token that was refused (RFC 6750 error="invalid_token") from a request that
// brought no token at all, or failed some other way (a passkey ceremony).
var ErrInvalidToken = errors.New("invalid access token")

// refused is the error of a refused token: KindUnauthenticated, ErrInvalidToken and why.
func refused(op Op, why error) error {
	if why == nil {
		return E(op, KindUnauthenticated, "invalid access token", ErrInvalidToken)
	}
	return E(op, KindUnauthenticated, "invalid access token", fmt.Errorf("%w: %w", ErrInvalidToken, why))
}

// Verify checks raw's signature and claims and returns them; it does not decide revocation
// (Authenticate does, with one store read). It accepts exactly ES256 under a key of
// ours found by kid, never follows jku, x5u or jwk headers, and requires exp, iat, iss, aud and
// typ at+jwt, and the jti, sub, sid and client_id claims (RFC 8725 §3.1, §3.11; RFC 9068 §2.2, §4);
// a token without sid is accepted only in the shape of a machine client's (sub = client_id,
// IsMachine). Every failure is KindUnauthenticated except
// an unreachable HSM on a cold start, which is KindUnavailable.
func (v *Verifier) Verify(ctx context.Context, raw string, now time.Time) (AccessClaims, error) {
	const op = "core.Verifier.Verify"
	if raw == "" || len(raw) > MaxTokenLength || strings.Count(raw, ".") != 2 {
		return AccessClaims{}, refused(op, nil)
	}
	keys, err := v.Keys.PublicKeys(ctx)
	if err != nil {
		return AccessClaims{}, err
	}
	var wire jwtClaims
	_, err = v.jwtParser().ParseWithClaims(raw, &wire, func(tok *jwt.Token) (any, error) {
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
		err = v.validate(&wire, now)
	}
	if err != nil {
		return AccessClaims{}, refused(op, err)
	}
	if wire.IssuedAt == nil || wire.ID == "" || wire.Subject == "" || wire.ClientID == "" {
		return AccessClaims{}, refused(op, errors.New("iat, jti, sub or client_id missing"))
	}
	if wire.SessionID == "" && (wire.Subject != wire.ClientID || wire.AuthTime != 0 || len(wire.AMR) > 0) {
		return AccessClaims{}, refused(op, errors.New("sid missing"))
	}
	var authTime time.Time
	if wire.AuthTime != 0 {
		authTime = time.Unix(wire.AuthTime, 0)
	}
	return AccessClaims{
		Issuer:    wire.Issuer,
		Subject:   wire.Subject,
		Audience:  v.Audience,
		ExpiresAt: wire.ExpiresAt.Time,
		IssuedAt:  wire.IssuedAt.Time,
		ID:        wire.ID,
		SessionID: wire.SessionID,
		AuthTime:  authTime,
		AMR:       wire.AMR,
		Scope:     wire.Scope,
		ClientID:  wire.ClientID,
	}, nil
}

// jwtParser is built once: it checks structure, the ES256-only algorithm list and the
// signature; validate checks the claims, with the caller's clock.
func (v *Verifier) jwtParser() *jwt.Parser {
	v.parserOnce.Do(func() {
		v.parser = jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		)
	})
	return v.parser
}

// validate requires exp, iat, iss and aud and checks them at now (RFC 9068 §4; golang-jwt
// would accept a token without exp unless told otherwise).
func (v *Verifier) validate(c *jwtClaims, now time.Time) error {
	switch {
	case c.ExpiresAt == nil:
		return errors.New("exp missing")
	case !now.Before(c.ExpiresAt.Add(v.Leeway)):
		return errors.New("token expired")
	case c.IssuedAt == nil:
		return errors.New("iat missing")
	case c.IssuedAt.After(now.Add(v.Leeway)):
		return errors.New("iat in the future")
	case c.Issuer != v.Issuer:
		return fmt.Errorf("iss %q is not ours", c.Issuer)
	case !slices.Contains(c.Audience, v.Audience):
		return fmt.Errorf("aud %q does not include %q", c.Audience, v.Audience)
	}
	return nil
}
