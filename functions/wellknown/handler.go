package main

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// keySource is the part of core.Signer the JWKS needs: the access-token keys, public only.
type keySource interface {
	PublicKeys(ctx context.Context) ([]core.PublicKey, error)
}

// idKeySource is the part of core.IDSigner the JWKS needs: the ID-token keys, public only.
type idKeySource interface {
	IDKeys(ctx context.Context) ([]core.RSAPublicKey, error)
}

// check is one dependency the readiness probe asks.
type check struct {
	name string
	ping func(ctx context.Context) error
}

// readyTTL is how long one readiness result is reused: callers of /health/ready within it get
// the same answer, so the probe cannot be used to hammer DynamoDB's and KMS's control planes
// (DescribeTable, DescribeKey, which have low quotas).
const readyTTL = 5 * time.Second

type handler struct {
	issuer  string
	version string
	keys    keySource
	idKeys  idKeySource
	// userScopes are LATCHKEY_USER_SCOPES, the scopes users hold beyond OpenID Connect's,
	// which the metadata lists in scopes_supported.
	userScopes []string
	checks     []check
	log        *slog.Logger
	now        func() time.Time

	readyMu  sync.Mutex // held while checking, so concurrent callers share one set of pings
	readyAt  time.Time  // when ready was last computed
	readyHit apigw.Response
}

// Handle routes one API Gateway request.
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "GET /.well-known/jwks.json":
		return h.jwks(ctx)
	case "GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration":
		return h.discovery()
	case "GET /health":
		return h.health()
	case "GET /health/ready":
		return h.ready(ctx)
	}
	return apigw.NotFound(req), nil
}

type jwksBody struct {
	Keys []core.JWK `json:"keys"`
}

// jwks publishes every configured key: the access-token keys (ES256), the signing key first,
// then the ID-token keys (RS256), the signing key first. Verifiers may cache it for a few
// minutes: a new key is published before it signs (docs/security.md, tokens: rotation). The
// first, uncached load from KMS is bounded by the request's deadline (boot.Deadline).
func (h *handler) jwks(ctx context.Context) (apigw.Response, error) {
	keys, err := h.keys.PublicKeys(ctx)
	if err != nil {
		return apigw.Response{}, err
	}
	idKeys, err := h.idKeys.IDKeys(ctx)
	if err != nil {
		return apigw.Response{}, err
	}
	body := jwksBody{Keys: make([]core.JWK, 0, len(keys)+len(idKeys))}
	for _, k := range keys {
		body.Keys = append(body.Keys, core.JWKOf(k))
	}
	for _, k := range idKeys {
		body.Keys = append(body.Keys, core.JWKOfRSA(k))
	}
	resp := apigw.JSON(http.StatusOK, body)
	resp.Headers["Content-Type"] = "application/jwk-set+json"
	resp.Headers["Cache-Control"] = "public, max-age=300"
	return resp, nil
}

// health says the function runs, and which version it is.
func (h *handler) health() (apigw.Response, error) {
	return apigw.JSON(http.StatusOK, map[string]string{"status": "ok", "version": h.version}), nil
}

// oidcScopes are the scopes of OpenID Connect the provider serves (OIDC Core §5.4, §11).
var oidcScopes = []string{"openid", "email", "profile", "offline_access"}

// claimsSupported are the claims of the ID token and userinfo (OIDC Core §2, §5.1).
var claimsSupported = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "email", "email_verified", "name"}

// discovery is the provider's metadata, one document at both well-known paths: RFC 8414's
// authorization server metadata and OpenID Connect Discovery 1.0's provider metadata (OAuth
// clients read either). It claims only what Latchkey does, in registered member names only
// (the IANA OAuth Authorization Server Metadata registry): the authorization code grant with
// PKCE S256 and the response type code in the query, with iss in the response (RFC 9207);
// ID tokens signed RS256, public subject identifiers, userinfo and RP-initiated logout; at the
// token endpoint authorization_code and refresh_token for public clients ("none") and
// confidential ones, and client_credentials for machine clients (client_secret_basic or
// client_secret_post); RFC 7009 revocation without client authentication, RFC 7662
// introspection with HTTP Basic, and the JWKS.
func (h *handler) discovery() (apigw.Response, error) {
	scopes := slices.Clone(oidcScopes)
	for _, s := range h.userScopes {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	resp := apigw.JSON(http.StatusOK, map[string]any{
		"issuer":                                         h.issuer,
		"authorization_endpoint":                         h.issuer + "/oauth2/authorize",
		"token_endpoint":                                 h.issuer + "/v1/token",
		"userinfo_endpoint":                              h.issuer + "/oauth2/userinfo",
		"end_session_endpoint":                           h.issuer + "/oauth2/logout",
		"jwks_uri":                                       h.issuer + "/.well-known/jwks.json",
		"revocation_endpoint":                            h.issuer + "/v1/revoke",
		"introspection_endpoint":                         h.issuer + "/v1/introspect",
		"scopes_supported":                               scopes,
		"claims_supported":                               claimsSupported,
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
		"subject_types_supported":                        []string{"public"},
		"id_token_signing_alg_values_supported":          []string{"RS256"},
		"code_challenge_methods_supported":               []string{"S256"},
		"prompt_values_supported":                        []string{"none", "login", "consent", "select_account"},
		"request_parameter_supported":                    false,
		"request_uri_parameter_supported":                false,
		"authorization_response_iss_parameter_supported": true,
		"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":     []string{"none"},
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic"},
	})
	resp.Headers["Cache-Control"] = "public, max-age=300"
	return resp, nil
}

// ready answers the readiness of the dependencies, computed at most once per readyTTL in this
// process (an answer, good or bad, is reused until then; callers arriving while it is computed
// wait for it rather than pinging again).
func (h *handler) ready(ctx context.Context) (apigw.Response, error) {
	h.readyMu.Lock()
	defer h.readyMu.Unlock()
	if now := h.now(); h.readyAt.IsZero() || now.Sub(h.readyAt) >= readyTTL || now.Before(h.readyAt) {
		h.readyHit = h.check(ctx)
		h.readyAt = h.now()
	}
	resp := h.readyHit
	resp.Headers = maps.Clone(resp.Headers)
	return resp, nil
}

// check asks every dependency at once, each bounded by boot.ReadyCheckTimeout, and names the ones that
// failed. The answer never waits longer than the slowest bounded check.
func (h *handler) check(ctx context.Context) apigw.Response {
	results := make(map[string]string, len(h.checks))
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		failed []string
	)
	for _, c := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, boot.ReadyCheckTimeout)
			defer cancel()
			status := "ok"
			if err := c.ping(cctx); err != nil {
				status = "unavailable"
				if cctx.Err() != nil {
					status = "timeout"
				}
				h.log.WarnContext(ctx, "readiness check failed", "check", c.name, "err", err)
			}
			mu.Lock()
			defer mu.Unlock()
			results[c.name] = status
			if status != "ok" {
				failed = append(failed, c.name)
			}
		}()
	}
	wg.Wait()
	if len(failed) == 0 {
		return apigw.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": results})
	}
	sort.Strings(failed)
	return apigw.ProblemWith(http.StatusServiceUnavailable, core.KindUnavailable.String(),
		"not ready: "+strings.Join(failed, ", "), map[string]any{"status": http.StatusServiceUnavailable, "checks": results})
}
