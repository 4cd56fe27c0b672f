package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/latchkey/latchkey/core/kmssign"
	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestBootstrapIsIdempotent runs the bootstrap twice against the emulators of `make test` and
// checks that the second run reuses the table, key, secret and sender identity of the first.
func TestBootstrapIsIdempotent(t *testing.T) {
	ddb, kmsAPI, sm, ses := testenv.DynamoDB(t), testenv.KMS(t), testenv.SecretsManager(t), testenv.SESv2(t)
	table := testenv.Name("bootstrap")
	alias := "alias/" + testenv.Name("bootstrap")
	secret := testenv.Name("bootstrap") + "/hmac"
	envFile := filepath.Join(t.TempDir(), "state", "env")
	args := []string{"-table", table, "-key-alias", alias, "-secret", secret, "-env-file", envFile}
	t.Setenv("LATCHKEY_RP_ORIGINS", "")
	t.Setenv("LATCHKEY_EMAIL_FROM", "")
	t.Setenv("LATCHKEY_OIDC_CLIENTS", "")

	var first, second bytes.Buffer
	if err := run(t.Context(), args, &first); err != nil {
		t.Fatal(err)
	}
	if err := run(t.Context(), args, &second); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("second run differs:\n%s\nvs\n%s", first.String(), second.String())
	}
	written, err := os.ReadFile(envFile)
	if err != nil || string(written) != first.String() {
		t.Errorf("env file = %q, %v", written, err)
	}

	env := map[string]string{}
	for line := range strings.Lines(first.String()) {
		name, value, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		env[name] = strings.Trim(value, "'")
	}
	for name, want := range map[string]string{
		"LATCHKEY_TABLE": table, "LATCHKEY_ISSUER": "http://localhost:3000", "LATCHKEY_AUDIENCE": "latchkey-local",
		"LATCHKEY_RP_ID": "localhost", "LATCHKEY_RP_ORIGINS": "http://localhost:3000", "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL_DYNAMODB": os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		"AWS_ENDPOINT_URL_SESV2":    os.Getenv("AWS_ENDPOINT_URL_SESV2"),
		"LATCHKEY_EMAIL_FROM":       "no-reply@latchkey.local",
		"LATCHKEY_OIDC_CLIENTS":     defaultOIDCClients,
	} {
		if env[name] != want {
			t.Errorf("%s = %q, want %q", name, env[name], want)
		}
	}

	if _, err := ddb.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Errorf("table: %v", err)
	}
	key, err := kmsAPI.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(key.KeyMetadata.Arn) != env["LATCHKEY_SIGNING_KEYS"] ||
		key.KeyMetadata.KeySpec != kmstypes.KeySpecEccNistP256 || key.KeyMetadata.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		t.Errorf("key = %+v, env %s", key.KeyMetadata, env["LATCHKEY_SIGNING_KEYS"])
	}
	// The ID-token key: RSA_2048 behind its own alias, and one the functions' signer accepts.
	idKey, err := kmsAPI.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(alias + "-id-token")})
	if err != nil {
		t.Fatal(err)
	}
	if arn := aws.ToString(idKey.KeyMetadata.Arn); arn != env["LATCHKEY_ID_TOKEN_KEYS"] || arn == env["LATCHKEY_SIGNING_KEYS"] ||
		idKey.KeyMetadata.KeySpec != kmstypes.KeySpecRsa2048 || idKey.KeyMetadata.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		t.Errorf("ID-token key = %+v, env %s", idKey.KeyMetadata, env["LATCHKEY_ID_TOKEN_KEYS"])
	}
	if keys, err := kmssign.NewIDSigner(kmsAPI, []string{env["LATCHKEY_ID_TOKEN_KEYS"]}).IDKeys(t.Context()); err != nil || len(keys) != 1 {
		t.Errorf("the ID-token key does not load as one: %v", err)
	}
	if _, err := oidc.ParseClients(env["LATCHKEY_OIDC_CLIENTS"]); err != nil {
		t.Errorf("LATCHKEY_OIDC_CLIENTS: %v", err)
	}
	value, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(env["LATCHKEY_SECRET_ID"])})
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(aws.ToString(value.SecretString)); err != nil || len(raw) != 32 {
		t.Errorf("secret is not 32 bytes of base64: %d bytes, %v", len(raw), err)
	}
	checkSender(t, ses, env["LATCHKEY_EMAIL_FROM"])
	// The check means something: the emulator refuses an address no identity covers, as SES does.
	if _, err := ses.SendEmail(t.Context(), &sesv2.SendEmailInput{
		FromEmailAddress: aws.String("no-reply@" + testenv.Name("unverified") + ".example.com"),
		Destination:      &sestypes.Destination{ToAddresses: []string{"someone@example.net"}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("s")}, Body: &sestypes.Body{Text: &sestypes.Content{Data: aws.String("b")}},
		}},
	}); err == nil {
		t.Error("the SES emulator sent from an unverified address")
	}
}

