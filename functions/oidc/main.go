// Command oidc is the Lambda of the OpenID provider: the authorization endpoint, the hosted
// sign-in page and its completion, userinfo and RP-initiated logout. The code exchange is
// /v1/token's authorization_code grant, in the sessions function: this one signs nothing (it
// reads the public keys, to verify the hosted page's access token and id_token_hint).
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.Main("oidc", boot.Need{RP: true, IDToken: true}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		return apigw.Serve(log, boot.Deadline, newHandler(ctx, cfg, awsCfg, log).Handle), nil
	})
}

// newHandler builds what this function uses: the store, the public keys of both signing keys
// (preloaded, so a warm function never calls kms:GetPublicKey), the verifier of the hosted
// page's access tokens and the provider.
func newHandler(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) *handler {
	db := dynamodb.NewFromConfig(awsCfg)
	defer boot.OpenDynamoDBBeside(ctx, log, db)() // the first request pays no handshake
	store := dynamo.New(db, cfg.Table)
	kmsAPI := kms.NewFromConfig(awsCfg)
	accessKeys := kmssign.New(kmsAPI, cfg.SigningKeys)
	idKeys := kmssign.NewIDSigner(kmsAPI, cfg.IDTokenKeys)
	defer boot.PreloadBeside(ctx, log, "public keys", func(ctx context.Context) error {
		if _, err := accessKeys.PublicKeys(ctx); err != nil {
			return err
		}
		_, err := idKeys.IDKeys(ctx)
		return err
	})()
	verifier := &core.Verifier{Keys: accessKeys, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, FirstParty: cfg.ClientID, Leeway: cfg.Leeway, Now: time.Now}
	return &handler{
		provider: &oidc.Provider{
			Clients:       cfg.OIDCClients,
			Store:         store,
			Users:         store,
			Verifier:      verifier,
			IDTokens:      &oidc.IDMinter{Signer: idKeys, Issuer: cfg.Issuer, TTL: cfg.AccessTTL},
			Sessions:      store,
			Limiter:       &core.RateLimiter{Counters: store},
			Audit:         log,
			Now:           time.Now,
			Issuer:        cfg.Issuer,
			SessionTTL:    cfg.ProviderSessionTTL,
			AuthorizeByIP: core.Rule(cfg.Limits.AuthorizeByIP),
		},
		appName: cfg.RPName,
		cookies: cookiesFor(cfg.Issuer),
		log:     log,
	}
}
