package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
)

// DescribeTableAPI is the one call Ping makes.
type DescribeTableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Ping checks that DynamoDB answers for table; the readiness probe calls it.
func Ping(ctx context.Context, api DescribeTableAPI, table string) error {
	if _, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table}); err != nil {
		return core.E("dynamo.Ping", core.KindUnavailable, "storage unavailable", err)
	}
	return nil
}
