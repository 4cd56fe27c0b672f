package dynamo

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/local/testenv"
)

// The package's tests share one fresh table in DynamoDB Local, created by the first test that
// needs it and deleted by TestMain.
var shared struct {
	once   sync.Once
	client *dynamodb.Client
	table  string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.client != nil && shared.err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _ = shared.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(shared.table)})
		cancel()
	}
	os.Exit(code)
}

// testTable returns a client for DynamoDB Local and the name of the package's table, failing
// the test if DynamoDB Local is not configured.
func testTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	client := testenv.DynamoDB(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared.client, shared.table = client, testenv.Name("t")
		shared.err = CreateTable(ctx, client, shared.table)
	})
	if shared.err != nil {
		t.Fatalf("CreateTable: %v", shared.err)
	}
	return shared.client, shared.table
}

// testStore returns a Store on the package's table.
func testStore(t *testing.T) *Store {
	client, table := testTable(t)
	return New(client, table)
}

func TestChallengeStore(t *testing.T) {
	passkeytest.TestChallengeStore(t, func(t *testing.T) passkey.ChallengeStore { return testStore(t) })
}

func TestTokenDenylist(t *testing.T) {
	coretest.TestTokenDenylist(t, func(t *testing.T) coretest.DenylistStore { return testStore(t) })
}

func TestCounters(t *testing.T) {
	coretest.TestCounters(t, func(t *testing.T) core.Counters { return testStore(t) })
}

func TestSessionStore(t *testing.T) {
	coretest.TestSessionStore(t, func(t *testing.T) core.SessionStore { return testStore(t) })
}

func TestUserStore(t *testing.T) {
	coretest.TestUserStore(t, func(t *testing.T) coretest.UserStore { return testStore(t) })
}

func TestAccessStates(t *testing.T) {
	coretest.TestAccessStates(t, func(t *testing.T) coretest.AccessStore { return testStore(t) })
}
