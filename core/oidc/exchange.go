package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
)

// Exchanger is the authorization_code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636
// §4.6, OIDC Core §3.1.3): a code, its PKCE verifier and redirect URI, presented by the client
// it was issued to (authenticated by the caller: a confidential client's secret is checked
// before Exchange), become a session of that client, its access token, an ID token and, with
// offline_access, a refresh token.
type Exchanger struct {
	Store    Store
	Sessions *core.Sessions // opens the client's session and signs its access token
	IDTokens *IDMinter
	Limiter  *core.RateLimiter
	Audit    *slog.Logger
	Now      func() time.Time

	TokenByIP core.Rule // the token endpoint's per-address limit
}

// Exchanged is the answer of a successful exchange.
type Exchanged struct {
	Tokens  core.TokenResponse // RefreshToken is "" unless offline_access was granted
	IDToken string             // "" unless openid was granted
	Scope   string
}

// ExchangeInput is a token request of the authorization_code grant.
type ExchangeInput struct {
	ClientID     string // the client, already authenticated if it is confidential
	Code         string
	CodeVerifier string
	RedirectURI  string
	Client       core.Client
}

// errInvalidGrant is the one answer for a code that is unknown, expired, used, another
// client's, or presented with the wrong redirect URI or verifier (RFC 6749 §5.2).
func errInvalidGrant(op core.Op) error {
	e := core.E(op, core.KindUnauthenticated, "the authorization code is invalid, expired or used", nil)
	e.Code = "invalid_grant"
	return e
}

// codeVerifier is RFC 7636 §4.1's alphabet, the unreserved characters; isCodeVerifier checks
// the length of 43 to 128 apart (see clientID).
var codeVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// isCodeVerifier reports whether s is an RFC 7636 code verifier.
func isCodeVerifier(s string) bool {
	return len(s) >= 43 && len(s) <= 128 && codeVerifier.MatchString(s)
}

