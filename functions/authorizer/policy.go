package main

import (
	"slices"
	"strings"
)

// routePolicy is LATCHKEY_ROUTE_SCOPES: the scopes a credential needs on a route, by route as
// API Gateway names it ("GET /orders/{id}"; ANY matches every method of its path). A route it
// does not list needs no scope.
type routePolicy map[string][]string

// missing returns the scopes route requires that scope (the decided principal's scopes,
// space-delimited, whatever the credential: a user's or a machine client's access token, an
// API key) does not hold; none when the route is unlisted or every one is held. A route
// listed both with its method and as ANY needs both lists.
func (p routePolicy) missing(route, scope string) []string {
	if len(p) == 0 || route == "" {
		return nil
	}
	held := strings.Fields(scope)
	var out []string
	need := p[route]
	if _, path, ok := strings.Cut(route, " "); ok {
		need = append(slices.Clone(need), p["ANY "+path]...)
	}
	for _, s := range need {
		if !slices.Contains(held, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// routeOf is the route of an authorizer event as the policy names it: an HTTP API's routeKey;
// a REST REQUEST authorizer's method and resource path ("GET /orders/{id}"); for a REST TOKEN
// authorizer, which gets only the methodArn, its method and the path called (so a route
// with path parameters matches only through a REQUEST authorizer). "" when the event names
// none (an HTTP API's $default route): no route, no policy.
func routeOf(ev event) string {
	switch {
	case ev.RouteKey != "":
		if ev.RouteKey == "$default" {
			return ""
		}
		return ev.RouteKey
	case ev.HTTPMethod != "" && ev.Resource != "":
		return ev.HTTPMethod + " " + ev.Resource
	case ev.MethodArn != "":
		// arn:aws:execute-api:region:account:api/stage/METHOD/path…
		_, rest, ok := strings.Cut(ev.MethodArn, "/")
		if !ok {
			return ""
		}
		if _, rest, ok = strings.Cut(rest, "/"); !ok {
			return ""
		}
		method, path, _ := strings.Cut(rest, "/")
		if method == "" {
			return ""
		}
		return method + " /" + path
	}
	return ""
}
