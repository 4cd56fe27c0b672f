// Command email is the Lambda behind verified sign-up and account recovery (docs/api.md, email
// and recovery): email codes sent through Amazon SES v2, recovery tickets, the caller's
// pending recovery and recovery codes. It verifies access tokens but never signs one: it
// holds no kms:Sign.
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
	"github.com/latchkey/latchkey/core/recovery"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

// beginFloor is the least time email/begin takes (recovery.Desk.BeginFloor): above what a
// send to SES takes, so that an address that gets an email and one that gets none answer in
// the same time.
const beginFloor = 600 * time.Millisecond

func main() {
	boot.Main("email", boot.Need{Secret: true, Email: true}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		h, err := newHandler(ctx, cfg, awsCfg, log)
		if err != nil {
			return nil, err
		}
		return apigw.Serve(log, boot.Deadline, h.Handle), nil
	})
}

// newHandler builds what this function uses: the store, the KMS public keys (preloaded) for
// the verifier, the HMAC secret the codes and tickets are hashed with, the SES sender and the
// recovery desk.
func newHandler(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (*handler, error) {
	db := dynamodb.NewFromConfig(awsCfg)
	defer boot.OpenDynamoDBBeside(ctx, log, db)() // the first request pays no handshake
	store := dynamo.New(db, cfg.Table)
	keys := kmssign.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	preloaded := boot.PreloadBeside(ctx, log, "public keys", func(ctx context.Context) error { _, err := keys.PublicKeys(ctx); return err })
	defer preloaded()

	sctx, cancel := context.WithTimeout(ctx, boot.SecretTimeout)
	defer cancel()
	secret, err := secrets.HMACKey(sctx, secretsmanager.NewFromConfig(awsCfg), cfg.SecretID)
	if err != nil {
		return nil, err
	}
	verifier := &core.Verifier{Keys: keys, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, FirstParty: cfg.ClientID, Leeway: cfg.Leeway, Now: time.Now}
	desk := &recovery.Desk{
		Flows:          store,
		Recoveries:     store,
		Codes:          store,
		Accounts:       store,
		Mailer:         mail.New(sesv2.NewFromConfig(awsCfg), cfg.EmailFrom),
		Limiter:        &core.RateLimiter{Counters: store},
		Audit:          log,
		Now:            time.Now,
		Secret:         secret,
		App:            cfg.RPName,
		Delay:          cfg.RecoveryDelay,
		BeginFloor:     beginFloor,
		ReauthMaxAge:   cfg.ReauthAge,
		BeginByIP:      core.Rule(cfg.Limits.EmailBeginByIP),
		BeginByAddress: core.Rule(cfg.Limits.EmailBeginByAddress),
		SendByAddress:  core.Rule(cfg.Limits.EmailSendByAddress),
		VerifyByIP:     core.Rule(cfg.Limits.EmailVerifyByIP),
		CodeByIP:       core.Rule(cfg.Limits.RecoveryCodeByIP),
	}
	return &handler{desk: desk, verifier: verifier, log: log}, nil
}
