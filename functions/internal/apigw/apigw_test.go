package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
)

func logger(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(buf, nil)) }

func decodeProblem(t *testing.T, r Response) problem {
	t.Helper()
	if ct := r.Headers["Content-Type"]; ct != "application/problem+json" {
		t.Fatalf("content type = %q", ct)
	}
	var p problem
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return p
}

func TestServeRefusesLargeBodiesBeforeTheHandler(t *testing.T) {
	for _, b64 := range []bool{false, true} {
		called := false
		h := Serve(logger(&bytes.Buffer{}), unbounded, func(context.Context, *Request) (Response, error) {
			called = true
			return NoContent(), nil
		})
		body := strings.Repeat("a", MaxBody+1)
		if b64 {
			body = base64.StdEncoding.EncodeToString([]byte(body))
		}
		resp, err := h(context.Background(), Request{Body: body, IsBase64Encoded: b64})
		if err != nil || resp.StatusCode != 413 || called {
			t.Fatalf("base64=%v: status %d err %v handler called %v", b64, resp.StatusCode, err, called)
		}
		if p := decodeProblem(t, resp); p.Code != "too_large" {
			t.Errorf("code = %q", p.Code)
		}
	}
	// Exactly at the cap is accepted.
	h := Serve(logger(&bytes.Buffer{}), unbounded, func(context.Context, *Request) (Response, error) { return NoContent(), nil })
	if resp, _ := h(context.Background(), Request{Body: strings.Repeat("a", MaxBody)}); resp.StatusCode != 204 {
		t.Fatalf("a body of exactly 64 KB: status %d", resp.StatusCode)
	}
}

func TestInternalErrorsSayNothing(t *testing.T) {
	var logs bytes.Buffer
	secret := "dial tcp 10.0.0.1: table arn:aws:dynamodb:secret"
	h := Serve(logger(&logs), unbounded, func(context.Context, *Request) (Response, error) {
		return Response{}, core.Wrap("x.Y", errors.New(secret))
	})
	resp, err := h(context.Background(), Request{})
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("status %d err %v", resp.StatusCode, err)
	}
	if strings.Contains(resp.Body, "dial") || strings.Contains(resp.Body, "arn:") {
		t.Fatalf("500 body leaks the cause: %s", resp.Body)
	}
	if !strings.Contains(logs.String(), "arn:aws:dynamodb:secret") {
		t.Fatalf("the cause is not logged: %s", logs.String())
	}
}

func TestPanicBecomesBare500(t *testing.T) {
	h := Serve(logger(&bytes.Buffer{}), unbounded, func(context.Context, *Request) (Response, error) { panic("boom at handler.go:12") })
	resp, err := h(context.Background(), Request{})
	if err != nil || resp.StatusCode != 500 || strings.Contains(resp.Body, "boom") {
		t.Fatalf("status %d err %v body %s", resp.StatusCode, err, resp.Body)
	}
}

func TestErrorStatuses(t *testing.T) {
	cases := []struct {
		err    error
		status int
		header string
		value  string
	}{
		{core.E("op", core.KindInvalid, "bad email", nil), 400, "", ""},
		{core.E("op", core.KindUnauthenticated, "", core.ErrInvalidToken), 401, "WWW-Authenticate", `Bearer error="invalid_token"`},
		{core.Wrap("outer", core.E("op", core.KindUnauthenticated, "", fmt.Errorf("%w: expired", core.ErrInvalidToken))), 401, "WWW-Authenticate", `Bearer error="invalid_token"`},
		{core.E("op", core.KindUnauthenticated, "passkey sign-in failed", nil), 401, "WWW-Authenticate", "Bearer"},
		{core.E("op", core.KindConflict, "last passkey", nil), 409, "", ""},
		{&core.Error{Op: "op", Kind: core.KindRateLimited, RetryAfter: 1500 * time.Millisecond}, 429, "Retry-After", "2"},
		{core.Wrap("outer", core.E("store", core.KindUnavailable, "storage unavailable", errors.New("x"))), 503, "", ""},
	}
	for _, c := range cases {
		r := Error(context.Background(), logger(&bytes.Buffer{}), c.err)
		if r.StatusCode != c.status {
			t.Errorf("%v: status %d, want %d", c.err, r.StatusCode, c.status)
		}
		if c.header != "" && r.Headers[c.header] != c.value {
			t.Errorf("%v: %s = %q, want %q", c.err, c.header, r.Headers[c.header], c.value)
		}
		decodeProblem(t, r)
	}
}

