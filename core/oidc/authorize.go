package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
)

// Provider is the authorization endpoint and the completion of a sign-in on the hosted page:
// it validates authorization requests, answers them from the provider session when it can
// (single sign-on, prompt=none), and otherwise keeps them for the hosted page, whose passkey
// sign-in it turns into an authorization code. It is stateless: requests, codes and provider
// sessions are in Store.
type Provider struct {
	Clients  Clients
	Store    Store
	Users    core.AccessStates // the user behind a provider session, read strongly consistently
	Verifier *core.Verifier    // the hosted page's access token
	IDTokens *IDMinter         // checks id_token_hint (at authorize and logout); signs nothing here
	Sessions core.SessionStore // ends the hosted page's own session once it has done its work
	Limiter  *core.RateLimiter
	Audit    *slog.Logger
	Now      func() time.Time

	Issuer     string        // iss of every authorization response (RFC 9207)
	SessionTTL time.Duration // how long a provider session serves (LATCHKEY_PROVIDER_SESSION_TTL)

	AuthorizeByIP core.Rule
}

// Authorization is what the authorization endpoint answers once the client and redirect URI
// are known good: a redirect, either back to the client (with a code or an error) or to the
// hosted page.
type Authorization struct {
	Redirect string
	// Binding is set when Redirect is the hosted page: the value of the cookie that binds the
	// request to this browser (the one the browser brought, when it had one).
	Binding string
	// EndSession is true when the browser's provider session cookie names no live session:
	// the caller clears it.
	EndSession bool
}

// AuthorizeInput is an authorization request as the browser brought it.
type AuthorizeInput struct {
	Query   url.Values
	Session string // the provider session cookie, "" if none
	Binding string // the binding cookie, "" if none
	Client  core.Client
}

// ErrBadClient is in the chain of every refusal of an authorization request whose client or
// redirect URI is not known good: it is answered with a page of its own, never a redirect
// (RFC 6749 §4.1.2.1; no open redirect).
var ErrBadClient = errors.New("unknown client or unregistered redirect URI")

// Code values of the errors redirected back to the client (RFC 6749 §4.1.2.1, OIDC Core
// §3.1.2.6).
const (
	errInvalidRequest          = "invalid_request"
	errUnsupportedResponseType = "unsupported_response_type"
	errInvalidScope            = "invalid_scope"
	errLoginRequired           = "login_required"
	errRequestNotSupported     = "request_not_supported"
	errRequestURINotSupported  = "request_uri_not_supported"
	errTemporarilyUnavailable  = "temporarily_unavailable"
	errServerError             = "server_error"
)

