package main

import "strings"

// Function describes one Lambda function of the stack: the directory its code lives in, the
// HTTP API routes it serves and exactly the AWS permissions its code uses. The catalog below is
// the single source of truth for the CDK stack; template.yaml is written by hand and
// parity_test.go holds it to the same routes and permissions.
type Function struct {
	// Name is the directory under functions/ and, in PascalCase plus "Function", the construct
	// id and the SAM logical id (the Makefile's build-%Function rule relies on that).
	Name        string
	Description string
	// Enabled puts the function into the deployed stack and into template.yaml. A function is
	// enabled once functions/<Name>/main.go exists; parity_test.go checks that.
	Enabled bool
	Routes  []Route
	Grants  []Grant
	// Settings are the parameters of settings.go whose variables the function reads, on top
	// of the environment every function gets.
	Settings []string
	// IDToken gives the function LATCHKEY_ID_TOKEN_KEYS, the ARN of the ID-token key: the
	// functions that publish it, sign ID tokens with it or read its public half (boot's
	// Need.IDToken).
	IDToken bool
	// Alerts are the audit events (alerts in settings.go) the function logs that page.
	Alerts []string
	// Authorizer marks the Lambda authorizer for the team's other APIs: API Gateway in this
	// account may invoke it, and its ARN is a stack output and export.
	Authorizer bool
}

// Route is one HTTP API route, with the path in API Gateway syntax ({id} for a parameter).
type Route struct {
	Method string
	Path   string
}

// Resource names a resource of the stack that a Grant applies to.
type Resource string

// The resources a function can be granted actions on.
const (
	SigningKey Resource = "SigningKey" // the KMS key that signs access tokens (ES256)
	IDTokenKey Resource = "IdTokenKey" // the KMS key that signs ID tokens (RS256)
	HmacSecret Resource = "HmacSecret" // the Secrets Manager secret with the HMAC key
	// MachineSecret is the Secrets Manager secret with the machine clients' secrets, created as
	// {} and filled by `make machine-secret` (docs/deploy.md).
	MachineSecret Resource = "MachineSecret"
	Table         Resource = "Table"        // the DynamoDB table itself
	TableIndexes  Resource = "TableIndexes" // the table's indexes (<table arn>/index/*)
	// EmailIdentity is the verified SES identity the emails are sent as: the EmailIdentity
	// parameter (a domain or an address), or the EmailFrom address itself when that is empty.
	// It is not a resource of the stack: the operator verifies it in SES (docs/deploy.md).
	EmailIdentity Resource = "EmailIdentity"
)

// Grant is one IAM statement: Actions allowed on one Resource.
type Grant struct {
	On      Resource
	Actions []string
}

// Token-issuing functions sign with the KMS key and read the HMAC secret; verifying-only
// functions get kms:GetPublicKey and nothing else on the key (docs/security.md, least privilege).
// Only the function that issues ID tokens (sessions, at the code exchange) signs with the
// ID-token key; those that publish it or read its public half get kms:GetPublicKey.
var (
	signAndVerify   = Grant{SigningKey, []string{"kms:Sign", "kms:GetPublicKey"}}
	signIDTokens    = Grant{IDTokenKey, []string{"kms:Sign", "kms:GetPublicKey"}}
	readIDTokenKeys = Grant{IDTokenKey, []string{"kms:GetPublicKey"}}
	readSecret      = Grant{HmacSecret, []string{"secretsmanager:GetSecretValue"}}
	// sendEmail lets a function send as the configured sender identity and no other.
	sendEmail = Grant{EmailIdentity, []string{"ses:SendEmail"}}
)

