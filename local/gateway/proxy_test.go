package main

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProxyEvent(t *testing.T) {
	r := httptest.NewRequest("POST", "http://api.example.com:3000/v1/items/a%20b?x=1&x=2&y=3", strings.NewReader(`{"a":1}`))
	r.RemoteAddr = "192.0.2.7:51234"
	r.Header.Set("Content-Type", "application/json")
	r.Header.Add("X-Multi", "one")
	r.Header.Add("X-Multi", "two")
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	r.Header.Set("Cookie", "a=1; b=2")
	route, err := NewRoute("POST", "/v1/items/{id}", "items")
	if err != nil {
		t.Fatal(err)
	}
	info := newRequestInfo(r, route.Key())
	ev := proxyEvent(r, info, route, map[string]string{"id": "a b"}, []byte(`{"a":1}`))

	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("version", ev.Version, "2.0")
	check("routeKey", ev.RouteKey, "POST /v1/items/{id}")
	check("rawPath", ev.RawPath, "/v1/items/a%20b")
	check("rawQueryString", ev.RawQueryString, "x=1&x=2&y=3")
	check("query x", ev.QueryStringParameters["x"], "1,2")
	check("path id", ev.PathParameters["id"], "a b")
	check("x-multi", ev.Headers["x-multi"], "one,two")
	check("content-type", ev.Headers["content-type"], "application/json")
	check("x-forwarded-for", ev.Headers["x-forwarded-for"], "198.51.100.1, 192.0.2.7")
	check("cookie header", ev.Headers["cookie"], "")
	check("cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2")
	check("body", ev.Body, `{"a":1}`)
	check("sourceIp", ev.RequestContext.HTTP.SourceIP, "192.0.2.7")
	check("method", ev.RequestContext.HTTP.Method, "POST")
	check("stage", ev.RequestContext.Stage, "$default")
	check("domainName", ev.RequestContext.DomainName, "api.example.com:3000")
	check("domainPrefix", ev.RequestContext.DomainPrefix, "api")
	check("context routeKey", ev.RequestContext.RouteKey, "POST /v1/items/{id}")
	if ev.IsBase64Encoded || ev.RequestContext.TimeEpoch == 0 || ev.RequestContext.RequestID == "" {
		t.Errorf("event = %+v", ev)
	}
}

func TestProxyEventBinaryBody(t *testing.T) {
	body := []byte{0xff, 0x00, 0x10}
	r := httptest.NewRequest("POST", "/upload", bytes.NewReader(body))
	r.Header.Set("Content-Type", "text/plain")
	route, _ := NewRoute("POST", "/upload", "up")
	ev := proxyEvent(r, newRequestInfo(r, route.Key()), route, nil, body)
	if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString(body) {
		t.Errorf("invalid UTF-8 must be base64: %+v", ev)
	}
}

func TestIsTextual(t *testing.T) {
	for ct, want := range map[string]bool{
		"":                                  true,
		"text/plain; charset=utf-8":         true,
		"application/json":                  true,
		"application/problem+json":          true,
		"application/xml":                   true,
		"application/javascript":            true,
		"application/x-www-form-urlencoded": false,
		"application/octet-stream":          false,
		"image/png":                         false,
		"nonsense/":                         false,
	} {
		if got := isTextual(ct, []byte("hi")); got != want {
			t.Errorf("isTextual(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestTranslateResponse(t *testing.T) {
	resp, err := translateResponse([]byte(`{"statusCode":201,"headers":{"content-type":"text/plain","x-a":"1"},
		"multiValueHeaders":{"x-b":["1","2"]},"cookies":["s=1; HttpOnly","t=2"],"body":"aGk=","isBase64Encoded":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.status != 201 || string(resp.body) != "hi" || resp.headers.Get("Content-Type") != "text/plain" ||
		strings.Join(resp.headers.Values("X-B"), ",") != "1,2" || len(resp.headers.Values("Set-Cookie")) != 2 {
		t.Errorf("structured response = %+v", resp)
	}

	// API Gateway's "simple" format: any JSON without statusCode is a 200 JSON body.
	for payload, body := range map[string]string{
		`"hello"`:        `"hello"`,
		`{"items":[1]}`:  `{"items":[1]}`,
		"[1,2]\n":        `[1,2]`,
		`null`:           `null`,
		`{"status":200}`: `{"status":200}`,
	} {
		resp, err := translateResponse([]byte(payload))
		if err != nil || resp.status != 200 || string(resp.body) != body || resp.headers.Get("Content-Type") != "application/json" {
			t.Errorf("simple %s = %+v, %v", payload, resp, err)
		}
	}

	for _, bad := range []string{`not json`, `{"statusCode":"200"}`, `{"statusCode":99}`, `{"statusCode":200,"body":"!","isBase64Encoded":true}`} {
		if _, err := translateResponse([]byte(bad)); err == nil {
			t.Errorf("translateResponse(%s): no error", bad)
		}
	}
}

func TestParseSimpleResponse(t *testing.T) {
	ok, ctx, err := parseSimpleResponse([]byte(`{"isAuthorized":true,"context":{"sub":"u1"}}`))
	if err != nil || !ok || string(ctx) != `{"sub":"u1"}` {
		t.Errorf("authorized = %v %s %v", ok, ctx, err)
	}
	ok, ctx, err = parseSimpleResponse([]byte(`{"isAuthorized":false}`))
	if err != nil || ok || string(ctx) != "null" {
		t.Errorf("denied = %v %s %v", ok, ctx, err)
	}
	for _, bad := range []string{`{}`, `{"isAuthorized":"true"}`, `"yes"`, `{"isAuthorized":true,"context":[1]}`, ``} {
		if _, _, err := parseSimpleResponse([]byte(bad)); err == nil {
			t.Errorf("parseSimpleResponse(%s): no error", bad)
		}
	}
}
