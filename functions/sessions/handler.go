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
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/functions/internal/apigw"
)

type handler struct {
	sessions      *core.Sessions
	keys          *apikey.Keys
	machines      *core.Machines // the client_credentials grant of the declared machine clients
	verifier      *core.Verifier
	introspectors map[string]string // client id → hex SHA-256 of its secret
	clientID      string            // the first-party public client (LATCHKEY_CLIENT_ID)
	// relyingParties are the OpenID provider's declared clients; exchanger is their
	// authorization_code grant.
	relyingParties oidc.Clients
	exchanger      *oidc.Exchanger
	log            *slog.Logger
}

// Handle routes one API Gateway request. The OAuth endpoints answer RFC 6749 error objects;
// every other route acts for the holder of an access token and answers problems.
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "POST /v1/token":
		return h.token(ctx, req)
	case "POST /v1/revoke":
		return h.revoke(ctx, req)
	case "POST /v1/introspect":
		return h.introspect(ctx, req)
	}
	claims, err := apigw.Account(ctx, req, h.verifier)
	if err != nil {
		return apigw.Response{}, err
	}
	switch req.RouteKey {
	case "POST /v1/logout":
		return h.logout(ctx, claims)
	case "GET /v1/me/sessions":
		return h.list(ctx, claims)
	case "DELETE /v1/me/sessions/{id}":
		return h.end(ctx, claims, req.PathParameters["id"])
	case "DELETE /v1/me/sessions":
		return h.endOthers(ctx, claims)
	case "POST /v1/me/api-keys":
		return h.createKey(ctx, req, claims)
	case "GET /v1/me/api-keys":
		return h.listKeys(ctx, claims)
	case "DELETE /v1/me/api-keys/{id}":
		if err := h.keys.Delete(ctx, claims, req.PathParameters["id"], apigw.Client(req)); err != nil {
			return apigw.Response{}, err
		}
		return apigw.NoContent(), nil
	}
	return apigw.NotFound(req), nil
}

// token is /v1/token: the client_credentials grant of a machine client (clientCredentials),
// or the refresh_token grant (RFC 6749 §6) for the one public client, which may name itself
// with client_id or say nothing, and authenticates with nothing (§2.3: a public client has no
// credentials). On the refresh grant, any client credentials (an Authorization header, a
// client_secret) or another client_id are a client this server does not know: 401
// invalid_client (§5.2). The answer carries scope when the scope granted differs from the one
// asked for (§5.1).
func (h *handler) token(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	form, err := single(req, "grant_type", "refresh_token", "scope", "client_id", "client_secret", "code", "code_verifier", "redirect_uri")
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	if form["grant_type"] == "client_credentials" {
		return h.clientCredentials(ctx, req, form)
	}
	switch form["grant_type"] {
	case "refresh_token", "authorization_code":
	case "":
		return apigw.OAuthProblem(http.StatusBadRequest, "invalid_request", "grant_type is required"), nil
	default:
		return apigw.OAuthProblem(http.StatusBadRequest, "unsupported_grant_type", "the authorization_code, refresh_token and client_credentials grants are supported"), nil
	}
	client, refusal, err := h.relyingParty(ctx, req, form)
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	if refusal != nil {
		return *refusal, nil
	}
	if form["grant_type"] == "authorization_code" {
		return h.authorizationCode(ctx, req, form, client)
	}
	if form["refresh_token"] == "" {
		return apigw.OAuthProblem(http.StatusBadRequest, "invalid_request", "refresh_token is required"), nil
	}
	tr, err := h.sessions.RefreshScope(ctx, form["refresh_token"], form["scope"], client, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	body := apigw.NewTokenBody(tr)
	if tr.Claims.Scope != form["scope"] {
		body.Scope = tr.Claims.Scope
	}
	return apigw.Tokens(http.StatusOK, body), nil
}

// relyingParty authenticates the client of an authorization_code or refresh_token request:
// "" for the first-party public client (no client_id, or LATCHKEY_CLIENT_ID, and no
// credentials at all), the id of a declared OpenID client otherwise. A public client may not
// send a secret (an empty HTTP Basic password, which some libraries send for public clients,
// only names it); a confidential one must, by HTTP Basic or client_secret in the form, never both
// (RFC 6749 §2.3). Anything else is 401 invalid_client with the Basic challenge; the refusal
// is returned as a response, a failure to read the secrets as an error.
func (h *handler) relyingParty(ctx context.Context, req *apigw.Request, form map[string]string) (string, *apigw.Response, error) {
	id, secret := form["client_id"], form["client_secret"]
	authz := apigw.Header(req, "authorization")
	if authz != "" {
		basicID, basicSecret, ok := basicAuth(authz)
		switch {
		case !ok:
			r := invalidClient("client authentication must be HTTP Basic or client_secret in the form")
			return "", &r, nil
		case secret != "" || (id != "" && id != basicID):
			r := apigw.OAuthProblem(http.StatusBadRequest, "invalid_request", "use one client authentication method: HTTP Basic or client_secret in the form")
			return "", &r, nil
		}
		id, secret = basicID, basicSecret
	}
	if (id == "" || id == h.clientID) && secret == "" && authz == "" {
		return "", nil, nil
	}
	c, ok := h.relyingParties[id]
	switch {
	case !ok:
	case !c.Confidential && secret == "":
		return id, nil, nil
	case c.Confidential && secret != "":
		match, err := h.machines.CheckSecret(ctx, id, secret)
		if err != nil {
			return "", nil, err
		}
		if match {
			return id, nil, nil
		}
	}
	h.log.InfoContext(ctx, "oidc.client_refused", "audit", true, "client_id", id, "ip", apigw.ClientIP(req))
	r := invalidClient("unknown client or client authentication failed")
	return "", &r, nil
}

// codeTokenBody is the token response of the authorization_code grant: the session's tokens,
// the refresh token only with offline_access, and the ID token with openid (OIDC Core §3.1.3.3).
type codeTokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope"`
}

