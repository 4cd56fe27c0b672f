package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/functions/internal/apigw"
)

type handler struct {
	sessions      *core.Sessions
	introspectors map[string]string // client id → hex SHA-256 of its secret
	log           *slog.Logger
}

// Handle routes one API Gateway request.
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "POST /v1/token":
		return h.token(ctx, req), nil
	case "POST /v1/revoke":
		return h.revoke(ctx, req), nil
	case "POST /v1/introspect":
		return h.introspect(ctx, req), nil
	}
	// Everything else acts for the holder of an access token.
	raw, err := apigw.BearerToken(req)
	if err != nil {
		return apigw.Response{}, err
	}
	claims, err := h.sessions.Authenticate(ctx, raw)
	if err != nil {
		return apigw.Response{}, err
	}
	switch req.RouteKey {
	case "POST /v1/logout":
		if err := h.sessions.Logout(ctx, claims); err != nil {
			return apigw.Response{}, err
		}
		return apigw.NoContent(), nil
	case "GET /v1/me/sessions":
		return h.list(ctx, claims)
	case "DELETE /v1/me/sessions/{id}":
		if err := h.sessions.End(ctx, claims, req.PathParameters["id"]); err != nil {
			return apigw.Response{}, err
		}
		return apigw.NoContent(), nil
	case "DELETE /v1/me/sessions":
		if err := h.sessions.EndOthers(ctx, claims); err != nil {
			return apigw.Response{}, err
		}
		return apigw.NoContent(), nil
	}
	return apigw.NotFound(req), nil
}

// tokenBody is the RFC 6749 §5.1 token response plus the session id.
type tokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

// token is the refresh_token grant (RFC 6749 §6).
func (h *handler) token(ctx context.Context, req *apigw.Request) apigw.Response {
	form, err := single(req, "grant_type", "refresh_token")
	if err != nil {
		return h.oauthError(ctx, err)
	}
	switch form["grant_type"] {
	case "refresh_token":
	case "":
		return oauthProblem(http.StatusBadRequest, "invalid_request", "grant_type is required")
	default:
		return oauthProblem(http.StatusBadRequest, "unsupported_grant_type", "only the refresh_token grant is supported")
	}
	if form["refresh_token"] == "" {
		return oauthProblem(http.StatusBadRequest, "invalid_request", "refresh_token is required")
	}
	tr, err := h.sessions.Refresh(ctx, form["refresh_token"], apigw.Client(req))
	if err != nil {
		return h.oauthError(ctx, err)
	}
	resp := apigw.JSON(http.StatusOK, tokenBody{
		AccessToken:  tr.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int(tr.ExpiresIn / time.Second),
		RefreshToken: tr.RefreshToken,
		SessionID:    tr.SessionID,
	})
	resp.Headers["Pragma"] = "no-cache"
	return resp
}

// revoke is RFC 7009: 200 for every well-formed request, whether or not the token meant
// anything.
func (h *handler) revoke(ctx context.Context, req *apigw.Request) apigw.Response {
	form, err := single(req, "token", "token_type_hint")
	if err != nil {
		return h.oauthError(ctx, err)
	}
	if form["token"] == "" {
		return oauthProblem(http.StatusBadRequest, "invalid_request", "token is required")
	}
	if err := h.sessions.Revoke(ctx, form["token"], form["token_type_hint"]); err != nil {
		return h.oauthError(ctx, err)
	}
	return apigw.JSON(http.StatusOK, struct{}{})
}

