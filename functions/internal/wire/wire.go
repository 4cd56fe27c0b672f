// Package wire builds the use cases a function needs from its configuration, once per cold
// start, so every function wires sessions and tokens the same way.
package wire

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// Rate limits on /v1/token. A well-behaved client refreshes once per access-token lifetime;
// these leave room for many tabs and retries and stop brute force and runaway loops.
var (
	TokenByIP      = core.Rule{Name: "token-ip", Limit: 120, Window: time.Minute}
	TokenBySession = core.Rule{Name: "token-sid", Limit: 30, Window: time.Minute}
)

// leeway is the clock skew tolerated on token times.
const leeway = 30 * time.Second

// Deps are the clients and adapters a function shares between its use cases.
type Deps struct {
	Store  *dynamo.Store
	Signer *kmssign.Signer
	Tokens *core.Tokens
}

// NewDeps builds the store, the KMS signer and the token issuer/verifier, and loads the
// public keys once now, so a warm function never calls kms:GetPublicKey. A KMS that is down
// at cold start is not fatal: the keys load on first use.
func NewDeps(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) Deps {
	signer := kmssign.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	kctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := signer.PublicKeys(kctx); err != nil {
		log.Warn("public keys not loaded at cold start; will retry on first use", "err", err)
	}
	return Deps{
		Store:  dynamo.New(dynamodb.NewFromConfig(awsCfg), cfg.Table),
		Signer: signer,
		Tokens: &core.Tokens{Signer: signer, Issuer: cfg.Issuer, Audience: cfg.Audience, TTL: cfg.AccessTTL, Leeway: leeway},
	}
}

// Sessions builds the Sessions use case, loading the refresh-token HMAC key from Secrets
// Manager (which needs LATCHKEY_SECRET_ID; see boot.Need).
func Sessions(ctx context.Context, cfg boot.Config, awsCfg aws.Config, d Deps, log *slog.Logger) (*core.Sessions, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key, err := secrets.HMACKey(sctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return nil, err
	}
	return sessionsWithKey(key, cfg, d, log)
}

// sessionsWithKey builds the Sessions use case around the refresh-token HMAC key.
func sessionsWithKey(key []byte, cfg boot.Config, d Deps, log *slog.Logger) (*core.Sessions, error) {
	codec, err := core.NewRefreshCodec(key)
	if err != nil {
		return nil, err
	}
	return &core.Sessions{
		Store:          d.Store,
		States:         d.Store,
		Denylist:       d.Store,
		Tokens:         d.Tokens,
		Codec:          codec,
		Limiter:        &core.RateLimiter{Counters: d.Store},
		Audit:          log,
		Now:            time.Now,
		AbsoluteTTL:    cfg.SessionTTL,
		IdleTTL:        cfg.SessionIdle,
		Grace:          cfg.Grace,
		TokenByIP:      TokenByIP,
		TokenBySession: TokenBySession,
	}, nil
}

// Rate limits on the passkey ceremonies (SECURITY.md, abuse): per client address and per
// account (normalized email or user id), on begin and on finish. They throttle rather than
// lock out: a window ends and the account may try again.
var (
	PasskeyBeginByIP       = core.Rule{Name: "pk-begin-ip", Limit: 60, Window: time.Minute}
	PasskeyBeginByAccount  = core.Rule{Name: "pk-begin-acct", Limit: 20, Window: time.Minute}
	PasskeyFinishByIP      = core.Rule{Name: "pk-finish-ip", Limit: 60, Window: time.Minute}
	PasskeyFinishByAccount = core.Rule{Name: "pk-finish-acct", Limit: 30, Window: time.Minute}
)

// Passkeys builds the Passkeys use case and the Sessions it opens sessions with (which needs
// LATCHKEY_SECRET_ID and the RP settings; see boot.Need). The HMAC secret is loaded once: the
// refresh-token codec keys with it, and the passkeys' decoy key is derived from it.
func Passkeys(ctx context.Context, cfg boot.Config, awsCfg aws.Config, d Deps, log *slog.Logger) (*core.Passkeys, error) {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key, err := secrets.HMACKey(sctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return nil, err
	}
	sessions, err := sessionsWithKey(key, cfg, d, log)
	if err != nil {
		return nil, err
	}
	w, err := core.NewWebAuthn(core.WebAuthnConfig{RPID: cfg.RPID, RPName: cfg.RPName, Origins: cfg.RPOrigins, Attestation: cfg.Attestation})
	if err != nil {
		return nil, err
	}
	return &core.Passkeys{
		WebAuthn:        w,
		Credentials:     d.Store,
		Accounts:        d.Store,
		Users:           d.Store,
		Challenges:      d.Store,
		Sessions:        sessions,
		Limiter:         &core.RateLimiter{Counters: d.Store},
		Audit:           log,
		Now:             time.Now,
		DecoyKey:        core.DeriveKey(key, core.DecoyKeyLabel),
		BeginByIP:       PasskeyBeginByIP,
		BeginByAccount:  PasskeyBeginByAccount,
		FinishByIP:      PasskeyFinishByIP,
		FinishByAccount: PasskeyFinishByAccount,
	}, nil
}

// Authenticator is the part of Sessions the authorizer needs: no HMAC key, no signing.
func Authenticator(d Deps, log *slog.Logger) *core.Sessions {
	return &core.Sessions{Store: d.Store, States: d.Store, Denylist: d.Store, Tokens: d.Tokens, Audit: log, Now: time.Now}
}
