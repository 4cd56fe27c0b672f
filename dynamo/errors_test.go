package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/local/testenv"
)

func TestClassify(t *testing.T) {
	const secret = "arn:aws:dynamodb:us-east-1:123456789012:table/prod"
	opErr := func(err error) error {
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: err}
	}
	serverError := func(status int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New(secret)}
	}
	for _, tc := range []struct {
		name string
		err  error
		want core.Kind
	}{
		{"condition failed", opErr(&types.ConditionalCheckFailedException{Message: aws.String(secret)}), core.KindConflict},
		{"provisioned throughput", opErr(&types.ProvisionedThroughputExceededException{Message: aws.String(secret)}), core.KindUnavailable},
		{"request limit", opErr(&types.RequestLimitExceeded{Message: aws.String(secret)}), core.KindUnavailable},
		{"throttling", opErr(&smithy.GenericAPIError{Code: "ThrottlingException", Message: secret}), core.KindUnavailable},
		{"internal server error", opErr(&types.InternalServerError{Message: aws.String(secret)}), core.KindUnavailable},
		{"HTTP 503", opErr(serverError(http.StatusServiceUnavailable)), core.KindUnavailable},
		{"retries exhausted", opErr(&retry.MaxAttemptsError{Attempt: 3, Err: errors.New(secret)}), core.KindUnavailable},
		{"deadline", opErr(fmt.Errorf("send: %w", context.DeadlineExceeded)), core.KindUnavailable},
		{"canceled", opErr(&smithy.CanceledError{Err: context.Canceled}), core.KindUnavailable},
		{"connection refused", opErr(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}), core.KindUnavailable},
		{"validation", opErr(&smithy.GenericAPIError{Code: "ValidationException", Message: secret}), core.KindInternal},
		{"missing table", opErr(&types.ResourceNotFoundException{Message: aws.String(secret)}), core.KindInternal},
		{"HTTP 400", opErr(serverError(http.StatusBadRequest)), core.KindInternal},
		{"plain", errors.New(secret), core.KindInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classify("test", tc.err, core.KindConflict)
			if got := core.KindOf(err); got != tc.want {
				t.Fatalf("kind %v, want %v (%v)", got, tc.want, err)
			}
			if !errors.Is(err, tc.err) {
				t.Error("the cause is not kept for the logs")
			}
			if d := core.DetailOf(err); strings.Contains(d, "arn:") || (tc.want == core.KindUnavailable && d != detailUnavailable) {
				t.Errorf("detail %q", d)
			}
		})
	}
}

// failingAPI answers every call with err.
type failingAPI struct{ err error }

func (f failingAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return nil, f.err
}

func (f failingAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, f.err
}

func (f failingAPI) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, f.err
}

func (f failingAPI) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}

func (f failingAPI) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return nil, f.err
}

func (f failingAPI) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return nil, f.err
}

func (f failingAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, f.err
}

