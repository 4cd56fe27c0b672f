// Command sessions is the Lambda behind refresh, logout, revocation, introspection and the
// caller's own session list.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/functions/internal/wire"
)

func main() {
	log := boot.Logger(os.Stdout, "sessions")
	if err := run(context.Background(), log); err != nil {
		log.Error("cold start failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := boot.Load(os.Getenv, boot.Need{Secret: true})
	if err != nil {
		return err
	}
	awsCfg, err := boot.AWS(ctx, os.Getenv)
	if err != nil {
		return err
	}
	deps := wire.NewDeps(ctx, cfg, awsCfg, log)
	sessions, err := wire.Sessions(ctx, cfg, awsCfg, deps, log)
	if err != nil {
		return err
	}
	h := &handler{sessions: sessions, introspectors: cfg.IntrospectionClients, log: log}
	lambda.Start(apigw.Serve(log, h.Handle))
	return nil
}
