package main

import (
	"slices"
	"strings"
)

// routePolicy is LATCHKEY_ROUTE_SCOPES: the scopes a credential needs on a route, by route as
// API Gateway names it ("GET /orders/{id}"; ANY for every method of the path; {name} matches
// one path segment and {name+} the rest). A request no entry matches needs no scope.
type routePolicy map[string][]string

// route is what an authorizer event says of the request: the HTTP method actually called and
// the paths it goes by, the route's template ("/orders/{id}") and the path called
// ("/orders/7") where the event has both. The policy applies every entry that matches the
// method (or is ANY) and any of the paths, so neither an ANY or $default route nor a REST
// TOKEN authorizer, which sees only the path called, escapes an entry written for the other
// form.
type route struct {
	method string
	paths  []string
}

// String names the route in audit events: the method and its first path.
func (r route) String() string {
	if r.method == "" || len(r.paths) == 0 {
		return ""
	}
	return r.method + " " + r.paths[0]
}

// missing returns the scopes the route requires that scope (the decided principal's scopes,
// space-delimited, whatever the credential: a user's or a machine client's access token, an
// API key) does not hold, sorted; none when no entry matches or every one is held. A request
// that several entries match needs all their scopes.
func (p routePolicy) missing(r route, scope string) []string {
	if len(p) == 0 {
		return nil
	}
	held := strings.Fields(scope)
	var out []string
	for key, need := range p {
		method, pattern, _ := strings.Cut(key, " ")
		if method != "ANY" && method != r.method {
			continue
		}
		if !slices.ContainsFunc(r.paths, func(path string) bool { return pathMatches(pattern, path) }) {
			continue
		}
		for _, s := range need {
			if !slices.Contains(held, s) && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// pathMatches reports whether path (a route template or a path called) is one pattern names:
// segment by segment, a literal equal, {name} any one segment, {name+} one or more to the end.
// A trailing slash is ignored on both.
func pathMatches(pattern, path string) bool {
	ps, xs := segments(pattern), segments(path)
	for i, seg := range ps {
		switch {
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}"):
			return len(xs) > i
		case i >= len(xs):
			return false
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			if xs[i] == "" {
				return false
			}
		case seg != xs[i]:
			return false
		}
	}
	return len(ps) == len(xs)
}

// segments splits a path into its segments, without the leading and a trailing slash.
func segments(path string) []string {
	path = strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	if path == "" {
		return nil
	}
	return strings.Split(path, "/")
}

// routeOf is the route of an authorizer event: for an HTTP API, the method called and both its
// routeKey's path (none for $default) and the path called; for a REST REQUEST authorizer, its
// method and both its resource path and the path called; for a REST TOKEN authorizer, which
// gets only the methodArn, its method and the path called.
func routeOf(ev event) route {
	var r route
	add := func(path string) {
		if path != "" && !slices.Contains(r.paths, path) {
			r.paths = append(r.paths, path)
		}
	}
	switch {
	case ev.RouteKey != "" || ev.RequestContext.HTTP.Method != "":
		r.method = ev.RequestContext.HTTP.Method
		if method, path, ok := strings.Cut(ev.RouteKey, " "); ok {
			if r.method == "" && method != "ANY" {
				r.method = method
			}
			add(path)
		}
		add(ev.RequestContext.HTTP.Path)
	case ev.HTTPMethod != "":
		r.method = ev.HTTPMethod
		add(ev.Resource)
		add(ev.Path)
	case ev.MethodArn != "":
		// arn:aws:execute-api:region:account:api/stage/METHOD/path…
		_, rest, ok := strings.Cut(ev.MethodArn, "/")
		if !ok {
			return route{}
		}
		if _, rest, ok = strings.Cut(rest, "/"); !ok {
			return route{}
		}
		method, path, _ := strings.Cut(rest, "/")
		r.method = method
		add("/" + path)
	}
	return r
}
