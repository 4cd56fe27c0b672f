package apigw

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/latchkey/latchkey/core"
)

// answer is what the edge says for one kind of error: the HTTP status of its problem
// (RFC 9457), and the error code and status of the OAuth endpoints (RFC 6749 §5.2), where a
// bad grant is a 400 invalid_grant rather than a 401.
type answer struct {
	status      int
	oauthCode   string
	oauthStatus int
}

// answers is the one map from core.Kind to HTTP. A kind missing from it is answered as
// KindInternal.
var answers = map[core.Kind]answer{
	core.KindInternal:        {http.StatusInternalServerError, "server_error", http.StatusInternalServerError},
	core.KindInvalid:         {http.StatusBadRequest, "invalid_request", http.StatusBadRequest},
	core.KindUnauthenticated: {http.StatusUnauthorized, "invalid_grant", http.StatusBadRequest},
	core.KindForbidden:       {http.StatusForbidden, "unauthorized_client", http.StatusBadRequest},
	core.KindNotFound:        {http.StatusNotFound, "invalid_grant", http.StatusBadRequest},
	core.KindConflict:        {http.StatusConflict, "invalid_request", http.StatusBadRequest},
	core.KindTooLarge:        {http.StatusRequestEntityTooLarge, "invalid_request", http.StatusRequestEntityTooLarge},
	core.KindRateLimited:     {http.StatusTooManyRequests, "slow_down", http.StatusTooManyRequests},
	core.KindUnavailable:     {http.StatusServiceUnavailable, "temporarily_unavailable", http.StatusServiceUnavailable},
	core.KindReauthenticate:  {http.StatusUnauthorized, "invalid_grant", http.StatusBadRequest},
}

func answerOf(k core.Kind) answer {
	if a, ok := answers[k]; ok {
		return a
	}
	return answers[core.KindInternal]
}

// Status is the HTTP status of a problem of kind k.
func Status(k core.Kind) int { return answerOf(k).status }

// oauthError marks an error to be answered as an RFC 6749 §5.2 error object.
type oauthError struct{ error }

func (e oauthError) Unwrap() error { return e.error }

// OAuth marks err, returned by the handler of an OAuth endpoint (token, revocation,
// introspection), to be answered as an RFC 6749 §5.2 error object rather than a problem.
// OAuth(nil) is nil.
func OAuth(err error) error {
	if err == nil {
		return nil
	}
	return oauthError{err}
}

// Answer is how Serve answers a handler's error: OAuthError for errors marked with OAuth,
// Error for every other.
func Answer(ctx context.Context, log *slog.Logger, err error) Response {
	var oe oauthError
	if errors.As(err, &oe) {
		return OAuthError(ctx, log, oe.error)
	}
	return Error(ctx, log, err)
}

// logCause logs an internal error once, in full, and an unavailable dependency as a warning.
// Nothing of either reaches the client.
func logCause(ctx context.Context, log *slog.Logger, kind core.Kind, err error) {
	switch kind {
	case core.KindInternal:
		log.ErrorContext(ctx, "internal error", "err", err)
	case core.KindUnavailable:
		log.WarnContext(ctx, "dependency unavailable", "err", err)
	}
}

// Error answers err as a problem. Internal errors are logged once here and answered with a
// bare 500 that says nothing about the cause; client errors carry only their client-safe
// Detail. Unauthenticated answers carry the RFC 6750 challenge; rate-limited ones Retry-After.
func Error(ctx context.Context, log *slog.Logger, err error) Response {
	kind := core.KindOf(err)
	logCause(ctx, log, kind, err)
	if kind == core.KindInternal {
		return bare500()
	}
	code, members := core.CodeOf(err)
	if code == "" {
		code = kind.String()
	}
	extra := make(map[string]any, len(members))
	for k, v := range members {
		extra[k] = v
	}
	resp := ProblemWith(Status(kind), code, core.DetailOf(err), extra)
	switch kind {
	case core.KindUnauthenticated:
		resp.Headers["WWW-Authenticate"] = bearerChallenge(err)
	case core.KindReauthenticate:
		// RFC 9470 §3: the token is good but its authentication is too old for this request.
		resp.Headers["WWW-Authenticate"] = `Bearer error="insufficient_user_authentication", ` +
			`error_description="a more recent authentication is required", max_age=` +
			strconv.Itoa(int(core.MaxAgeOf(err)/time.Second))
	case core.KindRateLimited:
		resp.Headers["Retry-After"] = retryAfter(err)
	}
	return resp
}

// bearerChallenge is the RFC 6750 §3 challenge of an unauthenticated problem: with
// error="invalid_token" only when a presented access token was refused (core.ErrInvalidToken);
// bare when the request brought no Bearer token (§3.1: no error code then) or failed some other
// way, such as a passkey sign-in. A 401 always carries a challenge (RFC 9110 §11.6.1).
func bearerChallenge(err error) string {
	if errors.Is(err, core.ErrInvalidToken) {
		return `Bearer error="invalid_token"`
	}
	return "Bearer"
}

