package core_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func minter(s core.Signer) *core.Minter {
	return &core.Minter{Signer: s, Issuer: "https://auth.example.com", Audience: "api", ClientID: coretest.ClientID, TTL: 10 * time.Minute}
}

// verifier checks signatures and claims only: these tests never reach its AccessStates.
func verifier(k core.KeySource) *core.Verifier {
	return &core.Verifier{Keys: k, Issuer: "https://auth.example.com", Audience: "api", Leeway: 30 * time.Second}
}

func session() core.Session {
	return core.Session{ID: "sid-1", UserID: "user-1", AuthTime: t0.Add(-time.Hour), AMR: []string{"hwk", "user"}, Scope: "openid profile"}
}

// TestIssuedTokensVerifyWithGoJose checks an issued token with an independent JOSE library
// against the published JWKS: header, claims and signature.
func TestIssuedTokensVerifyWithGoJose(t *testing.T) {
	s := coretest.NewSigner(1)
	raw, claims, err := minter(s).Issue(context.Background(), session(), t0)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := s.PublicKeys(context.Background())
	set, _ := json.Marshal(map[string]any{"keys": []core.JWK{core.JWKOf(keys[0])}})
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(set, &jwks); err != nil {
		t.Fatal(err)
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Headers[0]
	if h.Algorithm != "ES256" || h.KeyID != keys[0].ID || h.ExtraHeaders["typ"] != "at+jwt" {
		t.Fatalf("header %+v", h)
	}
	var std josejwt.Claims
	var extra struct {
		SID      string   `json:"sid"`
		AuthTime int64    `json:"auth_time"`
		AMR      []string `json:"amr"`
		Scope    string   `json:"scope"`
	}
	if err := tok.Claims(jwks.Key(h.KeyID)[0].Key, &std, &extra); err != nil {
		t.Fatalf("go-jose rejects the signature: %v", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: "https://auth.example.com", AnyAudience: []string{"api"}, Time: t0.Add(time.Minute)}, 0); err != nil {
		t.Fatal(err)
	}
	if std.Subject != "user-1" || std.ID != claims.ID || std.ID == "" || extra.SID != "sid-1" || extra.Scope != "openid profile" ||
		extra.AuthTime != t0.Add(-time.Hour).Unix() || len(extra.AMR) != 2 || std.Expiry.Time().Sub(std.IssuedAt.Time()) != 10*time.Minute {
		t.Fatalf("claims %+v %+v", std, extra)
	}
}

func TestVerifyAcceptsGoodTokens(t *testing.T) {
	s := coretest.NewSigner(1)
	tk := verifier(s)
	raw, issued, err := minter(s).Issue(context.Background(), session(), t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(context.Background(), raw, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != issued.Subject || got.ID != issued.ID || got.SessionID != "sid-1" || !got.AuthTime.Equal(issued.AuthTime) || got.Scope != issued.Scope {
		t.Fatalf("got %+v want %+v", got, issued)
	}
	if _, err := tk.Verify(context.Background(), raw, t0.Add(11*time.Minute)); core.KindOf(err) != core.KindUnauthenticated {
		t.Fatalf("an expired token: %v", err)
	}
}

// TestVerifyRefusesForgeries runs the forgery table of docs/security.md (tokens): every entry fails
// as unauthenticated, quickly.
func TestVerifyRefusesForgeries(t *testing.T) {
	s := coretest.NewSigner(1)
	tk := verifier(s)
	c := coretest.Claims{Issuer: tk.Issuer, Audience: tk.Audience, Subject: "user-1", SessionID: "sid-1", ID: "jti-1", Now: t0}
	for _, f := range coretest.Forgeries(t, s, c) {
		_, err := tk.Verify(context.Background(), f.Token, t0)
		if core.KindOf(err) != core.KindUnauthenticated {
			t.Errorf("%s: err %v (kind %s), want unauthenticated", f.Name, err, core.KindOf(err))
		}
	}
}

// noKeys is a key source that fails the test if anything asks it for keys.
type noKeys struct {
	t *testing.T
}

func (n noKeys) PublicKeys(context.Context) ([]core.PublicKey, error) {
	n.t.Error("a token over the size cap reached key lookup")
	return nil, nil
}

// TestHugeTokensFailBeforeAnyWork: a token over MaxTokenLength is refused before decoding or
// key lookup, so its size costs nothing (docs/security.md, tokens: no unbounded work).
func TestHugeTokensFailBeforeAnyWork(t *testing.T) {
	tk := verifier(noKeys{t: t})
	huge := strings.Repeat("a", core.MaxTokenLength) + ".b.c"
	if _, err := tk.Verify(context.Background(), huge, t0); core.KindOf(err) != core.KindUnauthenticated {
		t.Fatalf("err %v", err)
	}
}

// TestKeyRotation: a new key signs, the old one still verifies its tokens until it is
// removed from the configuration.
func TestKeyRotation(t *testing.T) {
	old := coretest.NewSigner(1)
	before, _, err := minter(old).Issue(context.Background(), session(), t0)
	if err != nil {
		t.Fatal(err)
	}
	rotated := old.Rotated()
	after, _, err := minter(rotated).Issue(context.Background(), session(), t0)
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string]string{"old token": before, "new token": after} {
		if _, err := verifier(rotated).Verify(context.Background(), raw, t0.Add(time.Minute)); err != nil {
			t.Errorf("%s during overlap: %v", name, err)
		}
	}
	if _, err := verifier(rotated.Without()).Verify(context.Background(), before, t0.Add(time.Minute)); err == nil {
		t.Error("a token of a retired key still verifies")
	}
	if _, err := verifier(old).Verify(context.Background(), after, t0.Add(time.Minute)); err == nil {
		t.Error("a node that does not know the new key accepted its token")
	}
}

func TestRequireRecent(t *testing.T) {
	c := core.AccessClaims{AuthTime: t0}
	if err := core.RequireRecent(c, t0.Add(5*time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("5 minutes after the ceremony: %v", err)
	}
	err := core.RequireRecent(c, t0.Add(5*time.Minute+time.Second), 5*time.Minute)
	if !core.Is(err, core.KindReauthenticate) || core.MaxAgeOf(err) != 5*time.Minute {
		t.Fatalf("just past: %v (max age %v)", err, core.MaxAgeOf(err))
	}
	if !core.Is(core.RequireRecent(core.AccessClaims{}, t0, time.Hour), core.KindReauthenticate) {
		t.Fatal("a token without auth_time passed")
	}
}

// TestIsID: exactly the shape NewID hands out passes; anything a store would choke on fails.
func TestIsID(t *testing.T) {
	for range 100 {
		if id := core.NewID(); !core.IsID(id) {
			t.Fatalf("IsID(%q) = false for a NewID", id)
		}
	}
	for _, id := range []string{"", core.NewID()[:21], core.NewID() + "A", strings.Repeat("A", 2048), strings.Repeat("+", 22), strings.Repeat("=", 22), "AAAAAAAAAAAAAAAAAAAA\n"} {
		if core.IsID(id) {
			t.Errorf("IsID(%.30q) = true", id)
		}
	}
}
