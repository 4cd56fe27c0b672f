package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestPasskeyRoundTrips builds the function as main does and runs sign-up and sign-in against
// DynamoDB Local and the moto KMS, counting the AWS calls: GET /v1/me is a read of the user and
// a query of its passkeys; login-begin is one rate-limit ADD
// and the challenge, whoever asks; login-finish is the take of the challenge, the read of the
// credential and the address's rate-limit ADD (stage 1), then the counter write, the session
// write, the read of the user and one KMS Sign (stage 2).
func TestPasskeyRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h, err := newHandler(ctx, d.Config(t), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p := h.rp
	auth := passkeytest.NewAuthenticator("http://localhost:3000")
	cli := core.Client{IP: "127.0.0.1"}
	email := testenv.Name("alice") + "@example.com"

	store := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table)
	ticket := passkeytest.SignUpTicket(t, store, core.DeriveKey(d.Secret, core.KeySignUpTicket), email, time.Now())

	// register-begin with a sign-up ticket: the address's rate limit and the flow's, and the
	// read of the flow (stage 1), then the challenge.
	calls.Reset()
	start, err := p.BeginSignUp(ctx, passkey.SignUp{Ticket: ticket}, cli)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.GetItem=1 DynamoDB.PutItem=1 DynamoDB.UpdateItem=2"; got != want {
		t.Errorf("register-begin: %s, want %s", got, want)
	}
	opts, _ := json.Marshal(start.Options)
	resp, _, err := auth.Create(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	// register-finish of a sign-up: the take of the challenge and the address's rate limit,
	// the account's limit, the transaction that creates the account and redeems the ticket,
	// then the session and its first token.
	calls.Reset()
	reg, err := p.FinishRegistration(ctx, passkey.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("register-finish (sign-up): %s", calls.String())

	// GET /v1/me reads the user and queries its passkeys, concurrently.
	calls.Reset()
	me, err := p.Me(ctx, core.AccessClaims{Subject: reg.User.ID})
	if err != nil {
		t.Fatal(err)
	}
	if me.ID != reg.User.ID || me.Email != email || me.PasskeyCount != 1 || !me.EmailVerified || me.CreatedAt.IsZero() {
		t.Errorf("Me after sign-up: %+v", me)
	}
	if got, want := calls.String(), "DynamoDB.GetItem=1 DynamoDB.Query=1"; got != want {
		t.Errorf("me: %s, want %s", got, want)
	}

	calls.Reset()
	login, err := p.BeginLogin(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	want := "DynamoDB.PutItem=1 DynamoDB.UpdateItem=1"
	if got := calls.String(); got != want {
		t.Errorf("login-begin: %s, want %s", got, want)
	}

	opts, _ = json.Marshal(login.Options)
	assertion, err := auth.Get(opts, passkeytest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	calls.Reset()
	finish := passkey.LoginFinish{ChallengeID: login.ChallengeID, Credential: assertion, Client: cli}
	if _, err := p.FinishLogin(ctx, finish); err != nil {
		t.Fatal(err)
	}
	want = "DynamoDB.DeleteItem=1 DynamoDB.GetItem=2 DynamoDB.PutItem=1 DynamoDB.UpdateItem=2 KMS.Sign=1"
	if got := calls.String(); got != want {
		t.Errorf("login-finish: %s, want %s", got, want)
	}
	// The replay is refused after the same first stage.
	if _, err := p.FinishLogin(ctx, finish); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("replayed login-finish: %v", err)
	}
}
