package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// errUnauthorized is the one error a REST API authorizer may return: API Gateway answers the
// client 401. Any other error would be a 500.
var errUnauthorized = errors.New("Unauthorized")

// authenticator decides a token: a user's or a machine client's (core.Verifier.AuthenticateAny).
type authenticator interface {
	AuthenticateAny(ctx context.Context, raw string) (core.AccessClaims, error)
}

// keyAuthenticator decides API keys (apikey.Verifier).
type keyAuthenticator interface {
	Authenticate(ctx context.Context, raw string) (core.APIKey, error)
}

type handler struct {
	auth   authenticator
	keys   keyAuthenticator
	policy routePolicy // LATCHKEY_ROUTE_SCOPES
	log    *slog.Logger
}

// event is the union of the authorizer events API Gateway sends: HTTP API payload 2.0
// (version "2.0", type REQUEST) and REST API TOKEN and REQUEST authorizers.
type event struct {
	Version            string `json:"version"`
	Type               string `json:"type"`
	AuthorizationToken string `json:"authorizationToken"` // REST TOKEN
	MethodArn          string `json:"methodArn"`          // REST
	RouteArn           string `json:"routeArn"`           // HTTP API
	RouteKey           string `json:"routeKey"`           // HTTP API: "GET /orders/{id}", "ANY /orders/{id}", "$default"
	HTTPMethod         string `json:"httpMethod"`         // REST REQUEST
	Resource           string `json:"resource"`           // REST REQUEST: the resource path, "/orders/{id}"
	Path               string `json:"path"`               // REST REQUEST: the path called, "/orders/7"
	RequestContext     struct {
		HTTP struct {
			Method string `json:"method"` // HTTP API: the method called, whatever the route
			Path   string `json:"path"`   // HTTP API: the path called
		} `json:"http"`
	} `json:"requestContext"`
	// Headers holds the two headers the authorizer reads. encoding/json matches field names
	// case-insensitively, so this reads "authorization" (HTTP API) and "Authorization" (REST),
	// "x-api-key" and "X-Api-Key", without building a map of every header.
	Headers struct {
		Authorization string `json:"authorization"`
		APIKey        string `json:"x-api-key"`
	} `json:"headers"`
}

// credential is what a request with these headers presents: the Bearer credential of
// Authorization (an access token or an API key), else the X-Api-Key header.
func credential(authorization, apiKey string) string {
	if c := bearer(authorization); c != "" {
		return c
	}
	return strings.TrimSpace(apiKey)
}

// tokenCredential is what a REST TOKEN event's token presents: its identity source may be
// Authorization (a Bearer credential) or X-Api-Key (the bare key).
func tokenCredential(token string) string {
	if t := strings.TrimSpace(token); apikey.Looks(t) {
		return t
	}
	return bearer(token)
}

// Invoke is the handler as aws-lambda-go calls it when it implements lambda.Handler: the event's
// bytes in, the answer's JSON out. Without it aws-lambda-go would scan and copy the event into a
// json.RawMessage by reflection before Handle scans it again, and encode the answer through
// reflection of its own; the event is about 3 KB, and a profile of a decision showed a tenth of
// its CPU in encoding/json. A deny that must be a 401 stays an error (errUnauthorized).
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := h.Handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Handle decides one authorizer event. It never returns an error that API Gateway would turn
// into a 500: whatever goes wrong, the answer is a deny (docs/security.md, failure behaviour: the
// authorizer denies whenever it cannot decide).
func (h *handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		h.log.WarnContext(ctx, "authorizer.denied", "reason", "unreadable event")
		return nil, errUnauthorized
	}
	// The decision runs under the same deadline as every request (boot.Deadline), so a slow
	// store turns into a deny well inside API Gateway's authorizer timeout rather than a
	// timeout of its own.
	ctx, cancel := boot.Deadline(ctx)
	defer cancel()
	var route route // only a route policy looks at it
	if len(h.policy) > 0 {
		route = routeOf(ev)
	}
	switch {
	case ev.Version == "2.0":
		_, authCtx, err := h.decide(ctx, credential(ev.Headers.Authorization, ev.Headers.APIKey), route)
		if err != nil {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: authCtx}, nil
	case ev.Type == "TOKEN" || ev.Type == "REQUEST":
		token := tokenCredential(ev.AuthorizationToken)
		if ev.Type == "REQUEST" {
			token = credential(ev.Headers.Authorization, ev.Headers.APIKey)
		}
		sub, authCtx, err := h.decide(ctx, token, route)
		switch {
		case errors.Is(err, errInsufficientScope):
			return policy(sub, "Deny", ev.MethodArn, nil), nil
		case core.Is(err, core.KindUnauthenticated):
			return nil, errUnauthorized
		case err != nil:
			return policy("", "Deny", ev.MethodArn, nil), nil
		}
		return policy(sub, "Allow", ev.MethodArn, authCtx), nil
	}
	h.log.WarnContext(ctx, "authorizer.denied", "reason", "unknown event type", "type", ev.Type, "version", ev.Version)
	return nil, errUnauthorized
}