// checkSender requires from to be an address identity of the SES emulator that an email can
// be sent from. (moto reports VerifiedForSendingStatus false for every identity, yet sends
// only from those it holds, so the send is what shows the identity is verified.)
func checkSender(t *testing.T, ses *sesv2.Client, from string) {
	t.Helper()
	id, err := ses.GetEmailIdentity(t.Context(), &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(from)})
	if err != nil {
		t.Fatalf("identity %s: %v", from, err)
	}
	if id.IdentityType != sestypes.IdentityTypeEmailAddress {
		t.Errorf("identity %s: type %s, want EMAIL_ADDRESS", from, id.IdentityType)
	}
	_, err = ses.SendEmail(t.Context(), &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &sestypes.Destination{ToAddresses: []string{"someone@example.net"}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: &sestypes.Content{Data: aws.String("bootstrap test")},
			Body:    &sestypes.Body{Text: &sestypes.Content{Data: aws.String("sent from the bootstrapped identity")}},
		}},
	})
	if err != nil {
		t.Errorf("send from %s: %v", from, err)
	}
}

func TestBootstrapRefusesWithoutEndpoints(t *testing.T) {
	for _, name := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SESV2"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "")
			err := run(t.Context(), nil, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), name+" is not set") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("shellQuote = %s", got)
	}
}

// TestBootstrapHonoursRPOrigins: the origins given to make dev (LATCHKEY_RP_ORIGINS) are the
// ones written to the env, for passkeys and for the gateway's CORS.
func TestBootstrapHonoursRPOrigins(t *testing.T) {
	table := testenv.Name("bootstrap")
	args := []string{"-table", table, "-key-alias", "alias/" + table, "-secret", table + "/hmac"}
	t.Setenv("LATCHKEY_RP_ORIGINS", "http://localhost:3000,http://localhost:5173")
	var out bytes.Buffer
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatal(err)
	}
	if want := "export LATCHKEY_RP_ORIGINS='http://localhost:3000,http://localhost:5173'\n"; !strings.Contains(out.String(), want) {
		t.Fatalf("env %s lacks %q", out.String(), want)
	}
}

// TestBootstrapHonoursEmailFrom: a sender address given in LATCHKEY_EMAIL_FROM (or -email-from)
// is the one verified in the SES emulator and written to the env.
func TestBootstrapHonoursEmailFrom(t *testing.T) {
	ses := testenv.SESv2(t)
	table := testenv.Name("bootstrap")
	args := []string{"-table", table, "-key-alias", "alias/" + table, "-secret", table + "/hmac"}
	for _, c := range []struct {
		env, flag string
	}{
		{env: testenv.Name("from") + "@example.com"},
		{env: "ignored@example.com", flag: testenv.Name("flag") + "@example.com"},
	} {
		t.Setenv("LATCHKEY_EMAIL_FROM", c.env)
		want, runArgs := c.env, args
		if c.flag != "" {
			want, runArgs = c.flag, append(append([]string(nil), args...), "-email-from", c.flag)
		}
		var out bytes.Buffer
		if err := run(t.Context(), runArgs, &out); err != nil {
			t.Fatal(err)
		}
		if line := "export LATCHKEY_EMAIL_FROM='" + want + "'\n"; !strings.Contains(out.String(), line) {
			t.Fatalf("env %s lacks %q", out.String(), line)
		}
		checkSender(t, ses, want)
	}
}

