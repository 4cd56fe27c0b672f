// Package apigw is the HTTP edge of every Latchkey function: it decodes API Gateway HTTP API
// (payload 2.0) events and caps request bodies (this file), and writes every answer
// (answer.go): JSON, RFC 9457 problems, RFC 6749 §5.2 errors and token responses. It is the
// only place that turns a core.Kind into an HTTP status.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/latchkey/latchkey/core"
)

// Request and Response are the API Gateway HTTP API payload 2.0 shapes.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// MaxBody is the largest request body Latchkey reads (docs/api.md, errors: bodies over 64 KB answer
// 413).
const MaxBody = 64 << 10

// HandlerFunc handles one request. An error it returns is answered by Serve: as an RFC 6749
// error object when it was wrapped with OAuth, else as a problem (see Error).
type HandlerFunc func(ctx context.Context, req *Request) (Response, error)

// Bound derives the context a request runs under from the invocation's: boot.Deadline in the
// functions, which bounds it well inside the Lambda's own deadline.
type Bound func(context.Context) (context.Context, context.CancelFunc)

// Serve wraps h into what lambda.Start wants. Before h runs it refuses bodies over MaxBody with
// 413, so nothing is parsed, signed or stored for them. h runs under the context bound gives,
// and an error h returns once that context is done is an outage (503, never a 500), whatever
// kind the layer that saw it gave it. Whatever h does, the Lambda gets a response and a nil
// error: errors become problems, a panic becomes a bare 500 and a log line.
func Serve(log *slog.Logger, bound Bound, h HandlerFunc) func(context.Context, events.APIGatewayV2HTTPRequest) (Response, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (resp Response, _ error) {
		defer func() {
			if r := recover(); r != nil {
				log.ErrorContext(ctx, "handler panicked", "route", req.RouteKey, "panic", r)
				resp = bare500()
			}
			resp = withCommonHeaders(resp, &req)
		}()
		if bodyLen(&req) > MaxBody {
			return Error(ctx, log, core.E("apigw.Serve", core.KindTooLarge, "request body is larger than 64 KB", nil)), nil
		}
		rctx, cancel := bound(ctx)
		defer cancel()
		resp, err := h(rctx, &req)
		if err != nil {
			if rctx.Err() != nil && core.KindOf(err) == core.KindInternal {
				err = outOfTime(err)
			}
			return Answer(ctx, log, err), nil
		}
		return resp, nil
	}
}

// outOfTime makes err, returned after the request's deadline, an outage, keeping its OAuth
// mark.
func outOfTime(err error) error {
	var oe oauthError
	if errors.As(err, &oe) {
		return OAuth(outOfTime(oe.error))
	}
	return core.E("apigw.Serve", core.KindUnavailable, "", err)
}

// bodyLen is the decoded length of the body, computed without decoding it.
func bodyLen(req *Request) int {
	if req.IsBase64Encoded {
		return base64.StdEncoding.DecodedLen(len(req.Body))
	}
	return len(req.Body)
}

// Body returns the request body as bytes, decoding base64 when API Gateway encoded it.
func Body(req *Request) ([]byte, error) {
	if bodyLen(req) > MaxBody {
		return nil, core.E("apigw.Body", core.KindTooLarge, "request body is larger than 64 KB", nil)
	}
	if !req.IsBase64Encoded {
		return []byte(req.Body), nil
	}
	b, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		return nil, core.E("apigw.Body", core.KindInvalid, "request body is not valid base64", err)
	}
	return b, nil
}

// DecodeJSON parses the JSON object body of req into v. An empty body decodes as {}.
// Unknown fields are ignored (clients may be newer than the server); trailing data is not.
func DecodeJSON(req *Request, v any) error {
	const op = "apigw.DecodeJSON"
	b, err := Body(req)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		b = []byte("{}")
	}
	if ct := Header(req, "content-type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return core.E(op, core.KindInvalid, "content type must be application/json", nil)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(v); err != nil {
		return core.E(op, core.KindInvalid, "request body is not the expected JSON object", err)
	}
	if dec.More() {
		return core.E(op, core.KindInvalid, "request body has trailing data", nil)
	}
	return nil
}

// Header returns the value of the named header; API Gateway lowercases header names.
func Header(req *Request, name string) string {
	return req.Headers[strings.ToLower(name)]
}

// ClientIP is the caller's address as API Gateway observed it on the connection. It never
// reads X-Forwarded-For or any other header the caller controls (docs/security.md, abuse).
func ClientIP(req *Request) string {
	return req.RequestContext.HTTP.SourceIP
}

// withCommonHeaders adds the headers every answer carries: the API Gateway request id for
// support, no caching unless the handler chose otherwise, and no content sniffing.
func withCommonHeaders(resp Response, req *Request) Response {
	if resp.Headers == nil {
		resp.Headers = map[string]string{}
	}
	if id := req.RequestContext.RequestID; id != "" {
		resp.Headers["X-Request-Id"] = id
	}
	if _, ok := resp.Headers["Cache-Control"]; !ok {
		resp.Headers["Cache-Control"] = "no-store"
	}
	resp.Headers["X-Content-Type-Options"] = "nosniff"
	return resp
}

// BearerToken returns the access token of an "Authorization: Bearer" header (RFC 6750 §2.1).
// A missing or malformed header is KindUnauthenticated.
func BearerToken(req *Request) (string, error) {
	h := Header(req, "authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", core.E("apigw.BearerToken", core.KindUnauthenticated, "a Bearer access token is required", nil)
	}
	return strings.TrimSpace(token), nil
}

// Account verifies the request's Bearer token for the account's own routes (v.Authenticate:
// the first-party client's user tokens only). A missing or malformed header, and every refused
// token, is KindUnauthenticated.
func Account(ctx context.Context, req *Request, v *core.Verifier) (core.AccessClaims, error) {
	raw, err := BearerToken(req)
	if err != nil {
		return core.AccessClaims{}, err
	}
	return v.Authenticate(ctx, raw)
}

// Form parses an application/x-www-form-urlencoded body, or a JSON object of strings when the
// content type is JSON, as the OAuth endpoints accept both.
func Form(req *Request) (url.Values, error) {
	const op = "apigw.Form"
	ct := strings.ToLower(Header(req, "content-type"))
	if strings.HasPrefix(ct, "application/json") {
		var m map[string]string
		if err := DecodeJSON(req, &m); err != nil {
			return nil, err
		}
		v := url.Values{}
		for k, s := range m {
			v.Set(k, s)
		}
		return v, nil
	}
	if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, core.E(op, core.KindInvalid, "content type must be application/x-www-form-urlencoded or application/json", nil)
	}
	b, err := Body(req)
	if err != nil {
		return nil, err
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, core.E(op, core.KindInvalid, "request body is not a valid form", err)
	}
	return v, nil
}

// Client is the caller as API Gateway observed it: the connection's address and the user agent.
func Client(req *Request) core.Client {
	return core.Client{IP: ClientIP(req), UserAgent: Header(req, "user-agent")}
}
