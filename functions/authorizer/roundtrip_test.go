package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestDecisionRoundTrips builds the authorizer as main does, against DynamoDB Local and the
// moto KMS: the public keys load at cold start, so a warm decision is one strongly consistent
// BatchGetItem and no KMS call; an API key's is one strongly consistent GetItem, and none for a
// key whose checksum is wrong.
func TestDecisionRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	cfg := d.Config(t)

	// A live session and its access token, made as the sessions function makes them.
	store := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table)
	now := time.Now()
	if err := store.CreateUser(ctx, core.User{ID: "u-rt", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	sess := core.Session{ID: core.NewID(), UserID: "u-rt", AuthTime: now, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour), Generation: 1, RotatedAt: now}
	if err := store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	minter := &core.Minter{Signer: kmssign.New(kms.NewFromConfig(d.AWS), cfg.SigningKeys), Issuer: cfg.Issuer, Audience: cfg.Audience, ClientID: cfg.ClientID, TTL: cfg.AccessTTL}
	token, _, err := minter.Issue(ctx, sess, now)
	if err != nil {
		t.Fatal(err)
	}

	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h := newHandler(ctx, cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if got, want := calls.String(), "KMS.GetPublicKey=1"; got != want {
		t.Errorf("cold start: %s, want %s", got, want)
	}
	calls.Reset()
	out, err := h.Handle(ctx, []byte(`{"version":"2.0","type":"REQUEST","headers":{"authorization":"Bearer `+token+`"}}`))
	if r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse); err != nil || !ok || !r.IsAuthorized {
		t.Fatalf("decision: %#v %v", out, err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1"; got != want {
		t.Errorf("warm decision: %s, want %s", got, want)
	}

	// An API key: one strongly consistent GetItem decides; the first use (and then at most one
	// a minute) adds the conditional UpdateItem of lastUsedAt; a key with a bad checksum costs
	// nothing at all.
	keys := &apikey.Keys{Store: store, Audit: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now, Env: cfg.APIKeyEnv, Max: cfg.APIKeysMax, ReauthMaxAge: time.Minute}
	made, err := keys.Create(ctx, core.AccessClaims{Subject: "u-rt", AuthTime: now}, apikey.CreateRequest{Name: "rt"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(what, key string, allow bool, want string) {
		t.Helper()
		calls.Reset()
		out, err := h.Handle(ctx, []byte(`{"version":"2.0","type":"REQUEST","headers":{"x-api-key":"`+key+`"}}`))
		if r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse); err != nil || !ok || r.IsAuthorized != allow {
			t.Fatalf("%s: %#v %v, want authorized %v", what, out, err, allow)
		}
		if got := calls.String(); got != want {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	decide("first use of a key", made.Key, true, "DynamoDB.GetItem=1 DynamoDB.UpdateItem=1")
	decide("a key used within the minute", made.Key, true, "DynamoDB.GetItem=1")
	bad := []byte(made.Key) // another base62 character in the check: only the checksum is wrong
	if bad[len(bad)-1] = '0'; made.Key[len(bad)-1] == '0' {
		bad[len(bad)-1] = '1'
	}
	decide("a bad checksum", string(bad), false, "")
	if err := keys.Delete(ctx, core.AccessClaims{Subject: "u-rt"}, made.APIKey.ID, core.Client{}); err != nil {
		t.Fatal(err)
	}
	decide("a deleted key", made.Key, false, "DynamoDB.GetItem=1")
}
