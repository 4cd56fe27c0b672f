package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/functions/internal/fntest"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestRefreshRoundTrips builds the function as main does, against DynamoDB Local and the moto
// KMS, and counts the AWS calls of a refresh: first the per-address rate-limit counter (an
// atomic ADD) and one strongly consistent BatchGetItem of the session and its user, together;
// then the one KMS Sign; then one conditional write rotates the session and counts the
// rotation against the per-session limit, which is kept on the session (no counter call of
// its own). A refresh refused on the first stage — throttled, of a revoked session, replayed —
// makes no KMS call. A warm Bearer check is one strongly consistent BatchGetItem.
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
	start := func(t *testing.T) core.TokenResponse {
		t.Helper()
		tr, err := h.sessions.Start(ctx, core.StartRequest{UserID: "u-rt", Client: cli})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	// refresh presents token and checks the calls it made and its error's kind (none: ok).
	refresh := func(t *testing.T, what, token string, wantCalls string, wantKind core.Kind, wantErr bool) core.TokenResponse {
		t.Helper()
		calls.Reset()
		tr, err := h.sessions.Refresh(ctx, token, cli)
		switch {
		case wantErr && core.KindOf(err) != wantKind:
			t.Fatalf("%s: %v, want kind %v", what, err, wantKind)
		case !wantErr && err != nil:
			t.Fatalf("%s: %v", what, err)
		}
		if got := calls.String(); got != wantCalls {
			t.Errorf("%s: %s, want %s", what, got, wantCalls)
		}
		return tr
	}

	first := start(t)
	second := refresh(t, "refresh", first.RefreshToken, "DynamoDB.BatchGetItem=1 DynamoDB.UpdateItem=2 KMS.Sign=1", 0, false)
	// A retry of the spent token within the grace window: the same successor, signed again, no
	// rotation write.
	retried := refresh(t, "retry within grace", first.RefreshToken, "DynamoDB.BatchGetItem=1 DynamoDB.UpdateItem=1 KMS.Sign=1", 0, false)
	if retried.RefreshToken != second.RefreshToken {
		t.Error("a retry within grace got a different successor")
	}

	calls.Reset()
	if _, err := h.verifier.Authenticate(ctx, second.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1"; got != want {
		t.Errorf("warm Bearer check: %s, want %s", got, want)
	}

	// Refused on the first stage, with no KMS call.
	limits := h.sessions.TokenBySession
	h.sessions.TokenBySession = core.Rule{Name: limits.Name, Limit: 0, Window: time.Minute}
	refresh(t, "throttled refresh", second.RefreshToken, "DynamoDB.BatchGetItem=1 DynamoDB.UpdateItem=1", core.KindRateLimited, true)
	h.sessions.TokenBySession = limits

	revoked := start(t)
	if err := h.sessions.Revoke(ctx, revoked.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	refresh(t, "refresh of a revoked session", revoked.RefreshToken, "DynamoDB.BatchGetItem=1 DynamoDB.UpdateItem=1", core.KindUnauthenticated, true)

	replayed := start(t)
	if _, err := h.sessions.Refresh(ctx, replayed.RefreshToken, cli); err != nil {
		t.Fatal(err)
	}
	grace := h.sessions.Grace
	h.sessions.Grace = 0 // the replay below is then past the grace window at once
	// The replay revokes the session: one more UpdateItem, and still no KMS call.
	refresh(t, "replay", replayed.RefreshToken, "DynamoDB.BatchGetItem=1 DynamoDB.UpdateItem=2", core.KindUnauthenticated, true)
	h.sessions.Grace = grace
}

// TestThrottledRefreshDoesNotWaitForAHungKMS: with KMS accepting connections and never
// answering, a refresh that is over its rate limit still answers 429 at once, because nothing
// of a refused refresh waits for the signature.
func TestThrottledRefreshDoesNotWaitForAHungKMS(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	cfg := d.Config(t)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	// A session and its refresh token, issued while KMS works.
	h, err := newHandler(ctx, cfg, d.AWS, log)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := h.sessions.Start(ctx, core.StartRequest{UserID: "u-hung", Client: core.Client{IP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}

	// The same deployment, with KMS hung (the cold start's key load gives up after its bound).
	t.Setenv("AWS_ENDPOINT_URL_KMS", testenv.HungEndpoint(t))
	hung, err := newHandler(ctx, cfg, testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS"), log)
	if err != nil {
		t.Fatal(err)
	}
	hung.sessions.TokenByIP = core.Rule{Name: cfg.Limits.TokenByIP.Name, Limit: 0, Window: time.Minute}
	// The deadline only ends a refresh that wrongly waits for KMS.
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	began := time.Now()
	_, err = hung.sessions.Refresh(dctx, tr.RefreshToken, core.Client{IP: "127.0.0.1"})
	took := time.Since(began)
	if !core.Is(err, core.KindRateLimited) {
		t.Fatalf("throttled refresh with KMS hung: %v, want rate limited", err)
	}
	if took > 5*time.Second {
		t.Fatalf("a throttled refresh took %s with KMS hung, want an answer at once", took)
	}
}

// TestOwnSessionsRoundTrips counts the AWS calls of the caller's own sessions, after the Bearer
// check: the listing is a Query of gsi1 with one strongly consistent BatchGetItem of the user
// (for its "log out other devices" cut-off) beside it, and "log out other devices" is one
// UpdateItem of the user, whatever the number of sessions.
func TestOwnSessionsRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h, err := newHandler(ctx, d.Config(t), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table).CreateUser(ctx, core.User{ID: "u-own"}); err != nil {
		t.Fatal(err)
	}
	var cur core.TokenResponse
	for range 3 {
		if cur, err = h.sessions.Start(ctx, core.StartRequest{UserID: "u-own", Client: core.Client{IP: "127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := h.verifier.Authenticate(ctx, cur.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	calls.Reset()
	list, err := h.sessions.List(ctx, c)
	if err != nil || len(list) != 3 {
		t.Fatalf("List: %d sessions, %v; want 3", len(list), err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1 DynamoDB.Query=1"; got != want {
		t.Errorf("listing: %s, want %s", got, want)
	}

	calls.Reset()
	if err := h.sessions.EndOthers(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.UpdateItem=1"; got != want {
		t.Errorf("log out other devices: %s, want %s", got, want)
	}
	if list, err = h.sessions.List(ctx, c); err != nil || len(list) != 1 || list[0].ID != cur.SessionID {
		t.Fatalf("List after log-out-others: %d sessions, %v; want the current one", len(list), err)
	}
}

// TestAPIKeyRoundTrips counts the AWS calls of the caller's API keys, after the Bearer check:
// a create is a strongly consistent Query of the caller's keys (for the expired ones it
// cleans up) and one TransactWriteItems; the listing a strongly consistent Query and one
// BatchGetItem of the keys' lookup items (for lastUsedAt); a delete one GetItem of the
// listing item and one TransactWriteItems.
func TestAPIKeyRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h, err := newHandler(ctx, d.Config(t), awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table).CreateUser(ctx, core.User{ID: "u-keys"}); err != nil {
		t.Fatal(err)
	}
	tr, err := h.sessions.Start(ctx, core.StartRequest{UserID: "u-keys", Client: core.Client{IP: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.verifier.Authenticate(ctx, tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	step := func(what, want string, run func() error) {
		t.Helper()
		calls.Reset()
		if err := run(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := calls.String(); got != want {
			t.Errorf("%s: %s, want %s", what, got, want)
		}
	}
	var made apikey.Created
	step("create", "DynamoDB.Query=1 DynamoDB.TransactWriteItems=1", func() (err error) {
		made, err = h.keys.Create(ctx, c, apikey.CreateRequest{Name: "ci"}, core.Client{IP: "127.0.0.1"})
		return err
	})
	step("list", "DynamoDB.BatchGetItem=1 DynamoDB.Query=1", func() error {
		keys, err := h.keys.List(ctx, c)
		if err == nil && len(keys) != 1 {
			t.Errorf("listed %d keys, want 1", len(keys))
		}
		return err
	})
	step("delete", "DynamoDB.GetItem=1 DynamoDB.TransactWriteItems=1", func() error {
		return h.keys.Delete(ctx, c, made.APIKey.ID, core.Client{IP: "127.0.0.1"})
	})
}

// TestClientCredentialsRoundTrips counts the AWS calls of the client_credentials grant: the two
// rate-limit counters (per address, per client) and, on the first request of an instance or
// once its copy is LATCHKEY_MACHINE_SECRET_MAX_AGE old, one GetSecretValue of the machine
// clients' secret, together; then the one KMS Sign. Nothing else is written: no session, no
// refresh token. A refused secret makes no KMS call. The machine token's check is one strongly
// consistent BatchGetItem (of its jti alone).
func TestClientCredentialsRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	layout := secrets.MachineLayout{}
	secret, _ := layout.Create("ci")
	name, value := testenv.Name("machines"), string(layout.Marshal())
	out, err := secretsmanager.NewFromConfig(d.AWS).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.Config(t)
	cfg.MachineClients = []boot.MachineClient{{ID: "ci", Scopes: []string{"orders:read"}, Enabled: true}}
	cfg.MachineSecretID = *out.ARN
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	h, err := newHandler(ctx, cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cli := core.Client{IP: "127.0.0.1"}
	issue := func(what, secret, wantCalls string, wantErr bool) core.TokenResponse {
		t.Helper()
		calls.Reset()
		tr, err := h.machines.Issue(ctx, "ci", secret, "", cli)
		if (err != nil) != wantErr {
			t.Fatalf("%s: %v", what, err)
		}
		if got := calls.String(); got != wantCalls {
			t.Errorf("%s: %s, want %s", what, got, wantCalls)
		}
		return tr
	}
	issue("first grant of the instance", secret, "DynamoDB.UpdateItem=2 KMS.Sign=1 Secrets Manager.GetSecretValue=1", false)
	tr := issue("warm grant", secret, "DynamoDB.UpdateItem=2 KMS.Sign=1", false)
	issue("wrong secret", "wrong", "DynamoDB.UpdateItem=2", true)

	calls.Reset()
	if _, err := h.verifier.AuthenticateAny(ctx, tr.AccessToken); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1"; got != want {
		t.Errorf("machine token check: %s, want %s", got, want)
	}
}

// TestCodeExchangeRoundTrips counts the AWS calls of the authorization_code grant, built as
// main builds it against DynamoDB Local and the moto KMS: first the per-address counter and
// the code's conditional take (two UpdateItem, together); then the session's write beside the
// two signatures (the access token's ES256, the ID token's RS256) and the read of the user's
// state. A replayed code: the counter and the failed take, then the revocation of the session
// the first exchange opened, and no KMS call.
func TestCodeExchangeRoundTrips(t *testing.T) {
	ctx := context.Background()
	d := fntest.NewDeployment(t)
	awsCfg := d.AWS
	calls := testenv.CountCalls(&awsCfg)
	cfg := d.Config(t, map[string]string{"LATCHKEY_OIDC_CLIENTS": `[{"id":"spa","redirectUris":["https://spa.example/cb"],"scopes":["openid"]}]`})
	h, err := newHandler(ctx, cfg, awsCfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(dynamodb.NewFromConfig(d.AWS), d.Table)
	if err := store.CreateUser(ctx, core.User{ID: "u-code"}); err != nil {
		t.Fatal(err)
	}
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	code := strings.Repeat("c", 43)
	if err := store.PutCode(ctx, oidc.Code{
		Hash: oidc.HashOf(code), ClientID: "spa", RedirectURI: "https://spa.example/cb", Scope: "openid", UserID: "u-code",
		CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), AuthTime: time.Now(), SessionID: core.NewID(), ExpiresAt: time.Now().Add(time.Minute),
	}); err != nil {
		t.Fatal(err)
	}
	in := oidc.ExchangeInput{ClientID: "spa", Code: code, CodeVerifier: verifier, RedirectURI: "https://spa.example/cb", Client: core.Client{IP: "127.0.0.1"}}
	calls.Reset()
	if _, err := h.exchanger.Exchange(ctx, in); err != nil {
		t.Fatal(err)
	}
	if got, want := calls.String(), "DynamoDB.BatchGetItem=1 DynamoDB.PutItem=1 DynamoDB.UpdateItem=2 KMS.Sign=2"; got != want {
		t.Errorf("exchange: %s, want %s", got, want)
	}
	calls.Reset()
	if _, err := h.exchanger.Exchange(ctx, in); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("replayed code: %v", err)
	}
	if got, want := calls.String(), "DynamoDB.UpdateItem=3"; got != want {
		t.Errorf("replayed code: %s, want %s", got, want)
	}
}