func TestDecodeJSON(t *testing.T) {
	var v struct{ Email string }
	if err := DecodeJSON(&Request{Body: `{"email":"a@b","extra":1}`}, &v); err != nil || v.Email != "a@b" {
		t.Fatalf("v=%+v err=%v", v, err)
	}
	for _, body := range []string{`{"email":1}`, `{} {}`, `[`, `"x"`} {
		if err := DecodeJSON(&Request{Body: body}, &v); core.KindOf(err) != core.KindInvalid {
			t.Errorf("%q: err %v, want invalid", body, err)
		}
	}
	if err := DecodeJSON(&Request{Body: `{}`, Headers: map[string]string{"content-type": "text/plain"}}, &v); core.KindOf(err) != core.KindInvalid {
		t.Errorf("text/plain accepted: %v", err)
	}
}

func TestCommonHeaders(t *testing.T) {
	h := Serve(logger(&bytes.Buffer{}), unbounded, func(context.Context, *Request) (Response, error) { return JSON(200, map[string]string{}), nil })
	req := Request{}
	req.RequestContext.RequestID = "req-1"
	resp, _ := h(context.Background(), req)
	if resp.Headers["X-Request-Id"] != "req-1" || resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("headers %v", resp.Headers)
	}
}

// TestOAuthErrorsComeFromTheSameMap: an error marked with OAuth is answered as an RFC 6749
// §5.2 object whose code and status come from the one kind map; internal and unavailable
// causes say nothing of themselves.
func TestOAuthErrorsComeFromTheSameMap(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
		retry  string
	}{
		{core.E("op", core.KindInvalid, "refresh_token appears more than once", nil), 400, "invalid_request", ""},
		{core.E("op", core.KindUnauthenticated, "the refresh token is invalid", nil), 400, "invalid_grant", ""},
		{core.E("op", core.KindTooLarge, "too big", nil), 413, "invalid_request", ""},
		{&core.Error{Op: "op", Kind: core.KindRateLimited, RetryAfter: 300 * time.Millisecond}, 429, "slow_down", "1"},
		{core.Wrap("op", core.E("store", core.KindUnavailable, "storage unavailable", errors.New("dial tcp"))), 503, "temporarily_unavailable", ""},
		{core.Wrap("op", errors.New("arn:aws:kms:secret")), 500, "server_error", ""},
	}
	for _, c := range cases {
		h := Serve(logger(&bytes.Buffer{}), unbounded, func(context.Context, *Request) (Response, error) { return Response{}, OAuth(c.err) })
		r, _ := h(context.Background(), Request{})
		var body map[string]string
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("%v: body %q", c.err, r.Body)
		}
		if r.StatusCode != c.status || body["error"] != c.code || r.Headers["Pragma"] != "no-cache" || r.Headers["Retry-After"] != c.retry {
			t.Errorf("%v: %d %v %v, want %d %s", c.err, r.StatusCode, body, r.Headers, c.status, c.code)
		}
		if strings.Contains(r.Body, "dial") || strings.Contains(r.Body, "arn:") {
			t.Errorf("%v: the cause leaked: %s", c.err, r.Body)
		}
		// Unmarked, the same error is a problem with the same map's status for its kind.
		if p := Error(context.Background(), logger(&bytes.Buffer{}), c.err); p.StatusCode != Status(core.KindOf(c.err)) {
			t.Errorf("%v: problem status %d", c.err, p.StatusCode)
		}
	}
	if OAuth(nil) != nil {
		t.Error("OAuth(nil) is not nil")
	}
}

func TestTokensAreNeverCached(t *testing.T) {
	r := Tokens(200, NewTokenBody(core.TokenResponse{AccessToken: "a", RefreshToken: "r", SessionID: "s", ExpiresIn: 10 * time.Minute}))
	var body TokenBody
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body != (TokenBody{AccessToken: "a", TokenType: "Bearer", ExpiresIn: 600, RefreshToken: "r", SessionID: "s"}) ||
		r.Headers["Cache-Control"] != "no-store" || r.Headers["Pragma"] != "no-cache" {
		t.Fatalf("%d %v %s", r.StatusCode, r.Headers, r.Body)
	}
}

// TestEveryKindHasAnAnswer: a kind added to core without an entry in the map would silently
// answer 500.
func TestEveryKindHasAnAnswer(t *testing.T) {
	for k := core.Kind(0); !strings.HasPrefix(k.String(), "kind("); k++ {
		if _, ok := answers[k]; !ok {
			t.Errorf("kind %s has no answer", k)
		}
	}
}