// authorizationCode is the authorization_code grant of client (core/oidc.Exchanger).
func (h *handler) authorizationCode(ctx context.Context, req *apigw.Request, form map[string]string, client string) (apigw.Response, error) {
	if client == "" {
		return apigw.OAuthProblem(http.StatusBadRequest, "unauthorized_client", "client_id is required: the first-party client signs in through the passkeys API"), nil
	}
	x, err := h.exchanger.Exchange(ctx, oidc.ExchangeInput{
		ClientID: client, Code: form["code"], CodeVerifier: form["code_verifier"], RedirectURI: form["redirect_uri"],
		Client: apigw.Client(req),
	})
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	return apigw.Tokens(http.StatusOK, codeTokenBody{
		AccessToken: x.Tokens.AccessToken, TokenType: "Bearer", ExpiresIn: int(x.Tokens.ExpiresIn / time.Second),
		RefreshToken: x.Tokens.RefreshToken, IDToken: x.IDToken, Scope: x.Scope,
	}), nil
}

// clientTokenBody is the token response of the client_credentials grant (RFC 6749 §4.4.3,
// §5.1): no refresh token and no session; scope always, since a client that asked for none
// gets all of its own.
type clientTokenBody struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// clientCredentials is the client_credentials grant (RFC 6749 §4.4) of a machine client, which
// authenticates with HTTP Basic (§2.3.1, the id and secret form-urlencoded) or with client_id
// and client_secret in the form, never both (§2.3: one method per request, else
// invalid_request). No credentials, or another scheme than Basic, is 401 invalid_client; the
// public client, which has no credentials, may not use the grant (unauthorized_client). The
// rest is core.Machines.Issue: invalid_client, unauthorized_client for a disabled client,
// invalid_scope, slow_down.
func (h *handler) clientCredentials(ctx context.Context, req *apigw.Request, form map[string]string) (apigw.Response, error) {
	id, secret := form["client_id"], form["client_secret"]
	if authz := apigw.Header(req, "authorization"); authz != "" {
		basicID, basicSecret, ok := basicAuth(authz)
		switch {
		case !ok:
			return invalidClient("client authentication must be HTTP Basic or client_secret in the form"), nil
		case secret != "" || (id != "" && id != basicID):
			return apigw.OAuthProblem(http.StatusBadRequest, "invalid_request", "use one client authentication method: HTTP Basic or client_secret in the form"), nil
		}
		id, secret = basicID, basicSecret
	}
	switch {
	case id == h.clientID:
		return apigw.OAuthProblem(http.StatusBadRequest, "unauthorized_client", "the public client cannot use the client_credentials grant"), nil
	case id == "" || secret == "":
		return invalidClient("client authentication is required"), nil
	}
	tr, err := h.machines.Issue(ctx, id, secret, form["scope"], apigw.Client(req))
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	return apigw.Tokens(http.StatusOK, clientTokenBody{
		AccessToken: tr.AccessToken, TokenType: "Bearer", ExpiresIn: int(tr.ExpiresIn / time.Second), Scope: tr.Claims.Scope,
	}), nil
}

// invalidClient is the 401 invalid_client of a request whose client did not authenticate, with
// the Basic challenge RFC 6749 §5.2 asks for.
func invalidClient(description string) apigw.Response {
	resp := apigw.OAuthProblem(http.StatusUnauthorized, "invalid_client", description)
	resp.Headers["WWW-Authenticate"] = `Basic realm="latchkey"`
	return resp
}

// revoke is RFC 7009: 200 for every well-formed request, whether or not the token meant
// anything.
func (h *handler) revoke(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	form, err := single(req, "token", "token_type_hint")
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	if form["token"] == "" {
		return apigw.OAuthProblem(http.StatusBadRequest, "invalid_request", "token is required"), nil
	}
	if err := h.sessions.Revoke(ctx, form["token"], form["token_type_hint"]); err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	return apigw.JSON(http.StatusOK, struct{}{}), nil
}

