package main

import (
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// kind is one kind of request the bench sends: which function serves it, the target of its
// CPU per request as a multiple of a bare ECDSA verification (0: none), and prepare, which
// does whatever the n requests need beforehand (outside the measurement) and returns the
// request to send n times. A new kind (an authorizer decision with an API key, say) is one
// more entry in kinds.
type kind struct {
	name     string
	function string  // the function (template name, lower case) whose process is measured
	target   float64 // the target ratio to a bare verify; 0 when there is none
	prepare  func(b *bench, n int) (send func(i int) error, err error)
}

var kinds = []kind{
	{name: "authorizer", function: "authorizer", target: 6, prepare: prepareAuthorizer},
	{name: "apikey", function: "authorizer", prepare: prepareAPIKey},
	{name: "refresh", function: "sessions", target: 15, prepare: prepareRefresh},
	{name: "login", function: "passkeys", target: 25, prepare: prepareLogin},
	{name: "jwks", function: "wellknown", prepare: prepareJWKS},
}

// prepareAuthorizer: GET /local/echo with a live access token, which the gateway runs through
// the real authorizer binary (an HTTP API 2.0 authorizer event) before answering.
func prepareAuthorizer(b *bench, n int) (func(int) error, error) {
	at := b.account.AccessToken
	return func(int) error {
		return b.expect("GET", "/local/echo", at, "", nil, 200, nil)
	}, nil
}

// prepareAPIKey: GET /local/echo with an API key of the account (made here, outside the
// measurement), presented as a Bearer credential: the authorizer checks its shape and checksum
// and reads its item once. lastUsedAt is written at most once a minute, so nearly every
// decision is the one read.
func prepareAPIKey(b *bench, n int) (func(int) error, error) {
	var made struct {
		Key string `json:"key"`
	}
	if err := b.expect("POST", "/v1/me/api-keys", b.account.AccessToken, "application/json", []byte(`{"name":"bench"}`), 201, &made); err != nil {
		return nil, err
	}
	return func(int) error {
		return b.expect("GET", "/local/echo", made.Key, "", nil, 200, nil)
	}, nil
}

// prepareRefresh: a chain of refreshes on one session, each presenting the refresh token the
// previous one returned (so every one rotates).
func prepareRefresh(b *bench, n int) (func(int) error, error) {
	return func(int) error {
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		form := "grant_type=refresh_token&refresh_token=" + url.QueryEscape(b.account.RefreshToken)
		if err := b.expect("POST", "/v1/token", "", "application/x-www-form-urlencoded", []byte(form), 200, &out); err != nil {
			return err
		}
		b.account.RefreshToken = out.RefreshToken // the next one presents the successor
		return nil
	}, nil
}

// prepareLogin: n sign-ins with the account's passkey. The n login/begin calls and the
// authenticator's signatures happen here, before the measurement; what is measured is the n
// login/finish calls alone.
func prepareLogin(b *bench, n int) (func(int) error, error) {
	bodies := make([][]byte, n)
	for i := range bodies {
		var begin map[string]json.RawMessage
		if err := b.expect("POST", "/v1/passkeys/login/begin", "", "application/json", []byte("{}"), 200, &begin); err != nil {
			return nil, err
		}
		assertion, err := b.auth.Get(begin["publicKey"], passkeytest.Tweaks{})
		if err != nil {
			return nil, fmt.Errorf("authenticator: %w", err)
		}
		bodies[i], _ = json.Marshal(map[string]any{"challengeId": begin["challengeId"], "credential": json.RawMessage(assertion)})
	}
	return func(i int) error {
		return b.expect("POST", "/v1/passkeys/login/finish", "", "application/json", bodies[i], 200, nil)
	}, nil
}

// prepareJWKS: GET /.well-known/jwks.json.
func prepareJWKS(b *bench, n int) (func(int) error, error) {
	return func(int) error {
		return b.expect("GET", "/.well-known/jwks.json", "", "", nil, 200, nil)
	}, nil
}
