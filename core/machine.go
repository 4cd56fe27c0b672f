package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/core/internal/parallel"
)

// MachineClient is a confidential OAuth client that acts for itself, not for a user: a script,
// a CI job, a service (the client_credentials grant, RFC 6749 §4.4). The deployment declares
// each one with its scopes (LATCHKEY_MACHINE_CLIENTS); its secret is in Secrets Manager, never
// in the configuration.
type MachineClient struct {
	ID      string
	Scopes  []string // the most a token of the client may carry
	Enabled bool     // a disabled client gets no token, and its tokens are refused
}

// Holds reports whether every space-delimited scope of scope is one of the client's.
func (c MachineClient) Holds(scope string) bool {
	for _, s := range strings.Fields(scope) {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// MachineClients are the declared machine clients by id.
type MachineClients map[string]MachineClient

// Active returns client id when it is declared and enabled.
func (m MachineClients) Active(id string) (MachineClient, bool) {
	c, ok := m[id]
	return c, ok && c.Enabled
}

// IsMachine reports whether c is the shape of a machine client's token: no session, and the
// client is its own subject (Minter.IssueClient). Verify accepts a token without sid in this
// shape only.
func (c AccessClaims) IsMachine() bool {
	return c.SessionID == "" && c.Subject != "" && c.Subject == c.ClientID
}

// SecretHash is the SHA-256 of a machine client's secret. The secrets have at least 256 bits of
// entropy (core/secrets refuses shorter ones), so an unsalted hash is as hard to invert as the
// secret is to guess, and only hashes are compared.
type SecretHash [sha256.Size]byte

// HashSecret is the SecretHash of secret.
func HashSecret(secret string) SecretHash { return sha256.Sum256([]byte(secret)) }

// MachineSecrets are the hashes of the secrets each machine client may authenticate with, by
// client id: its current secret and, during a rotation, the next one too.
type MachineSecrets map[string][]SecretHash

// MachineSecretSource loads MachineSecrets; core/secrets reads them from Secrets Manager.
type MachineSecretSource interface {
	// MachineSecrets reads every client's accepted secrets. KindUnavailable if the store cannot
	// be reached; KindInternal if what it holds is not a valid set of secrets.
	MachineSecrets(ctx context.Context) (MachineSecrets, error)
}

// Machines is the client_credentials grant for the declared machine clients. It is stateless
// but for a copy of the secrets, read again once it is MaxAge old, so a rotation step (a next
// secret added, the old one removed) takes effect on every node within MaxAge.
type Machines struct {
	Clients MachineClients
	Secrets MachineSecretSource
	MaxAge  time.Duration // how long a copy of the secrets serves before it is read again; 0 reads them on every request
	Minter  *Minter
	Limiter *RateLimiter
	Audit   *slog.Logger
	Now     func() time.Time

	TokenByIP     Rule // rate limit on /v1/token per client address (the refresh grant's rule)
	TokenByClient Rule // rate limit on /v1/token per machine client

	mu       sync.Mutex
	secrets  MachineSecrets
	loadedAt time.Time
}

// errInvalidClient is the one answer for a client that is unknown or failed to authenticate
// (RFC 6749 §5.2 invalid_client): which of the two is logged, never told.
func errInvalidClient(op Op) error {
	e := E(op, KindUnauthenticated, "unknown client or client authentication failed", nil)
	e.Code = "invalid_client"
	return e
}

// Issue authenticates machine client id with secret and issues it an access token for scope
// ("" asks for every scope of the client; otherwise each space-delimited scope must be the
// client's). Stage 1 counts the request against the per-address and (for a declared client)
// per-client-and-address limits and, when the copy of the secrets is stale, reads them again, all at once;
// then the secret's hash is compared, in constant time, with each of the client's. A client
// that is not declared or whose secret matches none is KindUnauthenticated with Code
// invalid_client; a disabled client, once authenticated, KindForbidden (unauthorized_client);
// a scope beyond the client's KindInvalid with Code invalid_scope. Only then the HSM signs
// (Minter.IssueClient). No refresh token is issued (RFC 6749 §4.4.3) and nothing is written
// but the counters.
func (m *Machines) Issue(ctx context.Context, id, secret, scope string, client Client) (TokenResponse, error) {
	const op = "core.Machines.Issue"
	now := m.Now()
	mc, declared := m.Clients[id]
	var (
		ipErr, clientErr, loadErr error
		secrets                   MachineSecrets
	)
	parallel.Do(
		func() { ipErr = m.Limiter.Allow(ctx, m.TokenByIP, client.IP, now) },
		func() {
			if declared {
				// Keyed with the caller's address: a client id is no secret (it is the sub of
				// its tokens), so a budget of the id alone would let anyone who knows it keep
				// the client from its tokens. The 256-bit secret needs no guess limit.
				clientErr = m.Limiter.Allow(ctx, m.TokenByClient, id+"@"+client.IP, now)
			}
		},
		func() {
			if declared {
				secrets, loadErr = m.load(ctx, now)
			}
		},
	)
	if err := parallel.First(ipErr, clientErr, loadErr); err != nil {
		if Is(err, KindRateLimited) {
			m.audit(ctx, "machine.token_failed", "reason", "rate_limited", "client_id", id, "ip", client.IP)
		}
		return TokenResponse{}, err
	}
	if !declared {
		m.audit(ctx, "machine.token_failed", "reason", "unknown_client", "ip", client.IP)
		return TokenResponse{}, errInvalidClient(op)
	}
	if !secretMatches(secrets[id], secret) {
		m.audit(ctx, "machine.token_failed", "reason", "bad_secret", "client_id", id, "ip", client.IP)
		return TokenResponse{}, errInvalidClient(op)
	}
	if !mc.Enabled {
		m.audit(ctx, "machine.token_failed", "reason", "client_disabled", "client_id", id, "ip", client.IP)
		return TokenResponse{}, E(op, KindForbidden, "this client may not use the client_credentials grant", nil)
	}
	granted, err := narrowScope(strings.Join(mc.Scopes, " "), scope)
	if err != nil {
		m.audit(ctx, "machine.token_failed", "reason", "invalid_scope", "client_id", id, "ip", client.IP)
		e := E(op, KindInvalid, "the requested scope exceeds the scope of the client", nil)
		e.Code = "invalid_scope"
		return TokenResponse{}, e
	}
	access, claims, err := m.Minter.IssueClient(ctx, id, granted, now)
	if err != nil {
		return TokenResponse{}, err
	}
	m.audit(ctx, "machine.token_issued", "client_id", id, "scope", granted, "jti", claims.ID, "ip", client.IP)
	return TokenResponse{AccessToken: access, ExpiresIn: claims.ExpiresAt.Sub(claims.IssuedAt), Claims: claims}, nil
}

// load returns the secrets, read again when the copy held is MaxAge old or there is none.
func (m *Machines) load(ctx context.Context, now time.Time) (MachineSecrets, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets != nil && now.Sub(m.loadedAt) < m.MaxAge {
		return m.secrets, nil
	}
	s, err := m.Secrets.MachineSecrets(ctx)
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = MachineSecrets{}
	}
	m.secrets, m.loadedAt = s, now
	return s, nil
}

// CheckSecret reports whether secret is one that client id may authenticate with now, from the
// same copy of the MachineSecret as the client_credentials grant (read again once MaxAge old).
// The OpenID provider's confidential clients keep their secrets there too. KindUnavailable if
// the secrets cannot be read.
func (m *Machines) CheckSecret(ctx context.Context, id, secret string) (bool, error) {
	secrets, err := m.load(ctx, m.Now())
	if err != nil {
		return false, err
	}
	return secretMatches(secrets[id], secret), nil
}

// secretMatches compares the hash of secret with every accepted hash in constant time; every
// hash is compared whatever the outcome, so timing tells nothing about which matched.
func secretMatches(accepted []SecretHash, secret string) bool {
	if secret == "" {
		return false
	}
	got := HashSecret(secret)
	match := 0
	for _, want := range accepted {
		match |= subtle.ConstantTimeCompare(want[:], got[:])
	}
	return match == 1
}

func (m *Machines) audit(ctx context.Context, event string, attrs ...any) {
	m.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}
