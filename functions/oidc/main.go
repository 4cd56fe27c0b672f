// Command oidc is the Lambda of the OpenID provider: the authorization endpoint, the hosted
// sign-in page and its completion, userinfo and RP-initiated logout. The code exchange is
// /v1/token's authorization_code grant, in the sessions function, which alone signs tokens.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/latchkey/latchkey/functions/internal/apigw"
	"github.com/latchkey/latchkey/functions/internal/boot"
)

func main() {
	boot.FitScheduler()
	log := boot.Logger(os.Stdout, "oidc")
	if err := run(context.Background(), log); err != nil {
		log.Error("cold start failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	if _, err := boot.Load(os.Getenv, boot.Need{Secret: true, RP: true, IDToken: true}); err != nil {
		return err
	}
	// The routes are being built; until then every request is answered 404.
	lambda.Start(apigw.Serve(log, boot.Deadline, func(_ context.Context, req *apigw.Request) (apigw.Response, error) {
		return apigw.NotFound(req), nil
	}))
	return nil
}