// Exchange redeems a code in two network stages: first the per-address limit and the code's
// atomic take go out together; then the session is written, the access token and the ID token
// are signed and the user is read, all at once (a user whose state has ended the sign-in gets
// invalid_grant, and the session is withdrawn). A code that was already taken is a replay: the session its
// first exchange opened is revoked, with every token of it, and the answer is invalid_grant, as
// for a code of another client, another redirect URI or a verifier that does not match (the
// code is spent by then: a stolen code tried with a guessed verifier cannot be tried again).
func (x *Exchanger) Exchange(ctx context.Context, in ExchangeInput) (Exchanged, error) {
	const op = "oidc.Exchanger.Exchange"
	now := x.Now()
	if in.Code == "" || in.CodeVerifier == "" || in.RedirectURI == "" {
		e := core.E(op, core.KindInvalid, "code, code_verifier and redirect_uri are required", nil)
		e.Code = "invalid_request"
		return Exchanged{}, e
	}
	if !core.IsSecret(in.Code) || !isCodeVerifier(in.CodeVerifier) {
		if err := x.Limiter.Allow(ctx, x.TokenByIP, in.Client.IP, now); err != nil {
			return Exchanged{}, err
		}
		x.audit(ctx, "oidc.exchange_failed", "reason", "malformed", "client_id", in.ClientID, "ip", in.Client.IP)
		return Exchanged{}, errInvalidGrant(op)
	}
	var (
		limitErr, takeErr error
		c                 Code
	)
	parallel.Do(
		func() { limitErr = x.Limiter.Allow(ctx, x.TokenByIP, in.Client.IP, now) },
		// A used code is kept as long as the session it opens can live, so that even a late
		// replay revokes it.
		func() { c, takeErr = x.Store.TakeCode(ctx, HashOf(in.Code), now, now.Add(x.Sessions.AbsoluteTTL)) },
	)
	switch {
	case limitErr != nil:
		return Exchanged{}, limitErr
	case core.Is(takeErr, core.KindConflict):
		// A replay (RFC 9700 §4.2.4): whoever holds the code besides the client may have
		// redeemed it first, so what the first exchange produced is revoked.
		if err := x.revokeProduced(ctx, c, now); err != nil {
			return Exchanged{}, err
		}
		x.audit(ctx, "oidc.code_reused", "sub", c.UserID, "client_id", c.ClientID, "sid", c.SessionID, "ip", in.Client.IP)
		x.audit(ctx, "session.revoked", "sub", c.UserID, "sid", c.SessionID, "reason", "code_reuse")
		return Exchanged{}, errInvalidGrant(op)
	case core.Is(takeErr, core.KindNotFound):
		x.audit(ctx, "oidc.exchange_failed", "reason", "unknown_code", "client_id", in.ClientID, "ip", in.Client.IP)
		return Exchanged{}, errInvalidGrant(op)
	case takeErr != nil:
		return Exchanged{}, takeErr
	}
	sum := sha256.Sum256([]byte(in.CodeVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	var why string
	switch {
	case c.ClientID != in.ClientID:
		why = "other_client"
	case c.RedirectURI != in.RedirectURI:
		why = "redirect_uri"
	case subtle.ConstantTimeCompare([]byte(challenge), []byte(c.CodeChallenge)) != 1:
		why = "pkce"
	}
	if why != "" {
		x.audit(ctx, "oidc.exchange_failed", "reason", why, "client_id", in.ClientID, "ip", in.Client.IP)
		return Exchanged{}, errInvalidGrant(op)
	}

	// Stage 2: the session (under the id the code names), both signatures, and the user as
	// it is now, at once: a user disabled, cut off or logged out of other devices since the
	// sign-in gets nothing, though the code is still within its 60 s.
	scopes := strings.Fields(c.Scope)
	var (
		tr                       core.TokenResponse
		idToken                  string
		user                     core.AccessState
		startErr, idErr, userErr error
	)
	parallel.Do(
		func() {
			tr, startErr = x.Sessions.Start(ctx, core.StartRequest{
				UserID: c.UserID, AMR: c.AMR, Scope: c.Scope, Client: in.Client,
				SessionID: c.SessionID, ClientID: c.ClientID, AuthTime: c.AuthTime,
			})
		},
		func() {
			if slices.Contains(scopes, ScopeOpenID) {
				idToken, idErr = x.IDTokens.Issue(ctx, c, now)
			}
		},
		func() { user, userErr = x.Sessions.Verifier.States.AccessState(ctx, "", "", c.UserID, now) },
	)
	switch {
	case core.Is(startErr, core.KindConflict):
		// A replay of the code got there first and put a revoked session under its id.
		x.audit(ctx, "oidc.exchange_failed", "reason", "replayed_meanwhile", "client_id", in.ClientID, "ip", in.Client.IP)
		return Exchanged{}, errInvalidGrant(op)
	case startErr != nil:
		return Exchanged{}, startErr
	}
	user.Session = core.Session{ID: tr.SessionID, UserID: c.UserID, AuthTime: c.AuthTime, CreatedAt: now}
	ended := ""
	if userErr == nil && idErr == nil {
		ended = core.UserEnded(user)
	}
	if err := parallel.First(userErr, idErr); err != nil || ended != "" {
		// The session is open but its tokens are not handed out: end it.
		if err := x.Sessions.Withdraw(context.WithoutCancel(ctx), tr.SessionID); err != nil {
			x.Audit.WarnContext(ctx, "could not withdraw a session whose tokens were never handed out", "sid", tr.SessionID, "err", err)
		}
		if err != nil {
			return Exchanged{}, err
		}
		x.audit(ctx, "oidc.exchange_failed", "reason", ended, "sub", c.UserID, "client_id", in.ClientID, "ip", in.Client.IP)
		return Exchanged{}, errInvalidGrant(op)
	}
	if !slices.Contains(scopes, ScopeOfflineAccess) {
		tr.RefreshToken = ""
	}
	x.audit(ctx, "oidc.code_exchanged", "sub", c.UserID, "client_id", c.ClientID, "sid", tr.SessionID, "ip", in.Client.IP)
	return Exchanged{Tokens: tr, IDToken: idToken, Scope: c.Scope}, nil
}

// revokeProduced revokes the session the first exchange of code c opened. When that exchange
// took the code but has not written its session yet (a replay racing it), a revoked session
// is written under the id first: the exchange's own write of a session of that id then fails,
// and it answers invalid_grant; if the exchange wrote it in between, it is revoked.
func (x *Exchanger) revokeProduced(ctx context.Context, c Code, now time.Time) error {
	err := x.Sessions.Store.RevokeSession(ctx, c.SessionID, now)
	if !core.Is(err, core.KindNotFound) {
		return err
	}
	err = x.Sessions.Store.CreateSession(ctx, core.Session{
		ID: c.SessionID, UserID: c.UserID, ClientID: c.ClientID, AuthTime: c.AuthTime, AMR: c.AMR, Scope: c.Scope,
		CreatedAt: now, LastUsedAt: now, RotatedAt: now, Generation: 1, Revoked: true,
		ExpiresAt: now.Add(x.Sessions.AbsoluteTTL), IdleExpiresAt: now.Add(x.Sessions.AbsoluteTTL),
	})
	if core.Is(err, core.KindConflict) {
		err = x.Sessions.Store.RevokeSession(ctx, c.SessionID, now)
	}
	return err
}

func (x *Exchanger) audit(ctx context.Context, event string, attrs ...any) {
	x.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

// IDMinter signs ID tokens (OIDC Core §2) with RS256 in the HSM behind Signer.
type IDMinter struct {
	Signer core.IDSigner
	Issuer string
	TTL    time.Duration
}

// idClaims is the wire form of an ID token.
type idClaims struct {
	jwt.RegisteredClaims
	AuthTime      int64    `json:"auth_time"`
	Nonce         string   `json:"nonce,omitempty"`
	AMR           []string `json:"amr,omitempty"`
	SessionID     string   `json:"sid,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
}

// Issue signs the ID token of code c at now: iss, sub, aud (the client), exp, iat,
// auth_time, nonce (when the request had one), amr, sid (the session the exchange opens, for
// logout), and email and email_verified with scope email, name with scope profile, as they were
// when the person signed in.
func (m *IDMinter) Issue(ctx context.Context, c Code, now time.Time) (string, error) {
	const op = "oidc.IDMinter.Issue"
	keys, err := m.Signer.IDKeys(ctx)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", core.Wrap(op, errors.New("no ID-token keys"))
	}
	scopes := strings.Fields(c.Scope)
	claims := idClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Issuer,
			Subject:   c.UserID,
			Audience:  jwt.ClaimStrings{c.ClientID},
			ExpiresAt: jwt.NewNumericDate(now.Add(m.TTL).Truncate(time.Second)),
			IssuedAt:  jwt.NewNumericDate(now.Truncate(time.Second)),
		},
		AuthTime:  c.AuthTime.Unix(),
		Nonce:     c.Nonce,
		AMR:       c.AMR,
		SessionID: c.SessionID,
	}
	if slices.Contains(scopes, ScopeEmail) && c.Email != "" {
		verified := c.EmailVerified
		claims.Email, claims.EmailVerified = c.Email, &verified
	}
	if slices.Contains(scopes, ScopeProfile) {
		claims.Name = c.Name
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = keys[0].ID
	input, err := tok.SigningString()
	if err != nil {
		return "", core.Wrap(op, err)
	}
	sig, err := m.Signer.SignRS256(ctx, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// IDTokenHint is what RP-initiated logout learns from an id_token_hint.
type IDTokenHint struct {
	Subject   string
	ClientID  string // aud
	SessionID string // sid
}

// ParseHint checks an id_token_hint (OIDC RP-Initiated Logout §2): an RS256 ID token of ours,
// by signature and issuer, for one client of clients. It may have expired: a hint names who is
// signing out, it grants nothing. KindInvalid otherwise.
func (m *IDMinter) ParseHint(ctx context.Context, raw string, clients Clients) (IDTokenHint, error) {
	const op = "oidc.IDMinter.ParseHint"
	bad := func(why string) error {
		return core.E(op, core.KindInvalid, "the id_token_hint is not an ID token of this provider", errors.New(why))
	}
	if len(raw) > core.MaxTokenLength || strings.Count(raw, ".") != 2 {
		return IDTokenHint{}, bad("malformed")
	}
	keys, err := m.Signer.IDKeys(ctx)
	if err != nil {
		return IDTokenHint{}, err
	}
	var claims idClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}), jwt.WithoutClaimsValidation())
	_, err = parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid {
				return k.Key, nil
			}
		}
		return nil, errors.New("unknown kid")
	})
	if err != nil {
		return IDTokenHint{}, bad(err.Error())
	}
	if claims.Issuer != m.Issuer || len(claims.Audience) != 1 || claims.Subject == "" {
		return IDTokenHint{}, bad("issuer, audience or subject")
	}
	if _, ok := clients[claims.Audience[0]]; !ok {
		return IDTokenHint{}, bad("audience is not a declared client")
	}
	return IDTokenHint{Subject: claims.Subject, ClientID: claims.Audience[0], SessionID: claims.SessionID}, nil
}