// catalog lists every function the design knows, enabled or not, in deployment order.
var catalog = []Function{
	{
		Name:        "wellknown",
		Description: "Latchkey JWKS, OpenID discovery and health",
		Enabled:     true,
		Routes: []Route{
			{"GET", "/.well-known/jwks.json"},
			{"GET", "/.well-known/openid-configuration"},
			{"GET", "/.well-known/oauth-authorization-server"},
			{"GET", "/health"},
			{"GET", "/health/ready"},
		},
		Grants: []Grant{
			{SigningKey, []string{"kms:GetPublicKey", "kms:DescribeKey"}},
			readIDTokenKeys,
			{Table, []string{"dynamodb:DescribeTable"}},
		},
		// The JWKS publishes the ID-token keys; the metadata lists the users' scopes.
		IDToken:  true,
		Settings: []string{"UserScopes"},
	},
	{
		Name:        "sessions",
		Description: "Latchkey refresh, logout, revocation, introspection and own sessions",
		Enabled:     true,
		Routes: []Route{
			{"POST", "/v1/token"},
			{"POST", "/v1/logout"},
			{"POST", "/v1/revoke"},
			{"POST", "/v1/introspect"},
			{"GET", "/v1/me/sessions"},
			{"DELETE", "/v1/me/sessions/{id}"},
			{"DELETE", "/v1/me/sessions"},
			{"POST", "/v1/me/api-keys"},
			{"GET", "/v1/me/api-keys"},
			{"DELETE", "/v1/me/api-keys/{id}"},
		},
		Grants: []Grant{
			signAndVerify,
			// It signs the ID tokens of the authorization_code grant.
			signIDTokens,
			readSecret,
			// It authenticates the machine clients of the client_credentials grant, and the
			// confidential OpenID clients of the authorization_code grant.
			{MachineSecret, []string{"secretsmanager:GetSecretValue"}},
			{Table, []string{
				"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
				// API keys: the delete transaction, and the strongly consistent listing of the
				// caller's keys in their partition of the base table.
				"dynamodb:DeleteItem", "dynamodb:Query",
			}},
			{TableIndexes, []string{"dynamodb:Query"}},
		},
		Settings: []string{"AccessTtl", "SessionTtl", "SessionIdle", "RefreshGrace", "ReauthMaxAge", "ClientId", "IntrospectionClients",
			"LimitTokenByIp", "LimitTokenBySession", "ApiKeyEnv", "ApiKeysMax", "UserScopes",
			"MachineClients", "MachineSecretMaxAge", "LimitTokenByClient", "OidcClients"},
		IDToken: true,
		Alerts:  []string{"refresh.reuse_detected"},
	},
	{
		Name:        "authorizer",
		Description: "Latchkey Lambda authorizer for the team's other APIs",
		Enabled:     true,
		Grants: []Grant{
			{SigningKey, []string{"kms:GetPublicKey"}},
			// UpdateItem writes an API key's lastUsedAt, at most once a minute per key.
			{Table, []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"}},
		},
		// The API keys' environment, the machine clients (to accept their tokens while they are
		// declared and enabled) and the route policy.
		Settings:   []string{"ApiKeyEnv", "MachineClients", "RouteScopes"},
		Authorizer: true,
	},
	{
		Name:        "passkeys",
		Description: "Latchkey passkey registration, login and own passkeys",
		Enabled:     true,
		Routes: []Route{
			{"POST", "/v1/passkeys/register/begin"},
			{"POST", "/v1/passkeys/register/finish"},
			{"POST", "/v1/passkeys/login/begin"},
			{"POST", "/v1/passkeys/login/finish"},
			{"GET", "/v1/me"},
			{"GET", "/v1/me/passkeys"},
			{"PATCH", "/v1/me/passkeys/{id}"},
			{"DELETE", "/v1/me/passkeys/{id}"},
		},
		Grants: []Grant{
			signAndVerify,
			readSecret,
			{Table, []string{
				"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
				"dynamodb:DeleteItem",
				// TransactWriteItems is not an IAM action: a transaction is authorized by the
				// Put/Update/Delete actions of its parts (sign-up, add and delete a passkey).
			}},
			{TableIndexes, []string{"dynamodb:Query"}},
			// It tells the owner by email when passkeys are added or deleted and when a
			// recovery of the account completes.
			sendEmail,
		},
		Settings: []string{"AccessTtl", "SessionTtl", "SessionIdle", "RefreshGrace", "ReauthMaxAge", "RpName", "ClientId",
			"LimitTokenByIp", "LimitTokenBySession", "LimitPasskeyBeginByIp", "LimitPasskeyBeginByAccount",
			"LimitPasskeyFinishByIp", "LimitPasskeyFinishByAccount", "EmailFrom", "EmailRequired"},
		Alerts: []string{"passkey.counter_regressed"},
	},
	{
		Name:        "email",
		Description: "Latchkey email verification and account recovery",
		Enabled:     true,
		Routes: []Route{
			{"POST", "/v1/email/begin"},
			{"POST", "/v1/email/verify"},
			{"POST", "/v1/recovery/codes/verify"},
			{"POST", "/v1/recovery/cancel"},
			{"GET", "/v1/me/recovery"},
			{"DELETE", "/v1/me/recovery"},
			{"POST", "/v1/me/recovery-codes"},
		},
		Grants: []Grant{
			// It verifies Bearer tokens and never signs one.
			{SigningKey, []string{"kms:GetPublicKey"}},
			readSecret,
			{Table, []string{
				"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
				"dynamodb:DeleteItem",
				// As for passkeys, its transactions are authorized by the actions of their parts.
			}},
			{TableIndexes, []string{"dynamodb:Query"}},
			sendEmail,
		},
		// ClientId: the account routes take the first-party client's tokens only.
		Settings: []string{"EmailFrom", "EmailRequired", "RecoveryDelay", "RpName", "ClientId",
			"LimitEmailBeginByIp", "LimitEmailBeginByAddress", "LimitEmailSendByAddress", "LimitEmailVerifyByIp",
			"LimitRecoveryCodeByIp"},
	},
	{
		Name:        "oidc",
		Description: "Latchkey OpenID provider: authorization, the hosted sign-in page, userinfo and logout",
		Enabled:     true,
		Routes: []Route{
			{"GET", "/oauth2/authorize"},
			{"POST", "/oauth2/authorize/complete"},
			{"GET", "/oauth2/userinfo"},
			{"POST", "/oauth2/userinfo"},
			{"GET", "/oauth2/logout"},
			{"GET", "/oauth2/signin"},
			{"GET", "/oauth2/assets/{file}"},
		},
		Grants: []Grant{
			// It verifies Bearer tokens and reads the ID-token keys' public halves; it signs
			// nothing: the code exchange, which does, is the sessions function's.
			{SigningKey, []string{"kms:GetPublicKey"}},
			readIDTokenKeys,
			{Table, []string{
				// Authorization requests, codes and provider sessions: put, read and taken by a
				// conditional write; the rate limits' counters; the reads of a Bearer check and
				// of userinfo.
				"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
				"dynamodb:DeleteItem",
			}},
		},
		IDToken: true,
		// ClientId: the hosted page signs in as the first-party client, whose tokens alone
		// complete a request.
		Settings: []string{"RpName", "ClientId", "OidcClients", "ProviderSessionTtl", "LimitAuthorizeByIp"},
	},
}

// Enabled returns the functions of the catalog that the stack deploys.
func Enabled() []Function {
	var fns []Function
	for _, fn := range catalog {
		if fn.Enabled {
			fns = append(fns, fn)
		}
	}
	return fns
}

// LogicalID is the function's construct id in the CDK stack and its logical id in template.yaml.
func (f Function) LogicalID() string {
	return strings.ToUpper(f.Name[:1]) + f.Name[1:] + "Function"
}
