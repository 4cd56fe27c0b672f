// Package fntest sets up what the functions' own tests need from the local emulators: the
// resources of a deployment and the configuration a function would read from its
// environment, so that a test builds a function exactly as its main does.
package fntest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/latchkey/latchkey/dynamo"
	"github.com/latchkey/latchkey/functions/internal/boot"
	"github.com/latchkey/latchkey/local/testenv"
)

// Deployment is a fresh set of the resources a deployed stack gives the functions: a table, the
// KMS signing keys of access tokens (ES256) and ID tokens (RSA_2048), the HMAC secret and a
// verified SES sender address, made in the local emulators.
type Deployment struct {
	AWS       aws.Config
	Table     string
	KeyARN    string
	IDKeyARN  string // LATCHKEY_ID_TOKEN_KEYS
	SecretARN string
	EmailFrom string // LATCHKEY_EMAIL_FROM: an address identity of moto's SES, its own per deployment
	// Secret is the HMAC secret's value, which the functions key their hashes with.
	Secret []byte
}

// NewDeployment creates a Deployment in DynamoDB Local and moto, failing the test if either is
// not configured (AWS_ENDPOINT_URL_DYNAMODB, _KMS, _SECRETS_MANAGER and _SESV2).
func NewDeployment(t testing.TB) Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	awsCfg := testenv.AWSConfig(t, "AWS_ENDPOINT_URL_DYNAMODB")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_KMS")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	testenv.AWSConfig(t, "AWS_ENDPOINT_URL_SESV2")
	d := Deployment{AWS: awsCfg, Table: testenv.Name("fn")}
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(awsCfg), d.Table); err != nil {
		t.Fatal(err)
	}
	kmsAPI := kms.NewFromConfig(awsCfg)
	key, err := kmsAPI.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	d.KeyARN = *key.KeyMetadata.Arn
	idKey, err := kmsAPI.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	d.IDKeyARN = *idKey.KeyMetadata.Arn
	name, value := testenv.Name("fn"), strings.Repeat("s", 40)
	secret, err := secretsmanager.NewFromConfig(awsCfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatal(err)
	}
	d.SecretARN, d.Secret = *secret.ARN, []byte(value)
	d.EmailFrom = "no-reply@" + testenv.Name("fn") + ".example.com"
	if _, err := sesv2.NewFromConfig(awsCfg).CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: &d.EmailFrom}); err != nil {
		t.Fatal(err)
	}
	return d
}

// Config is the configuration a function of this deployment loads from its environment, read
// by boot.Load itself (so the defaults and limits are the real ones): issuer
// http://127.0.0.1, audience "api", the relying party of http://localhost:3000, the
// deployment's sender address and its ID-token key, with the settings of extra on top.
func (d Deployment) Config(t testing.TB, extra ...map[string]string) boot.Config {
	t.Helper()
	env := map[string]string{
		"LATCHKEY_TABLE": d.Table, "LATCHKEY_ISSUER": "http://127.0.0.1", "LATCHKEY_AUDIENCE": "api",
		"LATCHKEY_SIGNING_KEYS": d.KeyARN, "LATCHKEY_ID_TOKEN_KEYS": d.IDKeyARN, "LATCHKEY_SECRET_ID": d.SecretARN,
		"LATCHKEY_RP_ID": "localhost", "LATCHKEY_RP_ORIGINS": "http://localhost:3000", "LATCHKEY_RP_NAME": "Latchkey",
		"LATCHKEY_EMAIL_FROM": d.EmailFrom,
	}
	for _, e := range extra {
		for k, v := range e {
			env[k] = v
		}
	}
	cfg, err := boot.Load(func(k string) string { return env[k] }, boot.Need{Secret: true, RP: true, Email: true, IDToken: true})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