// TestBootstrapGivesConfidentialClientsSecrets: a confidential OpenID client gets a secret in
// the machine clients' secret beside the machine clients', listed in the secrets file; a public
// one gets none; an -id-key-alias names the ID-token key's alias.
func TestBootstrapGivesConfidentialClientsSecrets(t *testing.T) {
	sm, kmsAPI := testenv.SecretsManager(t), testenv.KMS(t)
	name := testenv.Name("bootstrap")
	file := filepath.Join(t.TempDir(), "secrets")
	clients := `[{"id":"web","confidential":true,"redirectUris":["https://app.example.com/cb"],"scopes":["openid"]},` +
		`{"id":"spa","redirectUris":["http://localhost:5173/callback"],"scopes":["openid"]}]`
	args := []string{"-table", name, "-key-alias", "alias/" + name, "-id-key-alias", "alias/" + name + "-rsa", "-secret", name + "/hmac",
		"-machine-secret", name + "/machines", "-machine-clients", `[{"id":"ci","scopes":["echo:read"]}]`,
		"-oidc-clients", clients, "-machine-secrets-file", file}
	var out bytes.Buffer
	if err := run(t.Context(), args, &out); err != nil {
		t.Fatal(err)
	}
	listed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(listed)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ci ") || !strings.HasPrefix(lines[1], "web ") {
		t.Fatalf("secrets file %q, want ci then web", listed)
	}
	value, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name + "/machines")})
	if err != nil {
		t.Fatal(err)
	}
	layout, err := secrets.ParseMachineLayout([]byte(aws.ToString(value.SecretString)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := layout["spa"]; ok || layout["web"].Current != strings.TrimPrefix(lines[1], "web ") || len(layout) != 2 {
		t.Errorf("layout %v", layout)
	}
	if !strings.Contains(out.String(), "export LATCHKEY_OIDC_CLIENTS='"+clients+"'\n") {
		t.Errorf("env %s lacks the clients", out.String())
	}
	key, err := kmsAPI.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String("alias/" + name + "-rsa")})
	if err != nil || !strings.Contains(out.String(), "export LATCHKEY_ID_TOKEN_KEYS='"+aws.ToString(key.KeyMetadata.Arn)+"'\n") {
		t.Errorf("ID-token key by -id-key-alias: %v, env %s", err, out.String())
	}
}

// TestBootstrapRefusesBadOIDCClients: OpenID clients the functions would refuse at their cold
// start stop the bootstrap first, naming the variable, and a client may not take a machine
// client's id.
func TestBootstrapRefusesBadOIDCClients(t *testing.T) {
	name := testenv.Name("bootstrap")
	for _, clients := range []string{
		`[{"id":"x"`,
		`[{"id":"x","redirectUris":["http://app.example.com/cb"],"scopes":["openid"]}]`,
		`[{"id":"local-ci","redirectUris":["https://app.example.com/cb"],"scopes":["openid"]}]`,
	} {
		err := run(t.Context(), []string{"-table", name, "-key-alias", "alias/" + name, "-secret", name,
			"-machine-clients", `[{"id":"local-ci","scopes":["echo:read"]}]`, "-oidc-clients", clients}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_OIDC_CLIENTS") {
			t.Errorf("%s: err = %v", clients, err)
		}
	}
}
