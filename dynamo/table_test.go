package dynamo

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/local/testenv"
)

func TestCreateTable(t *testing.T) {
	client := testenv.DynamoDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := testenv.Name("create")
	t.Cleanup(func() {
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	for i := range 2 { // the second call finds the table and must succeed
		if err := CreateTable(ctx, client, table); err != nil {
			t.Fatalf("CreateTable #%d: %v", i+1, err)
		}
	}

	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	got := desc.Table
	if got.TableStatus != types.TableStatusActive {
		t.Errorf("status %s, want ACTIVE", got.TableStatus)
	}
	if got.BillingModeSummary == nil || got.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing %+v, want PAY_PER_REQUEST", got.BillingModeSummary)
	}
	wantKeys(t, "table", got.KeySchema, attrPK, attrSK)
	if len(got.GlobalSecondaryIndexes) != 1 || aws.ToString(got.GlobalSecondaryIndexes[0].IndexName) != indexGSI1 {
		t.Fatalf("indexes %+v, want exactly %s", got.GlobalSecondaryIndexes, indexGSI1)
	}
	gsi := got.GlobalSecondaryIndexes[0]
	wantKeys(t, indexGSI1, gsi.KeySchema, attrGSI1PK, attrGSI1SK)
	if gsi.Projection == nil || gsi.Projection.ProjectionType != types.ProjectionTypeAll {
		t.Errorf("%s projection %+v, want ALL", indexGSI1, gsi.Projection)
	}

	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != attrExpiresAt {
		t.Errorf("TTL %+v, want ENABLED on %s", d, attrExpiresAt)
	}
}

func wantKeys(t *testing.T, what string, schema []types.KeySchemaElement, hash, rng string) {
	t.Helper()
	want := []types.KeySchemaElement{
		{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
		{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
	}
	if len(schema) != 2 {
		t.Fatalf("%s key schema %+v, want %s/%s", what, schema, hash, rng)
	}
	for i := range want {
		if aws.ToString(schema[i].AttributeName) != aws.ToString(want[i].AttributeName) || schema[i].KeyType != want[i].KeyType {
			t.Errorf("%s key schema %+v, want %s/%s", what, schema, hash, rng)
		}
	}
}