// Authorize answers GET /oauth2/authorize (OIDC Core §3.1.2.1). A request whose client_id is
// not declared or whose redirect_uri is not exactly one of that client's is KindInvalid with
// ErrBadClient: nothing redirects. Every other problem goes back to the redirect URI as an
// error with state and iss: first the request's parameters, checked without I/O; then the
// per-address rate limit (KindRateLimited) and the provider session, read together. A request
// the provider session satisfies gets a code at once; prompt=none without one gets
// login_required; any other is stored and the browser sent to the hosted page.
func (p *Provider) Authorize(ctx context.Context, in AuthorizeInput) (Authorization, error) {
	const op = "oidc.Provider.Authorize"
	now := p.Now()
	q := in.Query
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	c, ok := p.Clients[clientID]
	switch {
	case len(q["client_id"]) != 1 || !ok:
		p.audit(ctx, "oidc.authorize_refused", "reason", "unknown_client", "ip", in.Client.IP)
		return Authorization{}, core.E(op, core.KindInvalid, "This application is not known to the sign-in service.", ErrBadClient)
	case len(q["redirect_uri"]) != 1 || !slices.Contains(c.RedirectURIs, redirectURI):
		p.audit(ctx, "oidc.authorize_refused", "reason", "redirect_uri", "client_id", clientID, "ip", in.Client.IP)
		return Authorization{}, core.E(op, core.KindInvalid, "The address this application asked to return to is not registered for it.", ErrBadClient)
	}
	back := func(code, description string) Authorization {
		p.audit(ctx, "oidc.authorize_failed", "reason", code, "client_id", clientID, "ip", in.Client.IP)
		return Authorization{Redirect: p.errorRedirect(redirectURI, q.Get("state"), code, description)}
	}
	// A request that is refused on its parameters costs no I/O.
	r, code, why := p.parse(q, c, now)
	if code != "" {
		return back(code, why), nil
	}
	var (
		limitErr, readErr error
		ps                ProviderSession
		user              core.AccessState
		hasSession        bool
	)
	parallel.Do(
		func() { limitErr = p.Limiter.Allow(ctx, p.AuthorizeByIP, in.Client.IP, now) },
		func() { ps, user, hasSession, readErr = p.providerSession(ctx, in.Session, now) },
	)
	if limitErr != nil {
		return Authorization{}, limitErr
	}
	unavailable := func(err error) Authorization {
		p.Audit.WarnContext(ctx, "authorization request failed on the store", "client_id", clientID, "err", err)
		return back(errTemporarilyUnavailable, "the sign-in service is unavailable; try again")
	}
	if readErr != nil {
		return unavailable(readErr), nil
	}
	// An id_token_hint names who the client expects (OIDC Core §3.1.2.1): a provider session
	// of anyone else does not answer the request.
	if raw := q.Get("id_token_hint"); raw != "" {
		hint, err := p.IDTokens.ParseHint(ctx, raw, p.Clients)
		switch {
		case core.Is(err, core.KindInvalid):
			return back(errInvalidRequest, "the id_token_hint is not an ID token of this provider"), nil
		case err != nil:
			return unavailable(err), nil
		case hasSession && hint.Subject != ps.UserID:
			hasSession = false
		}
	}
	endSession := in.Session != "" && !hasSession
	if hasSession && r.Prompt != "login" && (!r.HasMaxAge || now.Sub(ps.AuthTime) <= r.MaxAge) {
		redirect, err := p.issue(ctx, r, ps.UserID, ps.AuthTime, ps.AMR, user.User, now)
		if err != nil {
			return unavailable(err), nil
		}
		p.audit(ctx, "oidc.code_issued", "sub", ps.UserID, "client_id", clientID, "sso", true, "ip", in.Client.IP)
		return Authorization{Redirect: redirect, EndSession: endSession}, nil
	}
	if r.Prompt == "none" {
		a := back(errLoginRequired, "the user is not signed in")
		a.EndSession = endSession
		return a, nil
	}
	binding := in.Binding
	if !core.IsSecret(binding) {
		binding = core.NewSecret()
	}
	r.Binding = HashOf(binding)
	if err := p.Store.PutRequest(ctx, r); err != nil {
		return unavailable(err), nil
	}
	p.audit(ctx, "oidc.authorize_started", "client_id", clientID, "request", r.ID, "ip", in.Client.IP)
	return Authorization{Redirect: p.Issuer + "/oauth2/signin?request=" + r.ID, Binding: binding, EndSession: endSession}, nil
}

// providerSession reads the provider session the cookie value names and its user: found is
// false when there is none, it has expired, or its user has ended it (gone, disabled, tokens
// cut off, other devices logged out, which a completed recovery does).
func (p *Provider) providerSession(ctx context.Context, cookie string, now time.Time) (ProviderSession, core.AccessState, bool, error) {
	if !core.IsSecret(cookie) {
		return ProviderSession{}, core.AccessState{}, false, nil
	}
	ps, err := p.Store.GetProviderSession(ctx, HashOf(cookie), now)
	switch {
	case core.Is(err, core.KindNotFound):
		return ProviderSession{}, core.AccessState{}, false, nil
	case err != nil:
		return ProviderSession{}, core.AccessState{}, false, err
	}
	st, err := p.Users.AccessState(ctx, "", "", ps.UserID, now)
	if err != nil {
		return ProviderSession{}, core.AccessState{}, false, err
	}
	st.Session = core.Session{UserID: ps.UserID, AuthTime: ps.AuthTime, CreatedAt: ps.CreatedAt}
	if core.UserEnded(st) != "" {
		return ProviderSession{}, core.AccessState{}, false, nil
	}
	return ps, st, true, nil
}

