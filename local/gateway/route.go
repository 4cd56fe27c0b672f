package main

import (
	"fmt"
	"net/url"
	"strings"
)

// Route is one HTTP API route: a method (or ANY) and a path template whose segments may be
// {param} or a final {proxy+}. The route key "$default" matches every request.
type Route struct {
	Method   string
	Path     string
	Function string
	segments []string
}

// defaultRouteKey is API Gateway's catch-all route.
const defaultRouteKey = "$default"

// NewRoute validates method and path and returns the route to function. An empty method and
// path give the $default route, as in SAM.
func NewRoute(method, path, function string) (Route, error) {
	if method == "" && path == "" {
		return Route{Method: "", Path: defaultRouteKey, Function: function}, nil
	}
	method = strings.ToUpper(method)
	if method == "" {
		return Route{}, fmt.Errorf("route %q has no Method", path)
	}
	if !strings.HasPrefix(path, "/") {
		return Route{}, fmt.Errorf("route path %q must start with /", path)
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
			return Route{}, fmt.Errorf("route path %q: a greedy {name+} must be the last segment", path)
		}
	}
	return Route{Method: method, Path: path, Function: function, segments: segs}, nil
}

// Key is the route key API Gateway puts in events: "GET /v1/me/passkeys/{id}" or "$default".
func (r Route) Key() string {
	if r.Path == defaultRouteKey {
		return defaultRouteKey
	}
	return r.Method + " " + r.Path
}

// Router picks the route for a request the way HTTP APIs do: the most specific match wins
// (literal segments before {param} before {proxy+}, a named method before ANY), and $default
// only when nothing else matches.
type Router struct {
	routes []Route
}

// Match returns the route for method and escaped path with its decoded path parameters.
func (rt *Router) Match(method, escapedPath string) (Route, map[string]string, bool) {
	reqSegs := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	var (
		best       Route
		bestParams map[string]string
		bestScore  []int
		found      bool
		fallback   *Route
	)
	for i := range rt.routes {
		r := rt.routes[i]
		if r.Path == defaultRouteKey {
			fallback = &rt.routes[i]
			continue
		}
		if r.Method != "ANY" && r.Method != method {
			continue
		}
		params, score, ok := matchSegments(r.segments, reqSegs)
		if !ok {
			continue
		}
		if r.Method != "ANY" {
			score = append(score, 1)
		} else {
			score = append(score, 0)
		}
		if !found || better(score, bestScore) {
			best, bestParams, bestScore, found = r, params, score, true
		}
	}
	if found {
		return best, bestParams, true
	}
	if fallback != nil {
		return *fallback, nil, true
	}
	return Route{}, nil, false
}

// matchSegments matches route segments against request segments. The score has one entry per
// route segment: 3 literal, 2 {param}, 1 {proxy+}.
func matchSegments(route, req []string) (map[string]string, []int, bool) {
	params := map[string]string{}
	score := make([]int, 0, len(route))
	for i, seg := range route {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "+}") {
			rest := req[i:]
			if len(rest) == 0 || (len(rest) == 1 && rest[0] == "") {
				return nil, nil, false
			}
			v, err := url.PathUnescape(strings.Join(rest, "/"))
			if err != nil {
				return nil, nil, false
			}
			params[seg[1:len(seg)-2]] = v
			return params, append(score, 1), true
		}
		if i >= len(req) {
			return nil, nil, false
		}
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			if req[i] == "" {
				return nil, nil, false
			}
			v, err := url.PathUnescape(req[i])
			if err != nil {
				return nil, nil, false
			}
			params[seg[1:len(seg)-1]] = v
			score = append(score, 2)
			continue
		}
		if unescaped, err := url.PathUnescape(req[i]); err != nil || unescaped != seg {
			return nil, nil, false
		}
		score = append(score, 3)
	}
	if len(req) != len(route) {
		return nil, nil, false
	}
	if len(params) == 0 {
		params = nil
	}
	return params, score, true
}

// better reports whether score a beats score b, comparing segment by segment from the left.
func better(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return len(a) > len(b)
}
