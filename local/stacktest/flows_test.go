package stacktest

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/local/testenv"
)

func (s *stack) getenv(name string) string {
	for _, kv := range s.env {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// TestWellknownThroughTheGateway: readiness, and an issued token verified by go-jose against
// the JWKS the real wellknown binary serves.
func TestWellknownThroughTheGateway(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	status, _, body := call(t, "GET", g.url+"/health/ready", "", "")
	if status != 200 || !strings.Contains(string(body), `"checks":{"dynamodb":"ok","kms":"ok"}`) {
		t.Fatalf("ready: %d %s", status, body)
	}
	status, hdr, body := call(t, "GET", g.url+"/.well-known/jwks.json", "", "")
	if status != 200 || hdr.Get("Cache-Control") == "no-store" {
		t.Fatalf("jwks: %d %v %s", status, hdr, body)
	}
	var set jose.JSONWebKeySet
	// The access-token key, then the ID-token key.
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 || set.Keys[0].Algorithm != "ES256" || set.Keys[1].Algorithm != "RS256" {
		t.Fatalf("jwks %s: %v", body, err)
	}
	tk := s.devToken(t)
	tok, err := josejwt.ParseSigned(tk.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 || tok.Headers[0].ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("kid %q not in the served JWKS, or typ %v", tok.Headers[0].KeyID, tok.Headers[0].ExtraHeaders)
	}
	var claims josejwt.Claims
	if err := tok.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("go-jose rejects a token the stack issued: %v", err)
	}
	if err := claims.Validate(josejwt.Expected{Issuer: s.getenv("LATCHKEY_ISSUER"), AnyAudience: []string{s.getenv("LATCHKEY_AUDIENCE")}, Subject: tk.UserID}); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := call(t, "GET", g.url+"/nope", "", ""); status != 404 {
		t.Fatalf("unknown route: %d", status)
	}
}

// TestRefreshOverHTTP: 20 parallel refreshes with one token give one successor; a replay of an
// older generation kills the family on every node.
func TestRefreshOverHTTP(t *testing.T) {
	s := newStack(t)
	a, b := s.startGateway(t), s.startGateway(t)
	tk := s.devToken(t)

	var mu sync.Mutex
	successors := map[string]int{}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, body := call(t, "POST", a.url+"/v1/token", "", refreshForm(tk.RefreshToken))
			var r struct {
				RefreshToken string `json:"refresh_token"`
			}
			if status != 200 || json.Unmarshal(body, &r) != nil {
				t.Errorf("parallel refresh: %d %s", status, body)
				return
			}
			mu.Lock()
			successors[r.RefreshToken]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(successors) != 1 {
		t.Fatalf("20 parallel refreshes gave %d distinct successors", len(successors))
	}
	var second string
	for rt := range successors {
		second = rt
	}
	status, _, body := call(t, "POST", b.url+"/v1/token", "", refreshForm(second))
	var third struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if status != 200 || json.Unmarshal(body, &third) != nil {
		t.Fatalf("refresh on the other node: %d %s", status, body)
	}
	// The first token is now two generations old: a replay, whatever the grace window.
	status, _, body = call(t, "POST", a.url+"/v1/token", "", refreshForm(tk.RefreshToken))
	if status != 400 || !strings.Contains(string(body), `"invalid_grant"`) {
		t.Fatalf("replay: %d %s", status, body)
	}
	if status, _, _ := call(t, "POST", b.url+"/v1/token", "", refreshForm(third.RefreshToken)); status != 400 {
		t.Fatalf("the live successor survived a replay: %d", status)
	}
	if status, _, _ := call(t, "GET", b.url+"/v1/me/sessions", third.AccessToken, ""); status != 401 {
		t.Fatalf("an access token of the revoked family works on the other node: %d", status)
	}
}

// TestLogoutSeenByTheOtherNode: a logout on one gateway is refused at once on the other, by the
// Bearer routes and by the authorizer in front of /local/echo.
func TestLogoutSeenByTheOtherNode(t *testing.T) {
	s := newStack(t)
	a, b := s.startGateway(t), s.startGateway(t)
	tk := s.devToken(t)

	status, _, body := call(t, "GET", b.url+"/local/echo", tk.AccessToken, "")
	var echo struct {
		Authorizer struct {
			Lambda map[string]string `json:"lambda"`
		} `json:"authorizer"`
	}
	if status != 200 || json.Unmarshal(body, &echo) != nil || echo.Authorizer.Lambda["sub"] != tk.UserID || echo.Authorizer.Lambda["sid"] != tk.SessionID || echo.Authorizer.Lambda["jti"] == "" {
		t.Fatalf("echo with a live token: %d %s", status, body)
	}
	if status, _, _ := call(t, "GET", b.url+"/v1/me/sessions", tk.AccessToken, ""); status != 200 {
		t.Fatalf("sessions before logout: %d", status)
	}
	if status, _, body := call(t, "POST", a.url+"/v1/logout", tk.AccessToken, ""); status != 204 {
		t.Fatalf("logout: %d %s", status, body)
	}
	status, hdr, _ := call(t, "GET", b.url+"/v1/me/sessions", tk.AccessToken, "")
	if status != 401 || hdr.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("the other node after logout: %d %v", status, hdr)
	}
	if status, _, _ := call(t, "GET", b.url+"/local/echo", tk.AccessToken, ""); status != 403 {
		t.Fatalf("the authorizer after logout: %d", status)
	}
	if status, _, _ := call(t, "GET", b.url+"/local/echo", "", ""); status != 401 {
		t.Fatalf("echo without a token: %d", status)
	}
}

