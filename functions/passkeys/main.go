// Command passkeys is the Lambda behind passkey sign-up, sign-in and the caller's own passkeys
// (WebAuthn ceremonies with go-webauthn; docs/api.md, passkeys). It is the only function that
// links go-webauthn.
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/mail"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.Main("passkeys", boot.Need{Secret: true, RP: true, Email: true}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		h, err := newHandler(ctx, cfg, awsCfg, log)
		if err != nil {
			return nil, err
		}
		return apigw.Serve(log, boot.Deadline, h.Handle), nil
	})
}

// newHandler builds what this function uses: the store, the KMS signer (keys preloaded), the
// HMAC secret (loaded once: the refresh-token codec keys with it and the decoy key is derived
// from it), the verifier, the Sessions that sign-ins open and the WebAuthn relying party.
func newHandler(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (*handler, error) {
	db := dynamodb.NewFromConfig(awsCfg)
	defer boot.OpenDynamoDBBeside(ctx, log, db)() // the first request pays no handshake
	store := dynamo.New(db, cfg.Table)
	signer := kmssign.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	preloaded := boot.PreloadBeside(ctx, log, "public keys", func(ctx context.Context) error { _, err := signer.PublicKeys(ctx); return err })
	defer preloaded()

	sctx, cancel := context.WithTimeout(ctx, boot.SecretTimeout)
	defer cancel()
	key, err := secrets.HMACKey(sctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return nil, err
	}
	codec, err := core.NewRefreshCodec(key)
	if err != nil {
		return nil, err
	}
	w, err := passkey.NewWebAuthn(passkey.Config{RPID: cfg.RPID, RPName: cfg.RPName, Origins: cfg.RPOrigins, Attestation: cfg.Attestation})
	if err != nil {
		return nil, err
	}
	limiter := &core.RateLimiter{Counters: store}
	verifier := &core.Verifier{Keys: signer, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, FirstParty: cfg.ClientID, Leeway: cfg.Leeway, Now: time.Now}
	sessions := &core.Sessions{
		Store:          store,
		Denylist:       store,
		Verifier:       verifier,
		Minter:         &core.Minter{Signer: signer, Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, TTL: cfg.AccessTTL},
		Codec:          codec,
		Limiter:        limiter,
		Audit:          log,
		Now:            time.Now,
		AbsoluteTTL:    cfg.SessionTTL,
		IdleTTL:        cfg.SessionIdle,
		Grace:          cfg.Grace,
		TokenByIP:      core.Rule(cfg.Limits.TokenByIP),
		TokenBySession: core.Rule(cfg.Limits.TokenBySession),
	}
	rp := &passkey.RelyingParty{
		WebAuthn:        w,
		Credentials:     store,
		Accounts:        store,
		Challenges:      store,
		Tickets:         store,
		Sessions:        sessions,
		Mailer:          mail.New(sesv2.NewFromConfig(awsCfg), cfg.EmailFrom),
		Limiter:         limiter,
		Audit:           log,
		Now:             time.Now,
		HashKey:         core.DeriveKey(key, passkey.HashKeyLabel),
		ReauthMaxAge:    cfg.ReauthAge,
		EmailRequired:   cfg.EmailRequired,
		SignUpKey:       core.DeriveKey(key, core.KeySignUpTicket),
		RecoveryKey:     core.DeriveKey(key, core.KeyRecoveryTicket),
		App:             cfg.RPName,
		BeginByIP:       core.Rule(cfg.Limits.PasskeyBeginByIP),
		BeginByAccount:  core.Rule(cfg.Limits.PasskeyBeginByAccount),
		FinishByIP:      core.Rule(cfg.Limits.PasskeyFinishByIP),
		FinishByAccount: core.Rule(cfg.Limits.PasskeyFinishByAccount),
	}
	return &handler{rp: rp, verifier: verifier, log: log}, nil
}
