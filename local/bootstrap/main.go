// Command bootstrap prepares the local emulators for Latchkey: it creates the table in DynamoDB
// Local, the ES256 access-token signing key and the RSA_2048 ID-token signing key (each with an
// alias) in the KMS emulator, the HMAC secret in the Secrets Manager emulator, the machine
// clients' secret (a secret for each declared machine client and each confidential OpenID
// client) and the verified sender identity of the emails in the SES emulator
// (which, as SES does, refuses to send from an address no verified identity covers), reusing
// whatever already exists. It then prints the environment the functions need as shell export
// lines, and writes them to -env-file when given.
//
// It only talks to the endpoints in AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KMS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_SESV2, with region us-east-1 and the
// dummy credentials local/local; it refuses to run when one of them is unset, so it can never
// touch a real account.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/latchkey/latchkey/core/oidc"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/dynamo"
)

// The local stack's fixed identity.
const (
	region          = "us-east-1"
	accessKeyID     = "local"
	secretAccessKey = "local"
)

// endpointVars are the SDK's per-service endpoint variables the bootstrap insists on.
var endpointVars = []string{"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL_SESV2"}

// defaultMachineClients are the local stack's machine clients: one CI job that may read
// /local/echo (LATCHKEY_ROUTE_SCOPES='{"GET /local/echo":["echo:read"]}' make dev enforces it).
const defaultMachineClients = `[{"id":"local-ci","scopes":["echo:read"]}]`

// defaultOIDCClients are the local stack's OpenID clients: local-rp, a public client (PKCE, no
// secret) for the example relying party at /local/rp/ and for a developer's app on
// http://localhost:5173.
const defaultOIDCClients = `[{"id":"local-rp","name":"Latchkey example app",` +
	`"redirectUris":["http://localhost:3000/local/rp/callback","http://localhost:5173/callback"],` +
	`"postLogoutRedirectUris":["http://localhost:3000/local/rp/","http://localhost:5173/"],` +
	`"scopes":["openid","email","profile","offline_access"]}]`