// introspect is RFC 7662 for resource servers that cannot verify tokens themselves. It needs
// client authentication (§2.1) and answers {"active":false} for anything not active, without
// saying why.
func (h *handler) introspect(ctx context.Context, req *apigw.Request) apigw.Response {
	if !h.introspectorOK(req) {
		resp := oauthProblem(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		resp.Headers["WWW-Authenticate"] = `Basic realm="latchkey-introspection"`
		return resp
	}
	form, err := single(req, "token", "token_type_hint")
	if err != nil {
		return h.oauthError(ctx, err)
	}
	c, err := h.sessions.Authenticate(ctx, form["token"])
	if err != nil {
		if core.Is(err, core.KindUnauthenticated) {
			return apigw.JSON(http.StatusOK, map[string]bool{"active": false})
		}
		return h.oauthError(ctx, err)
	}
	return apigw.JSON(http.StatusOK, map[string]any{
		"active":     true,
		"token_type": "Bearer",
		"scope":      c.Scope,
		"sub":        c.Subject,
		"aud":        c.Audience,
		"iss":        c.Issuer,
		"exp":        c.ExpiresAt.Unix(),
		"iat":        c.IssuedAt.Unix(),
		"jti":        c.ID,
		"sid":        c.SessionID,
	})
}

// introspectorOK checks HTTP Basic client credentials against the configured hashes in
// constant time. Every configured client is compared, so timing reveals nothing.
func (h *handler) introspectorOK(req *apigw.Request) bool {
	id, secret, ok := basicAuth(apigw.Header(req, "authorization"))
	if !ok || len(h.introspectors) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	got := hex.EncodeToString(sum[:])
	match := 0
	for cid, want := range h.introspectors {
		idEq := subtle.ConstantTimeCompare([]byte(cid), []byte(id))
		match |= idEq & subtle.ConstantTimeCompare([]byte(want), []byte(got))
	}
	return match == 1
}

type sessionBody struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	LastUsedAt time.Time `json:"lastUsedAt"`
	UserAgent  string    `json:"userAgent"`
	IP         string    `json:"ip"`
	Current    bool      `json:"current"`
}

func (h *handler) list(ctx context.Context, c core.AccessClaims) (apigw.Response, error) {
	list, err := h.sessions.List(ctx, c)
	if err != nil {
		return apigw.Response{}, err
	}
	out := make([]sessionBody, 0, len(list))
	for _, s := range list {
		out = append(out, sessionBody{
			ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(),
			UserAgent: s.UserAgent, IP: s.ClientIP, Current: s.ID == c.SessionID,
		})
	}
	return apigw.JSON(http.StatusOK, map[string]any{"sessions": out}), nil
}

// single reads the named OAuth parameters, refusing any that appear more than once
// (RFC 6749 §3.2).
func single(req *apigw.Request, names ...string) (map[string]string, error) {
	form, err := apigw.Form(req)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		if len(form[n]) > 1 {
			return nil, core.E("sessions.single", core.KindInvalid, n+" appears more than once", nil)
		}
		out[n] = form.Get(n)
	}
	return out, nil
}

// oauthError answers err as an RFC 6749 §5.2 error object.
func (h *handler) oauthError(ctx context.Context, err error) apigw.Response {
	switch core.KindOf(err) {
	case core.KindInvalid, core.KindTooLarge:
		return oauthProblem(apigw.Status(core.KindOf(err)), "invalid_request", core.DetailOf(err))
	case core.KindUnauthenticated:
		return oauthProblem(http.StatusBadRequest, "invalid_grant", core.DetailOf(err))
	case core.KindRateLimited:
		resp := oauthProblem(http.StatusTooManyRequests, "slow_down", core.DetailOf(err))
		secs := int(core.RetryAfterOf(err).Seconds() + 0.999)
		resp.Headers["Retry-After"] = strconv.Itoa(max(secs, 1))
		return resp
	case core.KindUnavailable:
		h.log.WarnContext(ctx, "dependency unavailable", "err", err)
		return oauthProblem(http.StatusServiceUnavailable, "temporarily_unavailable", "try again shortly")
	}
	h.log.ErrorContext(ctx, "internal error", "err", err)
	return oauthProblem(http.StatusInternalServerError, "server_error", "")
}

func oauthProblem(status int, code, description string) apigw.Response {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	resp := apigw.JSON(status, body)
	resp.Headers["Pragma"] = "no-cache"
	return resp
}

// basicAuth parses an HTTP Basic Authorization header (RFC 7617), with the client id and
// secret form-urlencoded as RFC 6749 §2.3.1 asks.
func basicAuth(h string) (id, secret string, ok bool) {
	scheme, rest, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false
	}
	id, secret, found = strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(id); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}