// portCalls calls every port method of store (core's, passkey's, recovery's and oidc's) once and returns their errors
// by name.
func portCalls(ctx context.Context, store *Store) map[string]error {
	_, take := store.TakeChallenge(ctx, "id", now)
	_, hit := store.Hit(ctx, "key", time.Minute, now)
	_, getSession := store.GetSession(ctx, "sid", now)
	_, _, rotate := store.RotateRefresh(ctx, "sid", 1, now, now.Add(time.Hour), core.RefreshCount{Window: now, Count: 1})
	_, reauth := store.Reauthenticate(ctx, "sid", "uid", now, []string{"hwk"}, now)
	_, list := store.UserSessions(ctx, "uid", now)
	_, getUser := store.GetUser(ctx, "uid")
	_, state := store.AccessState(ctx, "sid", "jti", "uid", now)
	pk := core.Passkey{ID: "Y3JlZA", UserID: "uid", PublicKey: []byte{1}, CreatedAt: now}
	_, getPasskey := store.GetPasskey(ctx, pk.ID)
	_, userPasskeys := store.UserPasskeys(ctx, "uid")
	_, byEmail := store.UserIDByEmail(ctx, "a@example.com")
	_, rename := store.RenamePasskey(ctx, "uid", pk.ID, "name")
	flow := core.EmailFlow{ID: "fid", Purpose: core.FlowSignUp, Email: "a@example.com", CodeHash: []byte{1}, TriesLeft: 5, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	rec := core.PendingRecovery{UserID: "uid", Method: "email", StartedAt: now, AvailableAt: now, ExpiresAt: now.Add(time.Hour), TicketHash: []byte{2}}
	redeem := core.Redemption{ID: "uid", TicketHash: []byte{2}, At: now}
	_, spendTry := store.SpendTry(ctx, "fid", now)
	_, getFlow := store.GetFlow(ctx, "fid", now)
	_, getRecovery := store.GetRecovery(ctx, "uid", now)
	_, spendCode := store.SpendRecoveryCode(ctx, []byte{3}, rec)
	var hash oidc.Hash
	_, getRequest := store.GetRequest(ctx, "rid", now)
	_, takeRequest := store.TakeRequest(ctx, "rid", hash, now)
	_, takeCode := store.TakeCode(ctx, hash, now, now.Add(time.Hour))
	_, getProviderSession := store.GetProviderSession(ctx, hash, now)
	return map[string]error{
		"PutChallenge":      store.PutChallenge(ctx, core.Challenge{ID: "id", Ceremony: core.CeremonyLogin, ExpiresAt: now.Add(time.Minute)}, now),
		"TakeChallenge":     take,
		"DenyToken":         store.DenyToken(ctx, "jti", now.Add(time.Minute)),
		"Hit":               hit,
		"CreateSession":     store.CreateSession(ctx, core.Session{ID: "sid", UserID: "uid", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}),
		"GetSession":        getSession,
		"RotateRefresh":     rotate,
		"Reauthenticate":    reauth,
		"RevokeSession":     store.RevokeSession(ctx, "sid", now),
		"UserSessions":      list,
		"EndSessionsBefore": store.EndSessionsBefore(ctx, "uid", now, "sid"),
		"CreateUser":        store.CreateUser(ctx, core.User{ID: "uid", Email: "a@example.com", CreatedAt: now}),
		"GetUser":           getUser,
		"AccessState":       state,
		"CreateAccount":     store.CreateAccount(ctx, core.User{ID: "uid", CreatedAt: now}, pk, core.Redemption{}),
		"AddPasskey":        store.AddPasskey(ctx, pk),
		"GetPasskey":        getPasskey,
		"UserPasskeys":      userPasskeys,
		"UserIDByEmail":     byEmail,
		"RecordUse":         store.RecordUse(ctx, pk.ID, "uid", core.PasskeyUse{SignCount: 1, At: now}),
		"RenamePasskey":     rename,
		"DeletePasskey":     store.DeletePasskey(ctx, "uid", pk.ID),

		"CreateAccount redeeming":   store.CreateAccount(ctx, core.User{ID: "uid", CreatedAt: now}, pk, core.Redemption{ID: "fid", TicketHash: []byte{2}, At: now}),
		"AddRecoveredPasskey":       store.AddRecoveredPasskey(ctx, pk, redeem, "sid"),
		"PutFlow":                   store.PutFlow(ctx, flow, now),
		"SpendTry":                  spendTry,
		"VerifySignUp":              store.VerifySignUp(ctx, "fid", []byte{2}, now.Add(time.Hour), now),
		"GetFlow":                   getFlow,
		"StartRecovery":             store.StartRecovery(ctx, rec, "", now),
		"StartRecovery with a flow": store.StartRecovery(ctx, rec, "fid", now),
		"GetRecovery":               getRecovery,
		"CancelRecovery":            store.CancelRecovery(ctx, "uid", []byte{4}, now),
		"ReplaceRecoveryCodes":      store.ReplaceRecoveryCodes(ctx, "uid", "set", [][]byte{{3}}),
		"SpendRecoveryCode":         spendCode,

		"PutRequest":            store.PutRequest(ctx, oidc.Request{ID: "rid", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}),
		"GetRequest":            getRequest,
		"TakeRequest":           takeRequest,
		"PutCode":               store.PutCode(ctx, oidc.Code{Hash: hash, ExpiresAt: now.Add(time.Minute)}),
		"TakeCode":              takeCode,
		"PutProviderSession":    store.PutProviderSession(ctx, oidc.ProviderSession{Hash: hash, ExpiresAt: now.Add(time.Hour)}),
		"GetProviderSession":    getProviderSession,
		"DeleteProviderSession": store.DeleteProviderSession(ctx, hash),
	}
}

func wantUnavailable(t *testing.T, errs map[string]error) {
	t.Helper()
	for name, err := range errs {
		if !core.Is(err, core.KindUnavailable) || core.DetailOf(err) != detailUnavailable {
			t.Errorf("%s: got %v, want unavailable with detail %q", name, err, detailUnavailable)
		}
	}
}

// A throttled table is a 503, not a 500, on every port method.
func TestThrottlingIsUnavailable(t *testing.T) {
	throttled := &smithy.OperationError{ServiceID: "DynamoDB", Err: &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}}
	wantUnavailable(t, portCalls(context.Background(), New(failingAPI{throttled}, "t")))
}

// rawClient is a DynamoDB client for endpoint that does not need DynamoDB Local.
func rawClient(endpoint string, attempts int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: attempts,
	})
}

// Nothing listens on port 1: the connection is refused.
func TestEndpointDownIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wantUnavailable(t, portCalls(ctx, New(rawClient("http://127.0.0.1:1", 1), "t")))
}

// An endpoint that accepts connections and never answers must not hang the caller past its
// deadline: the context ends the call and the error is unavailable, with the SDK's default
// retries in place.
func TestEndpointHungIsUnavailable(t *testing.T) {
	hung := testenv.HungEndpoint(t)

	store := New(rawClient(hung, 0), "t")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := store.TakeChallenge(ctx, "id", now)
	if elapsed := time.Since(begin); elapsed > 2*time.Second {
		t.Errorf("TakeChallenge returned after %v, want soon after the 300ms deadline", elapsed)
	}
	wantUnavailable(t, map[string]error{"TakeChallenge": err})
}