// parse validates the parameters of an authorization request of client c whose client and
// redirect URI are already known good, and returns it as a Request (without Binding), or the
// error code and description to send back.
func (p *Provider) parse(q url.Values, c Client, now time.Time) (Request, string, string) {
	for _, vs := range q {
		if len(vs) > 1 {
			return Request{}, errInvalidRequest, "a parameter is given more than once"
		}
	}
	switch {
	case q.Has("request"):
		return Request{}, errRequestNotSupported, "request objects are not supported"
	case q.Has("request_uri"):
		return Request{}, errRequestURINotSupported, "request_uri is not supported"
	case q.Get("response_type") != "code":
		return Request{}, errUnsupportedResponseType, "only response_type=code is supported"
	case q.Has("response_mode") && q.Get("response_mode") != "query":
		return Request{}, errInvalidRequest, "only response_mode=query is supported"
	case q.Get("code_challenge_method") != "S256":
		return Request{}, errInvalidRequest, "PKCE with code_challenge_method=S256 is required"
	case !core.IsSecret(q.Get("code_challenge")):
		return Request{}, errInvalidRequest, "code_challenge must be the base64url SHA-256 of the code verifier"
	case len(q.Get("state")) > 1024 || len(q.Get("nonce")) > 512 || len(q.Get("login_hint")) > 254:
		return Request{}, errInvalidRequest, "state, nonce or login_hint is too long"
	}
	var scopes []string
	for _, s := range strings.Fields(q.Get("scope")) {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	switch scope := strings.Join(scopes, " "); {
	case len(scopes) == 0:
		return Request{}, errInvalidScope, "scope is required"
	case !c.Allows(scope):
		return Request{}, errInvalidScope, "the client may not ask for this scope"
	}
	r := Request{
		ID:            core.NewID(),
		ClientID:      c.ID,
		RedirectURI:   q.Get("redirect_uri"),
		Scope:         strings.Join(scopes, " "),
		State:         q.Get("state"),
		Nonce:         q.Get("nonce"),
		CodeChallenge: q.Get("code_challenge"),
		LoginHint:     q.Get("login_hint"),
		CreatedAt:     now,
		ExpiresAt:     now.Add(RequestTTL),
	}
	// prompt (OIDC Core §3.1.2.1): none alone, or any of login, consent and select_account.
	// Declared clients need no consent screen, so consent asks for nothing more; select_account
	// is a sign-in on the hosted page, like login.
	prompts := strings.Fields(q.Get("prompt"))
	for _, v := range prompts {
		switch v {
		case "none":
			if len(prompts) > 1 {
				return Request{}, errInvalidRequest, "prompt=none cannot be combined with other values"
			}
			r.Prompt = "none"
		case "login", "select_account":
			r.Prompt = "login"
		case "consent":
		default:
			return Request{}, errInvalidRequest, "prompt has a value that is not supported"
		}
	}
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return Request{}, errInvalidRequest, "max_age must be a whole number of seconds"
		}
		r.MaxAge, r.HasMaxAge = time.Duration(n)*time.Second, true
		if n == 0 && r.Prompt != "none" {
			r.Prompt = "login" // OIDC Core §3.1.2.1: max_age=0 is prompt=login
		}
	}
	return r, "", ""
}

