package boot

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

func lambdaEnv(extra map[string]string) func(string) string {
	m := map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret"}
	for k, v := range extra {
		m[k] = v
	}
	return env(m)
}

type countingResolver struct {
	calls atomic.Int32
	next  dynamodb.EndpointResolverV2
}

func (c *countingResolver) ResolveEndpoint(ctx context.Context, p dynamodb.EndpointParameters) (smithyendpoints.Endpoint, error) {
	c.calls.Add(1)
	return c.next.ResolveEndpoint(ctx, p)
}

func TestServiceOptionsDynamoDB(t *testing.T) {
	cfg, err := AWS(context.Background(), lambdaEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	o := dynamodb.NewFromConfig(cfg).Options()
	if !o.DisableValidateResponseChecksum {
		t.Error("the DynamoDB client validates response CRC32s")
	}
	if _, ok := o.EndpointResolverV2.(*cachedEndpoint[dynamodb.EndpointParameters]); !ok {
		t.Errorf("DynamoDB endpoint resolver %T, want the cached one", o.EndpointResolverV2)
	}
	if _, ok := kms.NewFromConfig(cfg).Options().EndpointResolverV2.(*cachedEndpoint[kms.EndpointParameters]); !ok {
		t.Error("the KMS endpoint resolver is not the cached one")
	}
}

func TestCachedEndpointResolvesOncePerKey(t *testing.T) {
	ctx := context.Background()
	next := &countingResolver{next: dynamodb.NewDefaultEndpointResolverV2()}
	c := &cachedEndpoint[dynamodb.EndpointParameters]{next: next, key: dynamoEndpointKey}
	params := func(region, table string) dynamodb.EndpointParameters {
		return dynamodb.EndpointParameters{Region: aws.String(region), UseFIPS: aws.Bool(false), UseDualStack: aws.Bool(false),
			AccountIdEndpointMode: aws.String(""), ResourceArn: aws.String(table)}
	}
	for _, table := range []string{"a", "b", "a"} {
		e, err := c.ResolveEndpoint(ctx, params("eu-west-1", table))
		if err != nil {
			t.Fatal(err)
		}
		if got := e.URI.String(); got != "https://dynamodb.eu-west-1.amazonaws.com" {
			t.Errorf("table %s: %s", table, got)
		}
	}
	if n := next.calls.Load(); n != 1 {
		t.Errorf("%d resolutions for one region and three table names, want 1", n)
	}
	if e, _ := c.ResolveEndpoint(ctx, params("us-east-1", "a")); e.URI.Host != "dynamodb.us-east-1.amazonaws.com" || next.calls.Load() != 2 {
		t.Errorf("another region: %s after %d resolutions", e.URI.String(), next.calls.Load())
	}
	// A table ARN may select another endpoint: never from the cache.
	arn := params("us-east-1", "arn:aws:dynamodb:us-east-1:123456789012:table/t")
	c.ResolveEndpoint(ctx, arn)
	c.ResolveEndpoint(ctx, arn)
	if n := next.calls.Load(); n != 4 {
		t.Errorf("%d resolutions after two by ARN, want 4", n)
	}
	local := params("us-east-1", "a")
	local.Endpoint = aws.String("http://127.0.0.1:8000")
	if e, _ := c.ResolveEndpoint(ctx, local); e.URI.String() != "http://127.0.0.1:8000" {
		t.Errorf("base endpoint: %s", e.URI.String())
	}
}
