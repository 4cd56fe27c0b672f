package main

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestRefreshRoundTrips builds the function as main does, against DynamoDB Local and the moto
// KMS, and counts the AWS calls of a refresh: one conditional write rotates the session, and
// the two rate-limit counters (per address and per session) are atomic ADDs issued together
// with the one KMS Sign. A warm Bearer check is one strongly consistent BatchGetItem.
func TestRefreshRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h, err := newHandler(ctx, d.Config(t), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table).CreateUser(ctx, core.User{ID: "u-rt"}); err != nil {
		t.Fatal(err)
	}
	cli := core.Client{IP: "127.0.0.1"}
	tr, err := h.sessions.Start(ctx, core.StartRequest{UserID: "u-rt", Client: cli})
	if err != nil {
		t.Fatal(err)
	}

	calls.Reset()
	if tr, err = h.sessions.Refresh(ctx, tr.RefreshToken, cli); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.UpdateItem=3 KMS.Sign=1"; got != want {
		t.Errorf("refresh: %s, want %s", got, want)
	}

	calls.Reset()
	if _, err := h.verifier.Authenticate(ctx, tr.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1"; got != want {
		t.Errorf("warm Bearer check: %s, want %s", got, want)
	}
}