// Request returns the pending request id for the hosted page of the browser whose binding
// cookie is binding, without taking it; a request that is unknown, expired, already completed
// or another browser's is KindInvalid with Code request_expired.
func (p *Provider) Request(ctx context.Context, id, binding string) (Request, error) {
	const op = "oidc.Provider.Request"
	if !core.IsID(id) || !core.IsSecret(binding) {
		return Request{}, errRequestGone(op)
	}
	r, err := p.Store.GetRequest(ctx, id, p.Now())
	if core.Is(err, core.KindNotFound) {
		return Request{}, errRequestGone(op)
	}
	if err != nil {
		return Request{}, err
	}
	want := HashOf(binding)
	if subtle.ConstantTimeCompare(want[:], r.Binding[:]) != 1 {
		return Request{}, errRequestGone(op) // another browser's request: not even its client's name
	}
	return r, nil
}

// CompleteInput is the hosted page's call once the person signed in.
type CompleteInput struct {
	AccessToken string // the token response of the passkey sign-in on the hosted page
	RequestID   string
	Binding     string // the binding cookie
	Session     string // the provider session cookie the browser holds, "" if none
	Client      core.Client
}

// Completion is the answer to a completed sign-in: where the browser goes, and the provider
// session cookie it now holds.
type Completion struct {
	Redirect string
	Session  string
}

// errRequestGone is the one answer for a request that is unknown, expired, already completed
// or bound to another browser.
func errRequestGone(op core.Op) error {
	e := core.E(op, core.KindInvalid, "This sign-in has expired or was started in another browser. Go back to the application and sign in again.", nil)
	e.Code = "request_expired"
	return e
}

// Complete turns the passkey sign-in the hosted page just made (its access token, a first-party
// session's) into an authorization code for the request it was shown for. The token is verified
// first (one read, which also gives the user); then the request is taken, once, and only with
// the binding cookie of the browser that started it (login CSRF). The sign-in must have
// happened after the request was made, so every request that reaches the page gets a fresh
// ceremony, which honours prompt=login and max_age. Then, at once: the code is stored, a new
// provider session opened, and the hosted page's own session ended (it only existed to prove
// the sign-in). KindUnauthenticated for a bad token, KindInvalid with Code request_expired for
// a request that cannot be completed.
func (p *Provider) Complete(ctx context.Context, in CompleteInput) (Completion, error) {
	const op = "oidc.Provider.Complete"
	now := p.Now()
	if !core.IsID(in.RequestID) || !core.IsSecret(in.Binding) {
		p.audit(ctx, "oidc.complete_failed", "reason", "no_binding", "ip", in.Client.IP)
		return Completion{}, errRequestGone(op)
	}
	claims, user, err := p.Verifier.AuthenticateWithUser(ctx, in.AccessToken)
	if err != nil {
		return Completion{}, err
	}
	if claims.ClientID != p.Verifier.FirstParty { // the hosted page signs in as the first-party client
		return Completion{}, core.E(op, core.KindUnauthenticated, "invalid access token", core.ErrInvalidToken)
	}
	// A completion that fails from here on still ends the page's own session: it existed only
	// to prove this sign-in.
	fail := func(reason string, err error) (Completion, error) {
		p.audit(ctx, "oidc.complete_failed", "reason", reason, "sub", claims.Subject, "ip", in.Client.IP)
		if rerr := p.Sessions.RevokeSession(context.WithoutCancel(ctx), claims.SessionID, now); rerr != nil && !core.Is(rerr, core.KindNotFound) {
			p.Audit.WarnContext(ctx, "could not end the hosted page's session", "sid", claims.SessionID, "err", rerr)
		}
		return Completion{}, err
	}
	r, err := p.Store.TakeRequest(ctx, in.RequestID, HashOf(in.Binding), now)
	if core.Is(err, core.KindNotFound) {
		return fail("request_gone", errRequestGone(op))
	}
	if err != nil {
		return Completion{}, err
	}
	// The deployment may have changed since the request was made: a client removed, or a
	// redirect URI or scope taken from it, gets nothing.
	if c, ok := p.Clients[r.ClientID]; !ok || !slices.Contains(c.RedirectURIs, r.RedirectURI) || !c.Allows(r.Scope) {
		return fail("client_changed", errRequestGone(op))
	}
	if claims.AuthTime.Before(r.CreatedAt.Truncate(time.Second)) {
		e := core.E(op, core.KindInvalid, "Sign in again: this sign-in happened before the application asked.", nil)
		e.Code = "login_required"
		return fail("stale_sign_in", e)
	}
	cookie := core.NewSecret()
	ps := ProviderSession{
		Hash: HashOf(cookie), UserID: claims.Subject, AuthTime: claims.AuthTime, AMR: claims.AMR,
		CreatedAt: now, ExpiresAt: now.Add(p.SessionTTL),
	}
	var (
		redirect        string
		codeErr, psErr  error
		endErr, dropErr error
	)
	parallel.Do(
		func() { redirect, codeErr = p.issue(ctx, r, claims.Subject, claims.AuthTime, claims.AMR, user, now) },
		func() { psErr = p.Store.PutProviderSession(ctx, ps) },
		func() { endErr = p.Sessions.RevokeSession(ctx, claims.SessionID, now) },
		func() {
			if core.IsSecret(in.Session) {
				dropErr = p.Store.DeleteProviderSession(ctx, HashOf(in.Session))
			}
		},
	)
	if err := parallel.First(codeErr, psErr); err != nil {
		return Completion{}, err
	}
	if endErr != nil && !core.Is(endErr, core.KindNotFound) {
		p.Audit.WarnContext(ctx, "could not end the hosted page's session", "sid", claims.SessionID, "err", endErr)
	}
	if dropErr != nil {
		p.Audit.WarnContext(ctx, "could not delete the replaced provider session", "err", dropErr)
	}
	p.audit(ctx, "oidc.code_issued", "sub", claims.Subject, "client_id", r.ClientID, "sso", false, "ip", in.Client.IP)
	return Completion{Redirect: redirect, Session: cookie}, nil
}

