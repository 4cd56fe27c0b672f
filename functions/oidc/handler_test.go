package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

const (
	testClients = `[{"id":"shop","name":"Shop <&> Co","redirectUris":["http://localhost:5173/callback"],
		"postLogoutRedirectUris":["http://localhost:5173/"],"scopes":["openid","email","offline_access"]}]`
	callbackURI = "http://localhost:5173/callback"
)

// stack is the oidc function built as main builds it, over a fresh deployment in the
// emulators, with what the other functions would do around it: the passkeys function's
// sign-in (a first-party session) and the sessions function's code exchange.
type stack struct {
	h         *handler
	calls     *testenv.Calls
	store     *dynamo.Store
	sessions  *core.Sessions
	exchanger *oidc.Exchanger
	user      core.User
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	cfg := d.Config(t, map[string]string{"LATCHKEY_OIDC_CLIENTS": testClients})
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h := newHandler(ctx, cfg, awsCfg, log)
	store := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table)
	kmsAPI := kms.NewFromConfig(d.AWS)
	codec, err := core.NewRefreshCodec(d.Secret)
	if err != nil {
		t.Fatal(err)
	}
	sessions := &core.Sessions{
		Store: store, Denylist: store, Verifier: h.provider.Verifier, Codec: codec,
		Minter:  &core.Minter{Signer: kmssign.New(kmsAPI, cfg.SigningKeys), Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, TTL: cfg.AccessTTL},
		Limiter: &core.RateLimiter{Counters: store}, Audit: log, Now: time.Now,
		AbsoluteTTL: cfg.SessionTTL, IdleTTL: cfg.SessionIdle, Grace: cfg.Grace,
		TokenByIP: core.Rule(cfg.Limits.TokenByIP), TokenBySession: core.Rule(cfg.Limits.TokenBySession),
	}
	s := &stack{
		h: h, calls: calls, store: store, sessions: sessions,
		exchanger: &oidc.Exchanger{
			Store: store, Sessions: sessions, Limiter: sessions.Limiter, Audit: log, Now: time.Now,
			IDTokens:  &oidc.IDMinter{Signer: kmssign.NewIDSigner(kmsAPI, cfg.IDTokenKeys), Issuer: cfg.Issuer, TTL: cfg.AccessTTL},
			TokenByIP: core.Rule(cfg.Limits.TokenByIP),
		},
		user: core.User{ID: core.NewID(), Email: "ada@example.com", EmailVerified: true, CreatedAt: time.Now()},
	}
	if err := store.CreateUser(ctx, s.user); err != nil {
		t.Fatal(err)
	}
	return s
}

// call sends one request through apigw.Serve, as the Lambda runtime would, from browser with
// the cookies it holds, and keeps the cookies the answer sets.
func (s *stack) call(t *testing.T, jar map[string]string, method, path string, body string, headers map[string]string) apigw.Response {
	t.Helper()
	route, rawQuery, _ := strings.Cut(path, "?")
	req := events.APIGatewayV2HTTPRequest{
		RouteKey: method + " " + route, RawPath: route, RawQueryString: rawQuery, Body: body,
		Headers: map[string]string{}, PathParameters: map[string]string{},
	}
	if q, err := url.ParseQuery(rawQuery); err == nil {
		req.QueryStringParameters = map[string]string{}
		for k := range q {
			req.QueryStringParameters[k] = q.Get(k)
		}
	}
	if strings.HasPrefix(route, "/oauth2/assets/") {
		req.RouteKey, req.PathParameters["file"] = method+" /oauth2/assets/{file}", strings.TrimPrefix(route, "/oauth2/assets/")
	}
	for k, v := range headers {
		req.Headers[strings.ToLower(k)] = v
	}
	for k, v := range jar {
		req.Cookies = append(req.Cookies, k+"="+v)
	}
	req.RequestContext.HTTP.Method, req.RequestContext.HTTP.SourceIP = method, "127.0.0.1"
	resp, err := apigw.Serve(slog.New(slog.NewJSONHandler(io.Discard, nil)), func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, 10*time.Second)
	}, s.h.Handle)(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies {
		nv, attrs, _ := strings.Cut(c, ";")
		name, value, _ := strings.Cut(nv, "=")
		if !strings.Contains(attrs, "HttpOnly") || !strings.Contains(attrs, "SameSite=Lax") || !strings.Contains(attrs, "Path=/") {
			t.Errorf("cookie %q is not HttpOnly, SameSite=Lax, Path=/", c)
		}
		if value == "" {
			delete(jar, name)
		} else {
			jar[name] = value
		}
	}
	return resp
}