// errInsufficientScope is decide's answer for a good credential that lacks a scope the route
// requires (LATCHKEY_ROUTE_SCOPES): a deny (403), never a 401, since the caller is known.
var errInsufficientScope = errors.New("insufficient scope for the route")

// decide authenticates the credential — an API key if it starts lk_ (its shape and checksum
// first, then one strongly consistent read), an access token of a user or a machine client
// otherwise — applies the route policy to the scopes of the principal it decided, and answers
// the principal and the context. It logs the outcome without the credential; a denial for
// scope is audited with the route, the principal and the scopes missing, and comes back with
// the principal (a REST deny names it).
func (h *handler) decide(ctx context.Context, token string, route route) (string, map[string]any, error) {
	var authCtx map[string]any
	if apikey.Looks(token) {
		k, err := h.keys.Authenticate(ctx, token)
		if err != nil {
			h.log.InfoContext(ctx, "authorizer.denied", "credential", "api_key", "kind", core.KindOf(err).String(), "err", err)
			return "", nil, err
		}
		authCtx = keyContext(k)
	} else {
		claims, err := h.auth.AuthenticateAny(ctx, token)
		if err != nil {
			h.log.InfoContext(ctx, "authorizer.denied", "credential", "access_token", "kind", core.KindOf(err).String(), "err", err)
			return "", nil, err
		}
		authCtx = authContext(claims)
	}
	sub, _ := authCtx["sub"].(string)
	scope, _ := authCtx["scope"].(string)
	if missing := h.policy.missing(route, scope); len(missing) > 0 {
		h.log.InfoContext(ctx, "authorizer.denied", "audit", true, "reason", "insufficient_scope", "route", route.String(),
			"sub", sub, "credential", authCtx["credential"], "client_id", authCtx["client_id"], "missing", missing)
		return sub, nil, errInsufficientScope
	}
	return sub, authCtx, nil
}

// authContext is what the backend sees in requestContext.authorizer for an access token: who
// (sub: a user, or a machine client for its own tokens), through which session ("" for a
// machine client) and client, with what scope, and which credential got them in.
func authContext(c core.AccessClaims) map[string]any {
	return map[string]any{"sub": c.Subject, "sid": c.SessionID, "scope": c.Scope, "jti": c.ID, "client_id": c.ClientID, "credential": "access_token"}
}

// keyContext is the same context for an API key: its owner, its scopes, which key; an API key
// has no session, token id or OAuth client, so those are empty.
func keyContext(k core.APIKey) map[string]any {
	return map[string]any{"sub": k.UserID, "sid": "", "scope": strings.Join(k.Scopes, " "), "jti": "", "client_id": "", "credential": "api_key", "key_id": k.ID}
}

// policy is a REST API authorizer answer. Its statement names only the method being called, so
// a cached Allow cannot open other methods.
func policy(principal, effect, methodArn string, ctx map[string]any) events.APIGatewayCustomAuthorizerResponse {
	if principal == "" {
		principal = "anonymous"
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action:   []string{"execute-api:Invoke"},
				Effect:   effect,
				Resource: []string{methodArn},
			}},
		},
		Context: ctx,
	}
}

// bearer strips the "Bearer " scheme; anything else yields "" and so a deny.
func bearer(h string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}
