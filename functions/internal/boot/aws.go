package boot

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
)

// AWS loads the SDK configuration from the Lambda environment. Endpoints for the local
// emulators come from the SDK's standard AWS_ENDPOINT_URL_<SERVICE> variables. Retries are
// bounded so a failing dependency turns into a 503 well inside the function timeout.
func AWS(ctx context.Context) (aws.Config, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.MaxBackoff = 200 * time.Millisecond
		})
	}))
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws config: %w", err)
	}
	return cfg, nil
}