// defaultEmailFrom is the From address of the local stack's emails. The .local domain is
// reserved (RFC 6762), so no mail to or from it could ever leave the machine.
const defaultEmailFrom = "no-reply@latchkey.local"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		slog.Error("bootstrap failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	table := flags.String("table", "latchkey-local", "DynamoDB table name")
	keyAlias := flags.String("key-alias", "alias/latchkey-local", "KMS alias of the access-token signing key (ES256)")
	idKeyAlias := flags.String("id-key-alias", "", "KMS alias of the ID-token signing key (RS256; default the -key-alias with -id-token appended)")
	secretName := flags.String("secret", "latchkey/local/hmac", "Secrets Manager name of the HMAC secret")
	// The issuer is the demo page's origin, so that an OIDC or JOSE client configured with the
	// page's origin accepts the tokens (the gateway listens on 127.0.0.1, which localhost is).
	issuer := flags.String("issuer", "http://localhost:3000", "LATCHKEY_ISSUER")
	// The origins that may use passkeys and get CORS: the demo page's, or the developer's own
	// (LATCHKEY_RP_ORIGINS=http://localhost:3000,http://localhost:5173 make dev).
	originsDefault := os.Getenv("LATCHKEY_RP_ORIGINS")
	if originsDefault == "" {
		originsDefault = "http://localhost:3000"
	}
	origins := flags.String("origins", originsDefault, "LATCHKEY_RP_ORIGINS, comma separated (default $LATCHKEY_RP_ORIGINS, else http://localhost:3000)")
	// The From address of the emails, verified as an identity of its own in the SES emulator.
	fromDefault := os.Getenv("LATCHKEY_EMAIL_FROM")
	if fromDefault == "" {
		fromDefault = defaultEmailFrom
	}
	emailFrom := flags.String("email-from", fromDefault, "LATCHKEY_EMAIL_FROM, the verified sender address (default $LATCHKEY_EMAIL_FROM, else "+defaultEmailFrom+")")
	// The application's name, which authenticators show and the emails are signed with.
	nameDefault := os.Getenv("LATCHKEY_RP_NAME")
	if nameDefault == "" {
		nameDefault = "Latchkey (local)"
	}
	rpName := flags.String("rp-name", nameDefault, "LATCHKEY_RP_NAME (default $LATCHKEY_RP_NAME, else \"Latchkey (local)\")")
	machineName := flags.String("machine-secret", "latchkey/local/machines", "Secrets Manager name of the machine clients' secrets")
	clientsDefault := os.Getenv("LATCHKEY_MACHINE_CLIENTS")
	if clientsDefault == "" {
		clientsDefault = defaultMachineClients
	}
	machineClients := flags.String("machine-clients", clientsDefault, "LATCHKEY_MACHINE_CLIENTS (default $LATCHKEY_MACHINE_CLIENTS, else local-ci with scope echo:read); each gets a secret")
	oidcDefault := os.Getenv("LATCHKEY_OIDC_CLIENTS")
	if oidcDefault == "" {
		oidcDefault = defaultOIDCClients
	}
	oidcClients := flags.String("oidc-clients", oidcDefault, "LATCHKEY_OIDC_CLIENTS (default $LATCHKEY_OIDC_CLIENTS, else the public client local-rp); each confidential client gets a secret")
	machineFile := flags.String("machine-secrets-file", "", "write the current secret of each machine client and confidential OpenID client to this file, one \"<id> <secret>\" line each")
	envFile := flags.String("env-file", "", "also write the export lines to this file")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *idKeyAlias == "" {
		*idKeyAlias = *keyAlias + "-id-token"
	}
	withSecrets, err := clientsWithSecrets(*machineClients, *oidcClients)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cfg, err := localConfig(ctx)
	if err != nil {
		return err
	}
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(cfg), *table); err != nil {
		return fmt.Errorf("table %s: %w", *table, err)
	}
	kmsAPI := kms.NewFromConfig(cfg)
	keyARN, err := ensureSigningKey(ctx, kmsAPI, *keyAlias, kmstypes.KeySpecEccNistP256, "Latchkey local ES256 access-token signing key")
	if err != nil {
		return fmt.Errorf("signing key %s: %w", *keyAlias, err)
	}
	idKeyARN, err := ensureSigningKey(ctx, kmsAPI, *idKeyAlias, kmstypes.KeySpecRsa2048, "Latchkey local RS256 ID-token signing key")
	if err != nil {
		return fmt.Errorf("ID-token key %s: %w", *idKeyAlias, err)
	}
	secretARN, err := ensureSecret(ctx, secretsmanager.NewFromConfig(cfg), *secretName)
	if err != nil {
		return fmt.Errorf("secret %s: %w", *secretName, err)
	}
	if err := ensureEmailIdentity(ctx, sesv2.NewFromConfig(cfg), *emailFrom); err != nil {
		return fmt.Errorf("email identity %s: %w", *emailFrom, err)
	}
	machineARN, clientSecrets, err := ensureMachineSecrets(ctx, secretsmanager.NewFromConfig(cfg), *machineName, withSecrets)
	if err != nil {
		return fmt.Errorf("machine secret %s: %w", *machineName, err)
	}
	if *machineFile != "" {
		var b strings.Builder
		for _, kv := range clientSecrets {
			fmt.Fprintf(&b, "%s %s\n", kv[0], kv[1])
		}
		if err := writeFile(*machineFile, b.String()); err != nil {
			return err
		}
	}

	env := [][2]string{
		{"LATCHKEY_TABLE", *table},
		{"LATCHKEY_ISSUER", *issuer},
		{"LATCHKEY_AUDIENCE", "latchkey-local"},
		{"LATCHKEY_SIGNING_KEYS", keyARN},
		{"LATCHKEY_ID_TOKEN_KEYS", idKeyARN},
		{"LATCHKEY_SECRET_ID", secretARN},
		{"LATCHKEY_RP_ID", "localhost"},
		{"LATCHKEY_RP_ORIGINS", *origins},
		{"LATCHKEY_RP_NAME", *rpName},
		{"LATCHKEY_EMAIL_FROM", *emailFrom},
		{"LATCHKEY_MACHINE_CLIENTS", *machineClients},
		{"LATCHKEY_OIDC_CLIENTS", *oidcClients},
		{"LATCHKEY_MACHINE_SECRET_ID", machineARN},
	}
	for _, name := range endpointVars {
		env = append(env, [2]string{name, os.Getenv(name)})
	}
	env = append(env,
		[2]string{"AWS_REGION", region},
		[2]string{"AWS_ACCESS_KEY_ID", accessKeyID},
		[2]string{"AWS_SECRET_ACCESS_KEY", secretAccessKey},
	)
	var b strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if *envFile != "" {
		if err := writeFile(*envFile, b.String()); err != nil {
			return err
		}
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// localConfig is the SDK config for the emulators; it fails when an endpoint is unset.
func localConfig(ctx context.Context) (aws.Config, error) {
	for _, name := range endpointVars {
		if os.Getenv(name) == "" {
			return aws.Config{}, fmt.Errorf("%s is not set; bootstrap only talks to the local emulators", name)
		}
	}
	return config.LoadDefaultConfig(ctx,
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")),
	)
}

// ensureSigningKey returns the ARN of the key behind alias, creating a SIGN_VERIFY key of spec
// and the alias when the alias does not exist.
func ensureSigningKey(ctx context.Context, api *kms.Client, alias string, spec kmstypes.KeySpec, description string) (string, error) {
	desc, err := api.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(alias)})
	if err == nil {
		return aws.ToString(desc.KeyMetadata.Arn), nil
	}
	var notFound *kmstypes.NotFoundException
	if !errors.As(err, &notFound) {
		return "", err
	}
	created, err := api.CreateKey(ctx, &kms.CreateKeyInput{
		KeySpec:     spec,
		KeyUsage:    kmstypes.KeyUsageTypeSignVerify,
		Description: aws.String(description),
	})
	if err != nil {
		return "", err
	}
	_, err = api.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: created.KeyMetadata.KeyId})
	if err != nil {
		return "", err
	}
	return aws.ToString(created.KeyMetadata.Arn), nil
}