// issue stores a new code for request r signed in as uid and returns the redirect that hands
// it to the client.
func (p *Provider) issue(ctx context.Context, r Request, uid string, authTime time.Time, amr []string, u core.User, now time.Time) (string, error) {
	code := core.NewSecret()
	c := Code{
		Hash:          HashOf(code),
		ClientID:      r.ClientID,
		RedirectURI:   r.RedirectURI,
		Scope:         r.Scope,
		Nonce:         r.Nonce,
		CodeChallenge: r.CodeChallenge,
		UserID:        uid,
		AuthTime:      authTime,
		AMR:           amr,
		SessionID:     core.NewID(),
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.DisplayName,
		ExpiresAt:     now.Add(CodeTTL),
	}
	if err := p.Store.PutCode(ctx, c); err != nil {
		return "", err
	}
	return withQuery(r.RedirectURI, url.Values{"code": {code}, "state": optional(r.State), "iss": {p.Issuer}}), nil
}

// errorRedirect is the redirect of an error back to the client (RFC 6749 §4.1.2.1, RFC 9207).
func (p *Provider) errorRedirect(redirectURI, state, code, description string) string {
	return withQuery(redirectURI, url.Values{"error": {code}, "error_description": {description}, "state": optional(state), "iss": {p.Issuer}})
}

// ErrorRedirect is the redirect of error code back to redirect URI of a request whose client
// and redirect URI were validated, for the caller's own failures (server_error).
func (p *Provider) ErrorRedirect(redirectURI, state string) string {
	return p.errorRedirect(redirectURI, state, errServerError, "the sign-in service failed; try again")
}

// withQuery adds v to the query of u, keeping the query u already has (RFC 6749 §3.1.2).
func withQuery(u string, v url.Values) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u // redirect URIs are validated at cold start
	}
	q := parsed.Query()
	for k, vs := range v {
		for _, s := range vs {
			q.Add(k, s)
		}
	}
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

func optional(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (p *Provider) audit(ctx context.Context, event string, attrs ...any) {
	p.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}
