package wire

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestPasskeyRoundTrips runs sign-up and sign-in through the wired Passkeys against DynamoDB
// Local and the moto KMS, and counts the AWS calls: login-finish is the take of the challenge,
// the read of the credential and two rate-limit ADDs (stage 1), then the counter write, the
// session write, the read of the user and one KMS Sign (stage 2). Login-begin makes the same
// calls for an email no account holds as for a real one.
func TestPasskeyRoundTrips(t *testing.T) {
	ctx := context.Background()
	awsCfg := testenv.AWSConfig(t, "AWS_ENDPOINT_URL_DYNAMODB")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS")
	table := testenv.Name("pk")
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), table); err != nil {
		t.Fatal(err)
	}
	key, err := kms.NewFromConfig(awsCfg).CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	secretName, secretValue := testenv.Name("pk"), strings.Repeat("s", 40)
	secret, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &secretName, SecretString: &secretValue})
	if err != nil {
		t.Fatal(err)
	}
	cfg := boot.Config{
		Table: table, Issuer: "http://127.0.0.1", Audience: "api", SigningKeys: []string{*key.KeyMetadata.Arn},
		SecretID: *secret.ARN, RPID: "localhost", RPOrigins: []string{"http://localhost:3000"}, RPName: "Latchkey", Attestation: "none",
		AccessTTL: 10 * time.Minute, SessionTTL: 24 * time.Hour, SessionIdle: time.Hour, Grace: 10 * time.Second,
	}
	c := &calls{counts: map[string]int{}}
	c.instrument(&awsCfg)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	p, err := Passkeys(ctx, cfg, awsCfg, NewDeps(ctx, cfg, awsCfg, log), log)
	if err != nil {
		t.Fatal(err)
	}
	auth := coretest.NewAuthenticator("http://localhost:3000")
	cli := core.Client{IP: "127.0.0.1"}
	email := testenv.Name("alice") + "@example.com"

	start, err := p.BeginSignUp(ctx, core.SignUp{Email: email}, cli)
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(start.Options)
	resp, _, err := auth.Create(opts, coretest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, core.RegistrationFinish{ChallengeID: start.ChallengeID, Credential: resp, Client: cli}); err != nil {
		t.Fatal(err)
	}

	beginCalls := map[string]string{}
	var login core.LoginStart
	for _, who := range []string{email, "nobody-" + email} {
		c.reset()
		ls, err := p.BeginLogin(ctx, who, cli)
		if err != nil {
			t.Fatal(err)
		}
		beginCalls[who] = c.String()
		if who == email {
			login = ls
		}
	}
	want := "DynamoDB.GetItem=1 DynamoDB.PutItem=1 DynamoDB.Query=1 DynamoDB.UpdateItem=2"
	for who, got := range beginCalls {
		if got != want {
			t.Errorf("login-begin for %s: %s, want %s", who, got, want)
		}
	}

	opts, _ = json.Marshal(login.Options)
	assertion, err := auth.Get(opts, coretest.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	c.reset()
	if _, err := p.FinishLogin(ctx, login.ChallengeID, assertion, cli); err != nil {
		t.Fatal(err)
	}
	want = "DynamoDB.DeleteItem=1 DynamoDB.GetItem=2 DynamoDB.PutItem=1 DynamoDB.UpdateItem=3 KMS.Sign=1"
	if got := c.String(); got != want {
		t.Errorf("login-finish: %s, want %s", got, want)
	}
	// The replay is refused after the same first stage.
	if _, err := p.FinishLogin(ctx, login.ChallengeID, assertion, cli); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("replayed login-finish: %v", err)
	}
}
