// Package dynamo is Latchkey's DynamoDB adapter: the single-table schema (docs/architecture.md,
// single-table items) and the Store that implements core's storage ports on it.
//
// DynamoDB deletes expired items late (typically within two days), so every read and every
// conditional write here compares expiresAt with the caller's now itself; the table's TTL is
// only garbage collection.
package dynamo

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
)

// API is the part of the DynamoDB client the Store uses. *dynamodb.Client satisfies it; tests
// wrap it to count round trips or inject failures.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store implements core's storage ports, and those of the use cases under core/ (which it
// satisfies structurally, never importing them, but for oidc.Store, whose methods take
// core/oidc's types), on one DynamoDB table. It holds no state of its own and is safe for
// concurrent use.
type Store struct {
	api   API
	table string
}

var (
	_ core.TokenDenylist = (*Store)(nil)
	_ core.Counters      = (*Store)(nil)
	_ core.SessionStore  = (*Store)(nil)
	_ core.AccessStates  = (*Store)(nil)
)

// New returns a Store on the table named table, reached through api.
func New(api API, table string) *Store {
	return &Store{api: api, table: table}
}
