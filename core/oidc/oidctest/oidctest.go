// Package oidctest holds the contract suite of oidc.Store, the OpenID provider's storage of
// authorization requests, authorization codes and provider sessions. It runs against
// coretest.Memory here and against DynamoDB Local in package dynamo, so the fake cannot drift
// from the real store.
package oidctest

import (
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/oidc"
)

// Hash returns a fresh random Hash, as the provider would store for a secret it handed out.
func Hash(t *testing.T) oidc.Hash {
	t.Helper()
	var h oidc.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// NewRequest returns an authorization request with a fresh id and binding and every field set,
// created at created (with a fraction of a second, which the stores drop) and open for
// oidc.RequestTTL. Its max_age is 300 seconds.
func NewRequest(t *testing.T, created time.Time) oidc.Request {
	t.Helper()
	created = created.Add(300 * time.Millisecond)
	return oidc.Request{
		ID: coretest.RandomID(t), ClientID: "shop", RedirectURI: "https://shop.example/callback",
		Scope: "openid email profile offline_access", State: "st-" + coretest.RandomID(t), Nonce: "n-" + coretest.RandomID(t),
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Prompt: "login",
		MaxAge: 300 * time.Second, HasMaxAge: true, LoginHint: "ada@example.com", Binding: Hash(t),
		CreatedAt: created, ExpiresAt: created.Add(oidc.RequestTTL),
	}
}

// NewCode returns an authorization code of user uid with a fresh hash and session id and every
// field set, made at made (with a fraction of a second) and live for oidc.CodeTTL.
func NewCode(t *testing.T, uid string, made time.Time) oidc.Code {
	t.Helper()
	made = made.Add(400 * time.Millisecond)
	return oidc.Code{
		Hash: Hash(t), ClientID: "shop", RedirectURI: "https://shop.example/callback", Scope: "openid email",
		Nonce: "n-" + coretest.RandomID(t), CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		UserID: uid, AuthTime: made.Add(-90*time.Second - 200*time.Millisecond), AMR: []string{"hwk", "user"},
		SessionID: coretest.RandomID(t), Email: "ada@example.com", EmailVerified: true, Name: "Ada Lovelace",
		ExpiresAt: made.Add(oidc.CodeTTL),
	}
}

// NewProviderSession returns a provider session of user uid with a fresh hash, opened at
// opened (with a fraction of a second) for a day.
func NewProviderSession(t *testing.T, uid string, opened time.Time) oidc.ProviderSession {
	t.Helper()
	opened = opened.Add(600 * time.Millisecond)
	return oidc.ProviderSession{
		Hash: Hash(t), UserID: uid, AuthTime: opened.Add(-100 * time.Millisecond), AMR: []string{"hwk", "user"},
		CreatedAt: opened, ExpiresAt: opened.Add(24 * time.Hour),
	}
}

// StoredRequest is r as the stores keep it: times to the second, MaxAge in whole seconds and
// only with HasMaxAge.
func StoredRequest(r oidc.Request) oidc.Request {
	r.CreatedAt, r.ExpiresAt = coretest.Second(r.CreatedAt), coretest.Second(r.ExpiresAt)
	r.MaxAge = r.MaxAge.Truncate(time.Second)
	if !r.HasMaxAge {
		r.MaxAge = 0
	}
	return r
}

// StoredCode is c as the stores keep it: times to the second.
func StoredCode(c oidc.Code) oidc.Code {
	c.AuthTime, c.ExpiresAt = coretest.Second(c.AuthTime), coretest.Second(c.ExpiresAt)
	if !c.UsedAt.IsZero() {
		c.UsedAt = coretest.Second(c.UsedAt)
	}
	return c
}

// StoredProviderSession is s as the stores keep it: times to the second.
func StoredProviderSession(s oidc.ProviderSession) oidc.ProviderSession {
	s.AuthTime, s.CreatedAt, s.ExpiresAt = coretest.Second(s.AuthTime), coretest.Second(s.CreatedAt), coretest.Second(s.ExpiresAt)
	return s
}

// SameRequest fails the test unless got and want agree on every field.
func SameRequest(t *testing.T, got, want oidc.Request) {
	t.Helper()
	if got.ID != want.ID || got.ClientID != want.ClientID || got.RedirectURI != want.RedirectURI || got.Scope != want.Scope ||
		got.State != want.State || got.Nonce != want.Nonce || got.CodeChallenge != want.CodeChallenge || got.Prompt != want.Prompt ||
		got.MaxAge != want.MaxAge || got.HasMaxAge != want.HasMaxAge || got.LoginHint != want.LoginHint || got.Binding != want.Binding ||
		!sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.ExpiresAt, want.ExpiresAt) {
		t.Fatalf("got request\n%+v\nwant\n%+v", got, want)
	}
}

// SameCode fails the test unless got and want agree on every field (a nil AMR and an empty one
// agree).
func SameCode(t *testing.T, got, want oidc.Code) {
	t.Helper()
	if got.Hash != want.Hash || got.ClientID != want.ClientID || got.RedirectURI != want.RedirectURI || got.Scope != want.Scope ||
		got.Nonce != want.Nonce || got.CodeChallenge != want.CodeChallenge || got.UserID != want.UserID ||
		!sameTime(got.AuthTime, want.AuthTime) || !slices.Equal(got.AMR, want.AMR) || got.SessionID != want.SessionID ||
		got.Email != want.Email || got.EmailVerified != want.EmailVerified || got.Name != want.Name ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) || !sameTime(got.UsedAt, want.UsedAt) {
		t.Fatalf("got code\n%+v\nwant\n%+v", got, want)
	}
}

// SameProviderSession fails the test unless got and want agree on every field (a nil AMR and
// an empty one agree).
func SameProviderSession(t *testing.T, got, want oidc.ProviderSession) {
	t.Helper()
	if got.Hash != want.Hash || got.UserID != want.UserID || !sameTime(got.AuthTime, want.AuthTime) ||
		!slices.Equal(got.AMR, want.AMR) || !sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.ExpiresAt, want.ExpiresAt) {
		t.Fatalf("got provider session\n%+v\nwant\n%+v", got, want)
	}
}

// sameTime reports whether a and b are the same instant, or both the zero time (which Equal
// alone would not tell from the Unix epoch read back from a table).
func sameTime(a, b time.Time) bool { return a.IsZero() == b.IsZero() && a.Equal(b) }
