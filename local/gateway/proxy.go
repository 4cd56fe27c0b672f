package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Local stand-ins for the account, region and HTTP API in events and ARNs.
const (
	localAccountID = "123456789012"
	localRegion    = "us-east-1"
	localAPIID     = "local"
	localStage     = "$default"
)

// requestInfo is what API Gateway derives from an HTTP request before choosing an integration.
type requestInfo struct {
	id       string
	now      time.Time
	sourceIP string
	headers  map[string]string
	cookies  []string
	query    map[string]string
	context  events.APIGatewayV2HTTPRequestContext
}

// newRequestInfo reads the parts of r every integration needs. sourceIP is the TCP peer
// address, never a header.
func newRequestInfo(r *http.Request, routeKey string) requestInfo {
	now := time.Now().UTC()
	info := requestInfo{id: apiRequestID(), now: now}
	info.sourceIP, _, _ = net.SplitHostPort(r.RemoteAddr)
	if info.sourceIP == "" {
		info.sourceIP = r.RemoteAddr
	}
	info.headers, info.cookies = eventHeaders(r, info.sourceIP)
	info.query = queryParameters(r)

	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	prefix, _, _ := strings.Cut(host, ".")
	info.context = events.APIGatewayV2HTTPRequestContext{
		RouteKey:     routeKey,
		AccountID:    localAccountID,
		Stage:        localStage,
		RequestID:    info.id,
		APIID:        localAPIID,
		DomainName:   r.Host,
		DomainPrefix: prefix,
		Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
		TimeEpoch:    now.UnixMilli(),
		HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
			Method:    r.Method,
			Path:      r.URL.EscapedPath(),
			Protocol:  r.Proto,
			SourceIP:  info.sourceIP,
			UserAgent: r.UserAgent(),
		},
	}
	return info
}

// eventHeaders lowercases header names and joins repeated values with commas, as HTTP APIs do.
// Cookie headers become the cookies list instead. X-Forwarded-* are set the way API Gateway
// sets them (the peer address is appended to any X-Forwarded-For the client sent).
func eventHeaders(r *http.Request, sourceIP string) (map[string]string, []string) {
	headers := map[string]string{}
	var cookies []string
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		if lower == "cookie" {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[lower] = strings.Join(values, ",")
	}
	headers["host"] = r.Host
	if r.ContentLength > 0 {
		headers["content-length"] = strconv.FormatInt(r.ContentLength, 10)
	}
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		headers["x-forwarded-port"] = port
	} else {
		headers["x-forwarded-port"] = "80"
	}
	return headers, cookies
}

// queryParameters joins repeated query parameters with commas, as HTTP APIs do; nil when none.
func queryParameters(r *http.Request) map[string]string {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil
	}
	out := make(map[string]string, len(q))
	for k, v := range q {
		out[k] = strings.Join(v, ",")
	}
	return out
}

// proxyEvent builds the payload format 2.0 event for a Lambda proxy integration.
func proxyEvent(r *http.Request, info requestInfo, route Route, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              route.Key(),
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               info.cookies,
		Headers:               info.headers,
		QueryStringParameters: info.query,
		PathParameters:        params,
		RequestContext:        info.context,
	}
	if len(body) > 0 {
		if isTextual(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextual reports whether API Gateway would pass body as text rather than base64: a text/*,
// JSON, XML or JavaScript content type (or none) and valid UTF-8.
func isTextual(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript":
		return true
	}
	return false
}

// httpResponse is a function's answer translated for the client.
type httpResponse struct {
	status  int
	headers http.Header
	body    []byte
}

// translateResponse turns a function's payload into the HTTP response API Gateway would send.
// An object with statusCode is the structured format; any other JSON value is the "simple"
// format: 200, application/json, the payload as the body.
func translateResponse(payload []byte) (httpResponse, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(payload, &probe); err != nil || probe["statusCode"] == nil {
		if !json.Valid(payload) {
			return httpResponse{}, fmt.Errorf("function response is not JSON")
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return httpResponse{status: http.StatusOK, headers: h, body: bytes.TrimSpace(payload)}, nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return httpResponse{}, fmt.Errorf("malformed function response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return httpResponse{}, fmt.Errorf("function response has statusCode %d", resp.StatusCode)
	}
	h := http.Header{}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return httpResponse{}, fmt.Errorf("function response body is not base64: %w", err)
		}
	}
	return httpResponse{status: resp.StatusCode, headers: h, body: body}, nil
}

// apiRequestID returns an id shaped like API Gateway's apigw-requestid ("JKJaXmPLvHcESHA="):
// 11 random bytes in padded base64.
func apiRequestID() string {
	var b [11]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}
