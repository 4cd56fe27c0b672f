package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// errUnauthorized is the one error a REST API authorizer may return: API Gateway answers the
// client 401. Any other error would be a 500.
var errUnauthorized = errors.New("Unauthorized")

// authenticator decides a token: a user's or a machine client's (core.Verifier.AuthenticateAny).
type authenticator interface {
	AuthenticateAny(ctx context.Context, raw string) (core.AccessClaims, error)
}

type handler struct {
	auth   authenticator
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
	RouteKey           string `json:"routeKey"`           // HTTP API: "GET /orders/{id}"
	HTTPMethod         string `json:"httpMethod"`         // REST REQUEST
	Resource           string `json:"resource"`           // REST REQUEST: the resource path, "/orders/{id}"
	// Headers holds the one header the authorizer reads. encoding/json matches field names
	// case-insensitively, so this reads "authorization" (HTTP API) and "Authorization" (REST)
	// without building a map of every header.
	Headers struct {
		Authorization string `json:"authorization"`
	} `json:"headers"`
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
	route := routeOf(ev)
	switch {
	case ev.Version == "2.0":
		claims, err := h.decide(ctx, bearer(ev.Headers.Authorization), route)
		if err != nil {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
		}
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: authContext(claims)}, nil
	case ev.Type == "TOKEN" || ev.Type == "REQUEST":
		token := ev.AuthorizationToken
		if ev.Type == "REQUEST" {
			token = ev.Headers.Authorization
		}
		claims, err := h.decide(ctx, bearer(token), route)
		switch {
		case errors.Is(err, errInsufficientScope):
			return policy(claims.Subject, "Deny", ev.MethodArn, nil), nil
		case core.Is(err, core.KindUnauthenticated):
			return nil, errUnauthorized
		case err != nil:
			return policy("", "Deny", ev.MethodArn, nil), nil
		}
		return policy(claims.Subject, "Allow", ev.MethodArn, authContext(claims)), nil
	}
	h.log.WarnContext(ctx, "authorizer.denied", "reason", "unknown event type", "type", ev.Type, "version", ev.Version)
	return nil, errUnauthorized
}

// errInsufficientScope is decide's answer for a good credential that lacks a scope the route
// requires (LATCHKEY_ROUTE_SCOPES): a deny (403), never a 401, since the caller is known.
var errInsufficientScope = errors.New("insufficient scope for the route")

// decide authenticates token and applies the route policy to the principal it decided, and
// logs the outcome without the token. A denial for scope is audited with the route, the
// principal and the scopes missing; the claims come back with it (a REST deny names the
// principal).
func (h *handler) decide(ctx context.Context, token, route string) (core.AccessClaims, error) {
	claims, err := h.auth.AuthenticateAny(ctx, token)
	if err != nil {
		h.log.InfoContext(ctx, "authorizer.denied", "kind", core.KindOf(err).String(), "err", err)
		return core.AccessClaims{}, err
	}
	if missing := h.policy.missing(route, claims.Scope); len(missing) > 0 {
		h.log.InfoContext(ctx, "authorizer.denied", "audit", true, "reason", "insufficient_scope", "route", route,
			"sub", claims.Subject, "client_id", claims.ClientID, "jti", claims.ID, "missing", missing)
		return claims, errInsufficientScope
	}
	return claims, nil
}

// authContext is what the backend sees in requestContext.authorizer: who (sub: a user, or a
// machine client for its own tokens), through which session ("" for a machine client) and
// client, with what scope, and which credential got them in (an access token today; API keys
// will be the other).
func authContext(c core.AccessClaims) map[string]any {
	return map[string]any{"sub": c.Subject, "sid": c.SessionID, "scope": c.Scope, "jti": c.ID, "client_id": c.ClientID, "credential": "access_token"}
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
