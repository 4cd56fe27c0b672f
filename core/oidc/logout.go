package oidc

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
)

// UserInfo is the answer of the userinfo endpoint (OIDC Core §5.3.2): the claims the access
// token's scopes allow.
type UserInfo struct {
	Subject       string `json:"sub"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
}

// UserInfo answers for the holder of access token raw, verified with the one read that also
// gives its user: sub always, email and email_verified with scope email, name with scope
// profile. A token without scope openid is KindForbidden with Code insufficient_scope (RFC 6750
// §3.1); a bad one KindUnauthenticated.
func (p *Provider) UserInfo(ctx context.Context, raw string) (UserInfo, error) {
	c, u, err := p.Verifier.AuthenticateWithUser(ctx, raw)
	if err != nil {
		return UserInfo{}, err
	}
	scopes := strings.Fields(c.Scope)
	if !slices.Contains(scopes, ScopeOpenID) {
		e := core.E("oidc.Provider.UserInfo", core.KindForbidden, "the access token does not carry scope openid", nil)
		e.Code = "insufficient_scope"
		return UserInfo{}, e
	}
	info := UserInfo{Subject: c.Subject}
	if slices.Contains(scopes, ScopeEmail) && u.Email != "" {
		verified := u.EmailVerified
		info.Email, info.EmailVerified = u.Email, &verified
	}
	if slices.Contains(scopes, ScopeProfile) {
		info.Name = u.DisplayName
	}
	return info, nil
}

// LogoutInput is an RP-initiated logout request (OIDC RP-Initiated Logout 1.0 §2).
type LogoutInput struct {
	Query   url.Values
	Session string // the provider session cookie, "" if none
	Client  core.Client
}

// LoggedOut is where a logout sends the browser: Redirect, the client's registered
// post-logout redirect URI with state, or "" for the provider's own signed-out page.
type LoggedOut struct {
	Redirect string
}

// Logout ends the browser's provider session and, with a valid id_token_hint, the session that
// ID token was issued with (its sid), so the client's refresh token stops too. A
// post_logout_redirect_uri is followed only when it is registered for the client the hint or
// client_id names, exactly; otherwise, or with a hint that is not an ID token of ours, nothing
// redirects (KindInvalid: a page says why). Nothing here needs the hint to be unexpired.
func (p *Provider) Logout(ctx context.Context, in LogoutInput) (LoggedOut, error) {
	const op = "oidc.Provider.Logout"
	now := p.Now()
	q := in.Query
	for _, vs := range q {
		if len(vs) > 1 {
			return LoggedOut{}, core.E(op, core.KindInvalid, "A parameter is given more than once.", nil)
		}
	}
	var hint IDTokenHint
	if raw := q.Get("id_token_hint"); raw != "" {
		h, err := p.IDTokens.ParseHint(ctx, raw, p.Clients)
		if err != nil {
			return LoggedOut{}, err
		}
		hint = h
	}
	clientID := q.Get("client_id")
	switch {
	case clientID != "" && hint.ClientID != "" && clientID != hint.ClientID:
		return LoggedOut{}, core.E(op, core.KindInvalid, "client_id is not the audience of the id_token_hint", nil)
	case clientID == "":
		clientID = hint.ClientID
	}
	target := q.Get("post_logout_redirect_uri")
	if target != "" {
		c, ok := p.Clients[clientID]
		if !ok || !slices.Contains(c.PostLogoutRedirectURIs, target) {
			return LoggedOut{}, core.E(op, core.KindInvalid, "The address to return to after signing out is not registered for this application.", ErrBadClient)
		}
	}
	if core.IsSecret(in.Session) {
		if err := p.Store.DeleteProviderSession(ctx, HashOf(in.Session)); err != nil {
			return LoggedOut{}, err
		}
	}
	if hint.SessionID != "" {
		if err := p.endHinted(ctx, hint, now); err != nil {
			return LoggedOut{}, err
		}
	}
	p.audit(ctx, "oidc.logout", "sub", hint.Subject, "client_id", clientID, "sid", hint.SessionID, "ip", in.Client.IP)
	if target == "" {
		return LoggedOut{}, nil
	}
	return LoggedOut{Redirect: withQuery(target, url.Values{"state": optional(q.Get("state"))})}, nil
}

// endHinted revokes the session an id_token_hint names, if it is still there and is the
// hint's user's session of the hint's client.
func (p *Provider) endHinted(ctx context.Context, hint IDTokenHint, now time.Time) error {
	s, err := p.Sessions.GetSession(ctx, hint.SessionID, now)
	switch {
	case core.Is(err, core.KindNotFound):
		return nil
	case err != nil:
		return err
	case s.UserID != hint.Subject || s.ClientID != hint.ClientID || s.Revoked:
		return nil
	}
	if err := p.Sessions.RevokeSession(ctx, s.ID, now); err != nil && !core.Is(err, core.KindNotFound) {
		return err
	}
	p.audit(ctx, "session.revoked", "sub", s.UserID, "sid", s.ID, "reason", "oidc_logout")
	return nil
}
