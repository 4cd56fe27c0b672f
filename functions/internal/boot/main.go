package boot

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// Build makes a function's Lambda handler (what lambda.Start takes) from its configuration and
// the SDK configuration, at cold start.
type Build func(ctx context.Context, cfg Config, awsCfg aws.Config, log *slog.Logger) (any, error)

// Main is the whole main of a Latchkey function named name: it fits the scheduler, logs as
// name, loads the configuration need asks for and the SDK configuration, builds the handler
// and hands it to the Lambda runtime. A cold start that fails is one log line and exit 1, so
// Lambda reports an init error instead of serving a half-built function.
func Main(name string, need Need, build Build) {
	FitScheduler()
	log := Logger(os.Stdout, name)
	handler, err := start(context.Background(), need, build, log)
	if err != nil {
		log.Error("cold start failed", "err", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}

func start(ctx context.Context, need Need, build Build, log *slog.Logger) (any, error) {
	cfg, err := Load(os.Getenv, need)
	if err != nil {
		return nil, err
	}
	awsCfg, err := AWS(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	return build(ctx, cfg, awsCfg, log)
}
