// Command passkeys is the Lambda behind passkey sign-up, sign-in and the caller's own passkeys
// (WebAuthn ceremonies with go-webauthn; API.md, passkeys).
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
	log := boot.Logger(os.Stdout, "passkeys")
	if err := run(context.Background(), log); err != nil {
		log.Error("cold start failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := boot.Load(os.Getenv, boot.Need{Secret: true, RP: true})
	if err != nil {
		return err
	}
	awsCfg, err := boot.AWS(ctx, os.Getenv)
	if err != nil {
		return err
	}
	deps := wire.NewDeps(ctx, cfg, awsCfg, log)
	passkeys, err := wire.Passkeys(ctx, cfg, awsCfg, deps, log)
	if err != nil {
		return err
	}
	h := &handler{passkeys: passkeys, log: log}
	lambda.Start(apigw.Serve(log, h.Handle))
	return nil
}