// OAuthError answers err as an RFC 6749 §5.2 error object, with the kind's OAuth code and
// status from the same map as Error (the error's Code instead of the kind's code when it has
// one, as invalid_scope refines invalid, and invalid_client, answered 401 with a Basic
// challenge, refines unauthenticated); internal errors are a bare server_error.
func OAuthError(ctx context.Context, log *slog.Logger, err error) Response {
	kind := core.KindOf(err)
	logCause(ctx, log, kind, err)
	a := answerOf(kind)
	var description string
	switch kind {
	case core.KindInternal:
	case core.KindUnavailable:
		description = "try again shortly"
	default:
		description = core.DetailOf(err)
	}
	code := a.oauthCode
	if c, _ := core.CodeOf(err); c != "" && kind != core.KindInternal {
		code = c // a refinement of the kind that RFC 6749 names, such as invalid_scope
	}
	status := a.oauthStatus
	if code == "invalid_client" {
		status = http.StatusUnauthorized // §5.2: a client that failed to authenticate gets 401 and a challenge
	}
	resp := OAuthProblem(status, code, description)
	switch {
	case kind == core.KindRateLimited:
		resp.Headers["Retry-After"] = retryAfter(err)
	case code == "invalid_client":
		resp.Headers["WWW-Authenticate"] = `Basic realm="latchkey"`
	}
	return resp
}

// retryAfter is the Retry-After value of a rate-limit error: whole seconds, at least 1.
func retryAfter(err error) string {
	secs := int((core.RetryAfterOf(err) + time.Second - 1) / time.Second)
	return strconv.Itoa(max(secs, 1))
}

// JSON answers status with v encoded as JSON.
func JSON(status int, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return bare500()
	}
	return Response{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}
}

// NoContent answers 204.
func NoContent() Response {
	return Response{StatusCode: http.StatusNoContent, Headers: map[string]string{}}
}

// problem is an RFC 9457 problem details object. Code is an extension member carrying the
// core.Kind, so clients can branch without parsing prose.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
}

// Problem answers an application/problem+json body for status.
func Problem(status int, code, detail string) Response {
	return ProblemWith(status, code, detail, nil)
}

// ProblemWith answers a problem with extension members (RFC 9457 §3.2) beside the standard
// ones; a member named like a standard one is ignored.
func ProblemWith(status int, code, detail string, extra map[string]any) Response {
	members := map[string]any{}
	for k, v := range extra {
		members[k] = v
	}
	members["type"] = "about:blank"
	members["title"] = http.StatusText(status)
	members["status"] = status
	members["code"] = code
	if detail != "" {
		members["detail"] = detail
	} else {
		delete(members, "detail")
	}
	b, _ := json.Marshal(members)
	return Response{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/problem+json"},
		Body:       string(b),
	}
}

// NotFound answers the problem for a route this function does not serve.
func NotFound(req *Request) Response {
	return Problem(http.StatusNotFound, core.KindNotFound.String(), "no such route: "+req.RequestContext.HTTP.Method+" "+req.RawPath)
}

func bare500() Response {
	return Problem(http.StatusInternalServerError, core.KindInternal.String(), "")
}

// OAuthProblem answers an RFC 6749 §5.2 error object: {"error": code, "error_description"}
// (the description left out when empty), uncacheable as §5.1 requires of token responses.
func OAuthProblem(status int, code, description string) Response {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	resp := JSON(status, body)
	resp.Headers["Pragma"] = "no-cache"
	return resp
}

// TokenBody is the token response of every sign-in and refresh: RFC 6749 §5.1 plus the
// session id.
type TokenBody struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	// Scope is the scope granted, set when it differs from the scope asked for (RFC 6749
	// §5.1); left out otherwise.
	Scope     string `json:"scope,omitempty"`
	SessionID string `json:"session_id"`
}

// NewTokenBody is the token response of tr.
func NewTokenBody(tr core.TokenResponse) TokenBody {
	return TokenBody{
		AccessToken:  tr.AccessToken,
		TokenType:    "Bearer",
		ExpiresIn:    int(tr.ExpiresIn / time.Second),
		RefreshToken: tr.RefreshToken,
		SessionID:    tr.SessionID,
	}
}

// Tokens answers status with a body that carries tokens (a TokenBody, or a larger object
// embedding one), never to be cached (RFC 6749 §5.1: Cache-Control no-store, Pragma no-cache).
func Tokens(status int, body any) Response {
	resp := JSON(status, body)
	resp.Headers["Cache-Control"] = "no-store"
	resp.Headers["Pragma"] = "no-cache"
	return resp
}
