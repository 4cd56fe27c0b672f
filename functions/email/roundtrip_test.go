package main

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/recovery"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestEmailRoundTrips builds the function as main does and runs sign-up verification, an
// email recovery and recovery codes against DynamoDB Local and moto's KMS, Secrets Manager and
// SES, counting the AWS calls of each route:
//
//   - email/begin: the three rate limits (concurrently), the read of the address's sentinel,
//     then the flow and the email (concurrently);
//   - email/verify of a sign-up: the address's limit, the try, the verification;
//   - email/verify of a recovery: the limit, the try, the transaction that starts the
//     recovery and consumes the flow, the owner's notice;
//   - recovery-codes: the transaction that replaces the set, then the query for the earlier
//     set's codes (none the first time);
//   - recovery/codes/verify: the limit, the read of the code, the transaction that spends it
//     and starts the recovery, the owner's read and notice.
func TestEmailRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	bodies := recordBodies(&awsCfg)
	h, err := newHandler(ctx, d.Config(t), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h.desk.BeginFloor = 0
	desk := h.desk
	cli := core.Client{IP: "127.0.0.1"}
	code := regexp.MustCompile(`\b\d{6}\b`)

	expect := func(what, want string) {
		t.Helper()
		if got := calls.String(); got != want {
			t.Errorf("%s: %s, want %s", what, got, want)
		}
		calls.Reset()
	}

	email := testenv.Name("new") + "@example.com"
	calls.Reset()
	start, err := desk.Begin(ctx, recovery.BeginRequest{Email: email, Purpose: "signup"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	expect("email/begin", "DynamoDB.GetItem=1 DynamoDB.PutItem=1 DynamoDB.UpdateItem=3 SESv2.SendEmail=1")
	if _, err := desk.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code.FindString(bodies.last())}, cli); err != nil {
		t.Fatal(err)
	}
	expect("email/verify (sign-up)", "DynamoDB.UpdateItem=3")

	// An account to recover (seeded: the passkeys function's tests cover sign-up).
	uid := core.NewID()
	owner := testenv.Name("owner") + "@example.com"
	seedUser(t, d, core.User{ID: uid, Email: owner})
	calls.Reset()
	start, err = desk.Begin(ctx, recovery.BeginRequest{Email: owner, Purpose: "recovery"}, cli)
	if err != nil {
		t.Fatal(err)
	}
	calls.Reset()
	v, err := desk.Verify(ctx, recovery.VerifyRequest{FlowID: start.FlowID, Code: code.FindString(bodies.last())}, cli)
	if err != nil || v.RecoveryTicket == "" {
		t.Fatalf("Verify of a recovery: %+v %v", v, err)
	}
	expect("email/verify (recovery)", "DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=2 SESv2.SendEmail=1")

	claims := core.AccessClaims{Subject: uid, SessionID: core.NewID(), AuthTime: desk.Now()}
	codes, err := desk.NewRecoveryCodes(ctx, claims, cli)
	if err != nil {
		t.Fatal(err)
	}
	expect("recovery-codes", "DynamoDB.Query=1 DynamoDB.TransactWriteItems=1")
	if _, err := desk.VerifyRecoveryCode(ctx, codes[0], cli); err != nil {
		t.Fatal(err)
	}
	expect("recovery/codes/verify", "DynamoDB.GetItem=2 DynamoDB.TransactWriteItems=1 DynamoDB.UpdateItem=1 SESv2.SendEmail=1")
	// A code that cannot be one costs nothing.
	if _, err := desk.VerifyRecoveryCode(ctx, "not a code", cli); err == nil {
		t.Fatal("a malformed code was accepted")
	}
	expect("recovery/codes/verify (malformed)", "")
}

// sentBodies keeps the text bodies of the emails sent through a config, read from the
// SendEmail requests.
type sentBodies struct {
	mu    sync.Mutex
	texts []string
}

func (s *sentBodies) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.texts) == 0 {
		return ""
	}
	return s.texts[len(s.texts)-1]
}

func recordBodies(cfg *aws.Config) *sentBodies {
	s := &sentBodies{}
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("bodies", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if p, ok := in.Parameters.(*sesv2.SendEmailInput); ok && p.Content != nil && p.Content.Simple != nil && p.Content.Simple.Body.Text != nil {
				s.mu.Lock()
				s.texts = append(s.texts, aws.ToString(p.Content.Simple.Body.Text.Data))
				s.mu.Unlock()
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	})
	return s
}

// seedUser stores u in the deployment's table, as the dev tool seeds users.
func seedUser(t *testing.T, d fntest.Deployment, u core.User) {
	t.Helper()
	if err := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table).CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}
