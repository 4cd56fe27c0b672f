package boot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// OpenDynamoDB opens a connection to the DynamoDB endpoint of c at cold start and leaves it in
// the pool of c's own HTTP client, so the first request does not pay the TCP and TLS
// handshakes. It sends one unsigned GET /, which DynamoDB answers (its health check) without
// an API call; the endpoint is the one c's calls resolve to (the regional endpoint, or
// AWS_ENDPOINT_URL_DYNAMODB), resolved through c's own resolver. Any answer will do: the
// status is not looked at, only the connection is kept. OpenDynamoDBBeside runs it beside the
// other cold-start reads.
func OpenDynamoDB(ctx context.Context, c *dynamodb.Client) error {
	o := c.Options()
	if o.EndpointResolverV2 == nil || o.HTTPClient == nil {
		return nil
	}
	e, err := o.EndpointResolverV2.ResolveEndpoint(ctx, dynamodb.EndpointParameters{
		Region:                aws.String(o.Region),
		Endpoint:              o.BaseEndpoint,
		UseFIPS:               aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack:          aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
		AccountIdEndpointMode: aws.String(string(o.AccountIDEndpointMode)),
	})
	if err != nil {
		return fmt.Errorf("resolving the DynamoDB endpoint: %w", err)
	}
	u := e.URI
	u.Path, u.RawPath, u.RawQuery = "/", "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := o.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	// Read the (short) answer to its end so that the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// OpenDynamoDBBeside starts OpenDynamoDB beside the other cold-start reads (PreloadBeside) and
// returns a wait for it; a failure is only logged: the first request opens the connection then.
func OpenDynamoDBBeside(ctx context.Context, log *slog.Logger, c *dynamodb.Client) (wait func()) {
	return PreloadBeside(ctx, log, "DynamoDB connection", func(ctx context.Context) error { return OpenDynamoDB(ctx, c) })
}