// introspect is RFC 7662 for resource servers that cannot verify tokens themselves. It needs
// client authentication (§2.1) and answers {"active":false} for anything not active, without
// saying why. A machine client's token is reported too (AuthenticateAny), without sid.
func (h *handler) introspect(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	if !h.introspectorOK(req) {
		resp := apigw.OAuthProblem(http.StatusUnauthorized, "invalid_client", "client authentication failed")
		resp.Headers["WWW-Authenticate"] = `Basic realm="latchkey-introspection"`
		return resp, nil
	}
	form, err := single(req, "token", "token_type_hint")
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	inactive := apigw.JSON(http.StatusOK, map[string]bool{"active": false})
	c, err := h.verifier.AuthenticateAny(ctx, form["token"])
	if core.Is(err, core.KindUnauthenticated) {
		return inactive, nil
	}
	if err != nil {
		return apigw.Response{}, apigw.OAuth(err)
	}
	// The verifier tolerates clock skew past exp; introspection reports the token as issued,
	// and a token is not active from its exp on (RFC 7662 §2.2, RFC 7519 §4.1.4).
	if !h.verifier.Now().Before(c.ExpiresAt) {
		return inactive, nil
	}
	body := map[string]any{
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
		"client_id":  c.ClientID,
	}
	if c.SessionID == "" {
		delete(body, "sid") // a machine client's token: no session
	}
	return apigw.JSON(http.StatusOK, body), nil
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

// logout ends the caller's session and denies its access token.
func (h *handler) logout(ctx context.Context, c core.AccessClaims) (apigw.Response, error) {
	if err := h.sessions.Logout(ctx, c); err != nil {
		return apigw.Response{}, err
	}
	return apigw.NoContent(), nil
}

// end ends one of the caller's sessions.
func (h *handler) end(ctx context.Context, c core.AccessClaims, id string) (apigw.Response, error) {
	if err := h.sessions.End(ctx, c, id); err != nil {
		return apigw.Response{}, err
	}
	return apigw.NoContent(), nil
}

// endOthers ends every session of the caller but the current one.
func (h *handler) endOthers(ctx context.Context, c core.AccessClaims) (apigw.Response, error) {
	if err := h.sessions.EndOthers(ctx, c); err != nil {
		return apigw.Response{}, err
	}
	return apigw.NoContent(), nil
}

// list answers the caller's live sessions, the current one marked.
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

// apiKeyBody is an API key as its owner sees it; the key itself only in createKey's answer.
type apiKeyBody struct {
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix,omitempty"`
	Last4      string     `json:"last4,omitempty"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt"`
}

// timeOrNil is t in UTC, or nil when it is zero.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// createKey makes an API key for the caller (a recent sign-in) and shows it this once: the
// answer must not be kept by any cache.
func (h *handler) createKey(ctx context.Context, req *apigw.Request, c core.AccessClaims) (apigw.Response, error) {
	var body struct {
		Name      string   `json:"name"`
		Scopes    []string `json:"scopes"`
		ExpiresIn *int64   `json:"expiresIn"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	r := apikey.CreateRequest{Name: body.Name, Scopes: body.Scopes}
	if body.ExpiresIn != nil {
		if *body.ExpiresIn <= 0 || *body.ExpiresIn > int64(apikey.MaxExpiresIn/time.Second) {
			return apigw.Response{}, core.E("sessions.createKey", core.KindInvalid, "expiresIn must be from 60 seconds to one year", nil)
		}
		r.ExpiresIn = time.Duration(*body.ExpiresIn) * time.Second
	}
	made, err := h.keys.Create(ctx, c, r, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, err
	}
	k := made.APIKey
	resp := apigw.JSON(http.StatusCreated, apiKeyBody{
		ID: k.ID, Key: made.Key, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: timeOrNil(k.ExpiresAt),
	})
	resp.Headers["Cache-Control"] = "no-store"
	return resp, nil
}

// listKeys answers the caller's live API keys, each with its prefix and last four characters
// and never the key.
func (h *handler) listKeys(ctx context.Context, c core.AccessClaims) (apigw.Response, error) {
	keys, err := h.keys.List(ctx, c)
	if err != nil {
		return apigw.Response{}, err
	}
	out := make([]apiKeyBody, 0, len(keys))
	for _, k := range keys {
		out = append(out, apiKeyBody{
			ID: k.ID, Name: k.Name, Prefix: k.Prefix, Last4: k.Last4, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC(),
			LastUsedAt: timeOrNil(k.LastUsedAt), ExpiresAt: timeOrNil(k.ExpiresAt),
		})
	}
	return apigw.JSON(http.StatusOK, map[string]any{"apiKeys": out}), nil
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