// TestForgeriesThroughTheStack: the forgery table, signed where it needs a signature by the
// stack's own KMS key, against the real authorizer and a Bearer route: 401/403, never 5xx.
func TestForgeriesThroughTheStack(t *testing.T) {
	s := newStack(t)
	g := s.startGateway(t)
	tk := s.devToken(t)
	signer := kmssign.New(kms.NewFromConfig(testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS")), []string{s.getenv("LATCHKEY_SIGNING_KEYS")})
	claims := coretest.Claims{
		Issuer: s.getenv("LATCHKEY_ISSUER"), Audience: s.getenv("LATCHKEY_AUDIENCE"),
		Subject: tk.UserID, SessionID: tk.SessionID, ID: core.NewID(), Now: time.Now(),
	}
	for _, f := range coretest.Forgeries(t, signer, claims) {
		if strings.ContainsAny(f.Token, " \t\r\n") || len(f.Token) > 16<<10 {
			continue // not sendable as one header line; covered by the handler tests
		}
		if status, _, body := call(t, "GET", g.url+"/local/echo", f.Token, ""); status != 403 && status != 401 {
			t.Errorf("%s via the authorizer: %d %s", f.Name, status, body)
		}
		if status, _, body := call(t, "GET", g.url+"/v1/me/sessions", f.Token, ""); status != 401 {
			t.Errorf("%s via a Bearer route: %d %s", f.Name, status, body)
		}
	}
	big := strings.Repeat("a", 64<<10+1)
	if status, _, _ := call(t, "POST", g.url+"/v1/token", "", big); status != 413 {
		t.Fatalf("a 64 KB+1 body: %d", status)
	}
}

// TestReadyWithAHungKMS points a gateway's functions at a KMS that accepts connections and
// never answers: /health/ready answers 503 naming kms within 10 s, /health stays 200.
func TestReadyWithAHungKMS(t *testing.T) {
	s := newStack(t)
	hung := testenv.HungEndpoint(t)
	g := s.startGateway(t, "AWS_ENDPOINT_URL_KMS="+hung)
	start := time.Now()
	status, _, body := call(t, "GET", g.url+"/health/ready", "", "")
	took := time.Since(start)
	if status != 503 || !strings.Contains(string(body), `"kms"`) || !strings.Contains(string(body), "not ready: kms") {
		t.Fatalf("ready with a hung KMS: %d %s", status, body)
	}
	if took > 10*time.Second {
		t.Fatalf("ready took %s", took)
	}
	if status, _, _ := call(t, "GET", g.url+"/health", "", ""); status != 200 {
		t.Fatalf("/health with a hung KMS: %d", status)
	}
	t.Logf("/health/ready answered 503 in %s with a hung KMS", took.Round(time.Millisecond))
}
