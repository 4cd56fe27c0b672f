package main

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// keySource is the part of core.Signer the JWKS needs: public keys only.
type keySource interface {
	PublicKeys(ctx context.Context) ([]core.PublicKey, error)
}

// check is one dependency the readiness probe asks.
type check struct {
	name string
	ping func(ctx context.Context) error
}

type handler struct {
	issuer  string
	version string
	keys    keySource
	checks  []check
	log     *slog.Logger
}

// Handle routes one API Gateway request.
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "GET /.well-known/jwks.json":
		return h.jwks(ctx)
	case "GET /.well-known/openid-configuration":
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

// jwks publishes every configured key, the signing key first. Verifiers may cache it for a
// few minutes: a new key is published before it signs (docs/security.md, tokens: rotation).
// The first, uncached load from KMS is bounded by the request's deadline (boot.Deadline).
func (h *handler) jwks(ctx context.Context) (apigw.Response, error) {
	keys, err := h.keys.PublicKeys(ctx)
	if err != nil {
		return apigw.Response{}, err
	}
	body := jwksBody{Keys: make([]core.JWK, 0, len(keys))}
	for _, k := range keys {
		body.Keys = append(body.Keys, core.JWKOf(k))
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

// discovery is the RFC 8414 authorization server metadata Latchkey can honestly claim.
func (h *handler) discovery() (apigw.Response, error) {
	resp := apigw.JSON(http.StatusOK, map[string]any{
		"issuer":                                        h.issuer,
		"jwks_uri":                                      h.issuer + "/.well-known/jwks.json",
		"token_endpoint":                                h.issuer + "/v1/token",
		"revocation_endpoint":                           h.issuer + "/v1/revoke",
		"introspection_endpoint":                        h.issuer + "/v1/introspect",
		"grant_types_supported":                         []string{"refresh_token"},
		"token_endpoint_auth_methods_supported":         []string{"none"},
		"revocation_endpoint_auth_methods_supported":    []string{"none"},
		"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"access_token_signing_alg_values_supported":     []string{"ES256"},
	})
	resp.Headers["Cache-Control"] = "public, max-age=300"
	return resp, nil
}

// ready asks every dependency at once, each bounded by boot.ReadyCheckTimeout, and names the ones that
// failed. The answer never waits longer than the slowest bounded check.
func (h *handler) ready(ctx context.Context) (apigw.Response, error) {
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
		return apigw.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": results}), nil
	}
	sort.Strings(failed)
	return apigw.ProblemWith(http.StatusServiceUnavailable, core.KindUnavailable.String(),
		"not ready: "+strings.Join(failed, ", "), map[string]any{"status": http.StatusServiceUnavailable, "checks": results}), nil
}