// clientsWithSecrets returns the ids of the clients that authenticate with a secret: every
// machine client of machineClients (the LATCHKEY_MACHINE_CLIENTS JSON) and every confidential
// client of oidcClients (LATCHKEY_OIDC_CLIENTS, validated as the functions validate it), in
// that order. Their secrets share the machine clients' secret, as in a deployment.
func clientsWithSecrets(machineClients, oidcClients string) ([]string, error) {
	var declared []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(machineClients), &declared); err != nil {
		return nil, fmt.Errorf("LATCHKEY_MACHINE_CLIENTS: %w", err)
	}
	ids := []string{}
	for _, c := range declared {
		ids = append(ids, c.ID)
	}
	// The first-party public client's id (LATCHKEY_CLIENT_ID, latchkey locally) and the machine
	// clients' are taken.
	clients, err := oidc.ParseClients(oidcClients, append([]string{"latchkey"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var confidential []string
	for id, c := range clients {
		if c.Confidential {
			confidential = append(confidential, id)
		}
	}
	slices.Sort(confidential)
	return append(ids, confidential...), nil
}

// ensureSecret returns the ARN of the secret name, creating it with a random 32-byte value in
// base64 when it does not exist.
func ensureSecret(ctx context.Context, api *secretsmanager.Client, name string) (string, error) {
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err == nil {
		return aws.ToString(desc.ARN), nil
	}
	var notFound *smtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		return "", err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	created, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		Description:  aws.String("Latchkey local HMAC key for refresh tokens"),
		SecretString: aws.String(base64.StdEncoding.EncodeToString(key)),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(created.ARN), nil
}

// ensureMachineSecrets returns the ARN of the machine clients' secret name, creating it as {}
// (as the stacks do) when it does not exist, and gives every client of ids that has none a
// secret, as `make machine-secret STEP=create` would. It returns each client's current secret,
// in the order of ids, for the developer.
func ensureMachineSecrets(ctx context.Context, api *secretsmanager.Client, name string, ids []string) (string, [][2]string, error) {
	arn := ""
	desc, err := api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var notFound *smtypes.ResourceNotFoundException
	switch {
	case err == nil:
		arn = aws.ToString(desc.ARN)
	case errors.As(err, &notFound):
		created, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(name),
			Description:  aws.String("Latchkey local machine clients' secrets"),
			SecretString: aws.String("{}"),
		})
		if err != nil {
			return "", nil, err
		}
		arn = aws.ToString(created.ARN)
	default:
		return "", nil, err
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", nil, err
	}
	layout, err := secrets.ParseMachineLayout([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		return "", nil, err
	}
	changed := false
	var given [][2]string
	for _, id := range ids {
		if _, ok := layout[id]; !ok {
			if _, err := layout.Create(id); err != nil {
				return "", nil, err
			}
			changed = true
		}
		given = append(given, [2]string{id, layout[id].Current})
	}
	if changed {
		if _, err := api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(string(layout.Marshal()))}); err != nil {
			return "", nil, err
		}
	}
	return arn, given, nil
}

// ensureEmailIdentity makes address a sending identity of the SES emulator unless it is one
// already. moto sends from an identity as soon as it exists (real SES waits until the link
// of its verification email is followed), which is all the local stack needs.
func ensureEmailIdentity(ctx context.Context, api *sesv2.Client, address string) error {
	_, err := api.GetEmailIdentity(ctx, &sesv2.GetEmailIdentityInput{EmailIdentity: aws.String(address)})
	if err == nil {
		return nil
	}
	var notFound *sestypes.NotFoundException
	if !errors.As(err, &notFound) {
		return err
	}
	_, err = api.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(address)})
	var exists *sestypes.AlreadyExistsException
	if errors.As(err, &exists) {
		return nil // made by a bootstrap running beside this one
	}
	return err
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeFile writes data to path atomically, creating the folder.
func writeFile(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
