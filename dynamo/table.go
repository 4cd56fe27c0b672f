package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// tableWait bounds how long CreateTable waits for a new table to become ACTIVE.
const tableWait = 2 * time.Minute

// CreateTable creates the Latchkey table named table as the schema needs it: string keys pk/sk,
// the gsi1 index (gsi1pk/gsi1sk, all attributes projected), on-demand billing, and TTL on
// expiresAt. It is idempotent: an existing table is left as it is, except that TTL is turned
// on if it is off. It returns once the table is ACTIVE.
//
// The local bootstrap and the tests use it; deployed tables come from the CDK stack in infra/.
func CreateTable(ctx context.Context, api *dynamodb.Client, table string) error {
	const op core.Op = "dynamo.CreateTable"
	_, err := api.CreateTable(ctx, tableDefinition(table))
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return classify(op, err, core.KindInternal)
	}
	waiter := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 500 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, tableWait); err != nil {
		return classify(op, err, core.KindInternal)
	}
	return enableTTL(ctx, op, api, table)
}

// tableDefinition is the CreateTable request for the Latchkey table.
func tableDefinition(table string) *dynamodb.CreateTableInput {
	str := func(name string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{str(attrPK), str(attrSK), str(attrGSI1PK), str(attrGSI1SK)},
		KeySchema:            key(attrPK, attrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName:  aws.String(indexGSI1),
			KeySchema:  key(attrGSI1PK, attrGSI1SK),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	}
}

// enableTTL turns on TTL on expiresAt unless it is already on. TTL on another attribute is an
// error: the table was not made for Latchkey.
func enableTTL(ctx context.Context, op core.Op, api *dynamodb.Client, table string) error {
	desc, err := api.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return classify(op, err, core.KindInternal)
	}
	if ttl := desc.TimeToLiveDescription; ttl != nil {
		switch ttl.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			if name := aws.ToString(ttl.AttributeName); name != attrExpiresAt {
				return core.Wrap(op, fmt.Errorf("table %s has TTL on %q, want %q", table, name, attrExpiresAt))
			}
			return nil
		}
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return classify(op, err, core.KindInternal)
	}
	return nil
}