func pkcePair() (string, string) {
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return v, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeURL(challenge string, extra ...string) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {"shop"}, "redirect_uri": {callbackURI}, "scope": {"openid email offline_access"},
		"state": {"s1"}, "nonce": {"n1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/oauth2/authorize?" + q.Encode()
}

func wantPage(t *testing.T, what string, resp apigw.Response, status int) {
	t.Helper()
	if resp.StatusCode != status || !strings.HasPrefix(resp.Headers["Content-Type"], "text/html") || resp.Headers["Location"] != "" {
		t.Fatalf("%s: %d %v, want a %d page and no redirect", what, resp.StatusCode, resp.Headers, status)
	}
	if csp := resp.Headers["Content-Security-Policy"]; !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("%s: CSP %q", what, csp)
	}
	if resp.Headers["X-Frame-Options"] != "DENY" {
		t.Errorf("%s: framing not refused", what)
	}
}

// TestProviderRoutes drives the function's routes as a browser and the hosted page would,
// against DynamoDB Local and the moto KMS, and pins the AWS calls of each.
func TestProviderRoutes(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	jar := map[string]string{}
	verifier, challenge := pkcePair()

	// No redirect for a redirect URI the client did not register: a page.
	wantPage(t, "unregistered redirect", s.call(t, jar, "GET", strings.Replace(authorizeURL(challenge), "5173%2Fcallback", "5173%2Fother", 1), "", nil), http.StatusBadRequest)
	wantPage(t, "unknown client", s.call(t, jar, "GET", strings.Replace(authorizeURL(challenge), "client_id=shop", "client_id=nobody", 1), "", nil), http.StatusBadRequest)

	// prompt=none without a provider session: back to the client with login_required.
	resp := s.call(t, jar, "GET", authorizeURL(challenge, "prompt", "none"), "", nil)
	if u, _ := url.Parse(resp.Headers["Location"]); resp.StatusCode != http.StatusFound || u.Query().Get("error") != "login_required" || u.Query().Get("iss") != "http://127.0.0.1" || u.Query().Get("state") != "s1" {
		t.Fatalf("prompt=none: %d %v", resp.StatusCode, resp.Headers)
	}

	// The request goes to the hosted page, bound to this browser by a cookie.
	s.calls.Reset()
	resp = s.call(t, jar, "GET", authorizeURL(challenge), "", nil)
	loc := resp.Headers["Location"]
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "http://127.0.0.1/oauth2/signin?request=") || jar["latchkey-request"] == "" {
		t.Fatalf("authorize: %d %v %v", resp.StatusCode, resp.Headers, jar)
	}
	if got, want := s.calls.String(), "DynamoDB.PutItem=1 DynamoDB.UpdateItem=1"; got != want {
		t.Errorf("authorize calls: %s, want %s", got, want)
	}
	page := s.call(t, jar, "GET", strings.TrimPrefix(loc, "http://127.0.0.1"), "", nil)
	wantPage(t, "sign-in page", page, http.StatusOK)
	if !strings.Contains(page.Body, "Shop &lt;&amp;&gt; Co") {
		t.Errorf("the page does not name the client, escaped")
	}
	if js := s.call(t, jar, "GET", "/oauth2/assets/signin.js", "", nil); js.StatusCode != http.StatusOK || !strings.Contains(js.Headers["Content-Type"], "javascript") {
		t.Errorf("signin.js: %d %v", js.StatusCode, js.Headers)
	}
	request := strings.TrimPrefix(loc, "http://127.0.0.1/oauth2/signin?request=")

	// The passkey sign-in on the page (here: a first-party session opened directly).
	time.Sleep(1100 * time.Millisecond) // auth_time, kept to the second, must follow the request
	signedIn, err := s.sessions.Start(ctx, core.StartRequest{UserID: s.user.ID, AMR: []string{"hwk", "user"}, Client: core.Client{IP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"request":"` + request + `"}`
	bearer := map[string]string{"Authorization": "Bearer " + signedIn.AccessToken, "Content-Type": "application/json"}
	// From a browser without the binding cookie: refused, and the request survives.
	if resp := s.call(t, map[string]string{}, "POST", "/oauth2/authorize/complete", body, bearer); resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Body, "request_expired") {
		t.Fatalf("complete without the binding cookie: %d %s", resp.StatusCode, resp.Body)
	}
	s.calls.Reset()
	resp = s.call(t, jar, "POST", "/oauth2/authorize/complete", body, bearer)
	var done struct{ Redirect string }
	if err := json.Unmarshal([]byte(resp.Body), &done); err != nil || resp.StatusCode != http.StatusOK || jar["latchkey-session"] == "" {
		t.Fatalf("complete: %d %s %v", resp.StatusCode, resp.Body, jar)
	}
	if got, want := s.calls.String(), "DynamoDB.BatchGetItem=1 DynamoDB.DeleteItem=1 DynamoDB.PutItem=2 DynamoDB.UpdateItem=1"; got != want {
		t.Errorf("complete calls: %s, want %s", got, want)
	}
	back, _ := url.Parse(done.Redirect)
	if back.Query().Get("state") != "s1" || back.Query().Get("iss") != "http://127.0.0.1" {
		t.Fatalf("completion redirect %q", done.Redirect)
	}
	x, err := s.exchanger.Exchange(ctx, oidc.ExchangeInput{ClientID: "shop", Code: back.Query().Get("code"), CodeVerifier: verifier, RedirectURI: callbackURI, Client: core.Client{IP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}

	// userinfo: one read, the claims of the token's scopes.
	s.calls.Reset()
	resp = s.call(t, jar, "GET", "/oauth2/userinfo", "", map[string]string{"Authorization": "Bearer " + x.Tokens.AccessToken})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"email":"ada@example.com"`) || !strings.Contains(resp.Body, `"sub":"`+s.user.ID+`"`) {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, resp.Body)
	}
	if got, want := s.calls.String(), "DynamoDB.BatchGetItem=1"; got != want {
		t.Errorf("userinfo calls: %s, want %s", got, want)
	}
	if resp := s.call(t, jar, "GET", "/oauth2/userinfo", "", nil); resp.StatusCode != http.StatusUnauthorized || resp.Headers["WWW-Authenticate"] == "" {
		t.Errorf("userinfo without a token: %d %v", resp.StatusCode, resp.Headers)
	}

	// Single sign-on: the next request is answered with a code at once.
	_, challenge2 := pkcePair()
	resp = s.call(t, jar, "GET", authorizeURL(challenge2, "prompt", "none"), "", nil)
	if u, _ := url.Parse(resp.Headers["Location"]); u.Query().Get("code") == "" {
		t.Fatalf("SSO: %v", resp.Headers)
	}

	// RP-initiated logout to the registered URI ends the provider session.
	resp = s.call(t, jar, "GET", "/oauth2/logout?"+url.Values{"id_token_hint": {x.IDToken}, "post_logout_redirect_uri": {"http://localhost:5173/"}, "state": {"bye"}}.Encode(), "", nil)
	if resp.StatusCode != http.StatusFound || resp.Headers["Location"] != "http://localhost:5173/?state=bye" || jar["latchkey-session"] != "" {
		t.Fatalf("logout: %d %v %v", resp.StatusCode, resp.Headers, jar)
	}
	wantPage(t, "unregistered post-logout URI", s.call(t, jar, "GET", "/oauth2/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F&client_id=shop", "", nil), http.StatusBadRequest)
	resp = s.call(t, jar, "GET", authorizeURL(challenge2, "prompt", "none"), "", nil)
	if u, _ := url.Parse(resp.Headers["Location"]); u.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout: %v", resp.Headers)
	}
}
