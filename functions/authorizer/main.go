// Command authorizer is a Lambda authorizer for a team's other APIs: it lets a request through
// API Gateway only with a live Latchkey access token or API key, and hands the backend who is
// calling.
package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.Main("authorizer", boot.Need{}, func(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) (any, error) {
		return newHandler(ctx, cfg, awsCfg, log), nil // a lambda.Handler: Invoke
	})
}

// The handler is given to aws-lambda-go as a lambda.Handler, so that the event reaches it as
// bytes (handler.Invoke).
var _ lambda.Handler = (*handler)(nil)

// newHandler builds what this function uses: the store and the KMS public keys (preloaded, so
// a warm decision never calls KMS) behind a core.Verifier that knows the machine clients, the
// store behind the API keys' apikey.Verifier, and the route policy. It holds no secret and
// cannot sign.
func newHandler(ctx context.Context, cfg boot.Config, awsCfg aws.Config, log *slog.Logger) *handler {
	db := dynamodb.NewFromConfig(awsCfg)
	defer boot.OpenDynamoDBBeside(ctx, log, db)() // the first request pays no handshake
	store := dynamo.New(db, cfg.Table)
	signer := kmssign.New(kms.NewFromConfig(awsCfg), cfg.SigningKeys)
	boot.Preload(ctx, log, "public keys", func(ctx context.Context) error { _, err := signer.PublicKeys(ctx); return err })
	machines := make(core.MachineClients, len(cfg.MachineClients))
	for _, c := range cfg.MachineClients {
		machines[c.ID] = core.MachineClient{ID: c.ID, Scopes: c.Scopes, Enabled: c.Enabled}
	}
	verifier := &core.Verifier{Keys: signer, States: store, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway, Now: time.Now, Machines: machines}
	keys := &apikey.Verifier{Lookup: store, Log: log, Now: time.Now, Env: cfg.APIKeyEnv}
	return &handler{auth: verifier, keys: keys, policy: routePolicy(cfg.RouteScopes), log: log}
}
