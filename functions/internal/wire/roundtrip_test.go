package wire

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/local/testenv"
)

// calls counts SDK operations as "Service.Operation", through a middleware on every client
// built from the config: the same clients the functions use, instrumented.
type calls struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *calls) instrument(cfg *aws.Config) {
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.counts[awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	})
}

func (c *calls) reset() { c.mu.Lock(); c.counts = map[string]int{}; c.mu.Unlock() }

func (c *calls) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, v := range c.counts {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestRoundTrips counts the AWS calls of a refresh and of a warm authorizer decision against
// DynamoDB Local and the moto KMS.
func TestRoundTrips(t *testing.T) {
	ctx := context.Background()
	awsCfg := testenv.AWSConfig(t, "AWS_ENDPOINT_URL_DYNAMODB")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS")
	table := testenv.Name("rt")
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), table); err != nil {
		t.Fatal(err)
	}
	key, err := kms.NewFromConfig(awsCfg).CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	secretName := testenv.Name("rt")
	secretValue := strings.Repeat("s", 40)
	secret, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &secretName, SecretString: &secretValue})
	if err != nil {
		t.Fatal(err)
	}
	cfg := boot.Config{
		Table: table, Issuer: "http://127.0.0.1", Audience: "api", SigningKeys: []string{*key.KeyMetadata.Arn},
		SecretID: *secret.ARN, AccessTTL: 10 * time.Minute, SessionTTL: 24 * time.Hour, SessionIdle: time.Hour, Grace: 10 * time.Second,
	}
	c := &calls{counts: map[string]int{}}
	c.instrument(&awsCfg)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	deps := NewDeps(ctx, cfg, awsCfg, log)
	sessions, err := Sessions(ctx, cfg, awsCfg, deps, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := deps.Store.CreateUser(ctx, core.User{ID: "u-rt"}); err != nil {
		t.Fatal(err)
	}
	tr, err := sessions.Start(ctx, core.StartRequest{UserID: "u-rt", Client: core.Client{IP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}

	c.reset()
	tr, err = sessions.Refresh(ctx, tr.RefreshToken, core.Client{IP: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	// One conditional write rotates the session; the two rate-limit counters (per address and
	// per session) are atomic ADDs issued together with the one KMS Sign.
	want := "DynamoDB.UpdateItem=3 KMS.Sign=1"
	if got := c.String(); got != want {
		t.Errorf("refresh: %s, want %s", got, want)
	}

	// A warm authorizer: keys were loaded at cold start; a decision is one strongly
	// consistent BatchGetItem and no KMS call.
	authz := Authenticator(NewDeps(ctx, cfg, awsCfg, log), log)
	c.reset()
	if _, err := authz.Authenticate(ctx, tr.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got := c.String(); got != "DynamoDB.BatchGetItem=1" {
		t.Errorf("warm authorizer decision: %s, want DynamoDB.BatchGetItem=1", got)
	}
}