// TestStepUpAndCodes: a re-authentication error is the RFC 9470 challenge with max_age and the
// problem code reauthentication_required; a Code refines the problem's code and carries its
// members, which cannot overwrite the standard ones.
func TestStepUpAndCodes(t *testing.T) {
	r := Error(context.Background(), logger(&bytes.Buffer{}), &core.Error{Op: "op", Kind: core.KindReauthenticate, Detail: "sign in again", MaxAge: 5 * time.Minute})
	want := `Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age=300`
	if r.StatusCode != 401 || r.Headers["WWW-Authenticate"] != want || decodeProblem(t, r).Code != "reauthentication_required" {
		t.Fatalf("%d %v %s", r.StatusCode, r.Headers, r.Body)
	}
	err := core.Wrap("outer", &core.Error{Op: "op", Kind: core.KindConflict, Detail: "not saved", Code: "credential_not_saved",
		Members: map[string]string{"credentialId": "abc", "status": "999", "code": "x"}})
	r = Error(context.Background(), logger(&bytes.Buffer{}), err)
	var body map[string]any
	if e := json.Unmarshal([]byte(r.Body), &body); e != nil {
		t.Fatal(e)
	}
	if r.StatusCode != 409 || body["code"] != "credential_not_saved" || body["credentialId"] != "abc" || body["status"] != float64(409) {
		t.Fatalf("%d %s", r.StatusCode, r.Body)
	}
}

// A request without Bearer credentials gets the bare challenge (RFC 6750 §3.1: no error code),
// whatever else its Authorization header holds; a refused token gets invalid_token.
func TestNoCredentialsGetTheBareChallenge(t *testing.T) {
	for _, h := range []string{"", "Basic dTpw", "Bearer ", "Bearer"} {
		req := &Request{Headers: map[string]string{}}
		if h != "" {
			req.Headers["authorization"] = h
		}
		_, err := BearerToken(req)
		r := Error(context.Background(), logger(&bytes.Buffer{}), err)
		if r.StatusCode != 401 || r.Headers["WWW-Authenticate"] != "Bearer" {
			t.Errorf("Authorization %q: %d, WWW-Authenticate %q; want 401 and a bare Bearer challenge", h, r.StatusCode, r.Headers["WWW-Authenticate"])
		}
	}
}

// unbounded is a Bound that leaves the invocation's context as it is.
func unbounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// TestServeRunsTheHandlerUnderItsBound: the handler sees the deadline the Bound sets, and an
// error it returns once that deadline has passed answers 503 (temporarily_unavailable on the
// OAuth endpoints) even when the layer that saw it called it a bug, or returned the bare
// context error.
func TestServeRunsTheHandlerUnderItsBound(t *testing.T) {
	bound := func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 20*time.Millisecond)
	}
	for name, c := range map[string]struct {
		wrap   func(error) error
		status int
		want   string
	}{
		"internal wrap of a library error": {func(error) error { return core.Wrap("x.Y", errors.New("gave up")) }, 503, `"code":"unavailable"`},
		"bare deadline":                    {func(err error) error { return err }, 503, `"code":"unavailable"`},
		"oauth internal wrap":              {func(error) error { return OAuth(core.Wrap("x.Y", errors.New("gave up"))) }, 503, `"error":"temporarily_unavailable"`},
		"oauth":                            {func(err error) error { return OAuth(core.Wrap("x.Y", err)) }, 503, `"error":"temporarily_unavailable"`},
	} {
		var sawDeadline bool
		h := Serve(logger(&bytes.Buffer{}), bound, func(ctx context.Context, _ *Request) (Response, error) {
			_, sawDeadline = ctx.Deadline()
			<-ctx.Done()
			return Response{}, c.wrap(ctx.Err())
		})
		start := time.Now()
		resp, err := h(context.Background(), Request{})
		if err != nil || resp.StatusCode != c.status || !strings.Contains(resp.Body, c.want) {
			t.Errorf("%s: %d %s %v, want %d %s", name, resp.StatusCode, resp.Body, err, c.status, c.want)
		}
		if !sawDeadline || time.Since(start) > time.Second {
			t.Errorf("%s: the handler ran without the bound's deadline (saw %v, took %s)", name, sawDeadline, time.Since(start))
		}
	}
	// Before the deadline an internal error stays a 500.
	h := Serve(logger(&bytes.Buffer{}), bound, func(context.Context, *Request) (Response, error) {
		return Response{}, core.Wrap("x.Y", errors.New("a bug"))
	})
	if resp, _ := h(context.Background(), Request{}); resp.StatusCode != 500 {
		t.Fatalf("an internal error before the deadline answered %d", resp.StatusCode)
	}
}
