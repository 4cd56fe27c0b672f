package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// echoRouteKey is the route key of /local/echo for method in the authorizer's event: the
// routes GET /local/echo (HEAD served as GET, as API Gateway does) and POST /local/echo, so a
// route policy (LATCHKEY_ROUTE_SCOPES) can list one and leave the other open.
func echoRouteKey(method string) string {
	if method == http.MethodHead {
		method = http.MethodGet
	}
	return method + " " + echoPath
}

// echo serves GET and POST /local/echo behind the authorizer function exactly as an HTTP API does for a
// Lambda authorizer with payload format 2.0, simple responses and no caching, whose identity
// source is $request.header.Authorization for a request that has that header and
// $request.header.X-Api-Key for one that has only an API key (docs/deploy.md: an authorizer
// configured with one of the two, or none at all with caching off). When authorized it
// answers what a backend would find in requestContext.authorizer.
func (g *Gateway) echo(w http.ResponseWriter, r *http.Request) {
	routeKey := echoRouteKey(r.Method)
	info := newRequestInfo(r, routeKey)
	w.Header().Set("Apigw-Requestid", info.id)

	// A missing identity source is rejected before the authorizer runs.
	identity := r.Header.Get("Authorization")
	if identity == "" {
		identity = r.Header.Get("X-Api-Key")
	}
	if identity == "" {
		message(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	event, err := json.Marshal(events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              "arn:aws:execute-api:" + localRegion + ":" + localAccountID + ":" + localAPIID + "/" + localStage + "/" + strings.Replace(routeKey, " ", "", 1),
		IdentitySource:        []string{identity},
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               info.cookies,
		Headers:               info.headers,
		QueryStringParameters: info.query,
		RequestContext:        info.context,
	})
	if err != nil {
		g.log.Error("encode authorizer event", "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if g.authorizer == "" {
		g.log.Error("GET /local/echo needs AuthorizerFunction in the template")
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	payload, err := g.invoke(r.Context(), g.authorizer, event)
	if err != nil {
		// Whatever went wrong (not built, crash, timeout, error), API Gateway answers 500.
		g.log.Error("authorizer failed", "function", g.authorizer, "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	authorized, context, err := parseSimpleResponse(payload)
	if err != nil {
		g.log.Error("bad authorizer response", "function", g.authorizer, "err", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if !authorized {
		message(w, http.StatusForbidden, "Forbidden")
		return
	}
	body, err := json.Marshal(map[string]any{"authorizer": map[string]json.RawMessage{"lambda": context}})
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// parseSimpleResponse decodes an authorizer's simple response. isAuthorized must be a JSON
// boolean and context, when present, an object; the context is returned as JSON (null when
// absent).
func parseSimpleResponse(payload []byte) (bool, json.RawMessage, error) {
	var resp struct {
		IsAuthorized *bool           `json:"isAuthorized"`
		Context      json.RawMessage `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&resp); err != nil {
		return false, nil, err
	}
	if resp.IsAuthorized == nil {
		return false, nil, errors.New("isAuthorized is missing")
	}
	ctx := bytes.TrimSpace(resp.Context)
	if len(ctx) == 0 {
		ctx = []byte("null")
	}
	if ctx[0] != '{' && string(ctx) != "null" {
		return false, nil, errors.New("context is not an object")
	}
	return *resp.IsAuthorized, ctx, nil
}
