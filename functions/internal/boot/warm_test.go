package boot

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

func TestOpenDynamoDBLeavesAPooledConnection(t *testing.T) {
	var conns, gets atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/" && r.Header.Get("Authorization") == "" {
			gets.Add(1)
		}
		w.Write([]byte("healthy: dynamodb"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cfg, err := AWS(context.Background(), lambdaEnv(map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := OpenDynamoDB(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	// The first call (its answer is not DynamoDB's; only the connection matters) reuses it.
	db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("t")})
	if gets.Load() != 1 || conns.Load() != 1 {
		t.Errorf("%d unsigned GET / and %d connections, want 1 and 1", gets.Load(), conns.Load())
	}
}
