// Command wellknown is the Lambda that publishes Latchkey's verification keys (JWKS: the
// access-token keys and the ID-token keys), its discovery document and its health: the routes
// anyone may call without a token.
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.Main("wellknown", boot.Need{IDToken: true}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		h := newHandler(cfg, awsCfg, log)
		// The JWKS is served from the keys loaded once; loading them at cold start (one
		// kms:GetPublicKey per key, which also opens the KMS connection) keeps the first request
		// from paying for it. The two lists load beside each other.
		wait := boot.PreloadBeside(ctx, log, "ID-token keys", func(ctx context.Context) error { _, err := h.idKeys.IDKeys(ctx); return err })
		boot.Preload(ctx, log, "public keys", func(ctx context.Context) error { _, err := h.keys.PublicKeys(ctx); return err })
		wait()
		return apigw.Serve(log, boot.Deadline, h.Handle), nil
	})
}

// newHandler builds what this function uses: the KMS public keys behind the JWKS, and the
// table and key the readiness probe pings. It holds no secret and cannot sign.
func newHandler(cfg boot.Config, awsCfg aws.Config, log *slog.Logger) *handler {
	db := dynamodb.NewFromConfig(awsCfg)
	kmsAPI := kms.NewFromConfig(awsCfg)
	signer := kmssign.New(kmsAPI, cfg.SigningKeys)
	return &handler{
		issuer:     cfg.Issuer,
		version:    cfg.Version,
		keys:       signer,
		idKeys:     kmssign.NewIDSigner(kmsAPI, cfg.IDTokenKeys),
		userScopes: cfg.UserScopes,
		checks: []check{
			{name: "dynamodb", ping: func(ctx context.Context) error { return dynamo.Ping(ctx, db, cfg.Table) }},
			{name: "kms", ping: signer.Ping},
		},
		log: log,
		now: time.Now,
	}
}
