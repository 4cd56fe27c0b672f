// Command authorizer is a Lambda authorizer for a team's other APIs: it lets a request through
// API Gateway only with a live Latchkey access token, and hands the backend who is calling.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/functions/internal/wire"
)

func main() {
	log := boot.Logger(os.Stdout, "authorizer")
	if err := run(context.Background(), log); err != nil {
		log.Error("cold start failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := boot.Load(os.Getenv, boot.Need{})
	if err != nil {
		return err
	}
	awsCfg, err := boot.AWS(ctx, os.Getenv)
	if err != nil {
		return err
	}
	deps := wire.NewDeps(ctx, cfg, awsCfg, log)
	h := &handler{auth: wire.Authenticator(deps, log), log: log}
	lambda.Start(h.Handle)
	return nil
}
