package main

// Setting is one runtime setting of functions/internal/boot exposed as a stack parameter: the
// parameter, the environment variable it sets and its default, which is boot's (an empty
// default leaves boot's own default in force). The catalog names the settings each function
// gets (Function.Settings); template.yaml repeats parameter and variables, and parity_test.go
// and the boot tests hold the two stacks and boot to the same names and defaults.
type Setting struct {
	Param       string
	Env         string
	Default     string
	Description string
	// AllowedPattern and Constraint, when set, refuse a bad value before the deploy rather
	// than at the function's cold start; boot still checks the bounds.
	AllowedPattern string
	Constraint     string
}

// Patterns of the settings' values: a Go duration as the operators write them, and a rate
// limit <limit>/<window>.
const (
	durationPattern = `^([0-9]+(h|m|s|ms))+$`
	limitPattern    = `^[1-9][0-9]{0,5}/([0-9]+(h|m|s))+$`
	clientsPattern  = `^([^\s:,]+:[0-9a-f]{64}(,[^\s:,]+:[0-9a-f]{64})*)?$`
	clientIDPattern = `^[A-Za-z0-9._~-]+$`
	// emailPattern is a bare address (no display name), or empty: the stack's EmailFromRequired
	// rule refuses an empty EmailFrom, and the default stays empty so that the parameter has a
	// default like every other setting.
	// scopesPattern is RFC 6749 §3.3 scope tokens separated by single spaces, or empty.
	scopesPattern = `^([\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*)?$`
	emailPattern  = `^([^\s@<>",;:]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+)?$`
)

var settings = []Setting{
	{Param: "AccessTtl", Env: "LATCHKEY_ACCESS_TTL", Default: "10m", AllowedPattern: durationPattern, Constraint: "a Go duration such as 10m (1m to 24h)",
		Description: "Access-token lifetime (1m to 24h)."},
	{Param: "SessionTtl", Env: "LATCHKEY_SESSION_TTL", Default: "720h", AllowedPattern: durationPattern, Constraint: "a Go duration such as 720h (1h to 8760h)",
		Description: "Absolute session lifetime (1h to 8760h); no refresh extends it."},
	{Param: "SessionIdle", Env: "LATCHKEY_SESSION_IDLE", Default: "168h", AllowedPattern: durationPattern, Constraint: "a Go duration such as 168h (10m to 8760h)",
		Description: "A session unused this long ends (10m to 8760h)."},
	{Param: "RefreshGrace", Env: "LATCHKEY_REFRESH_GRACE", Default: "10s", AllowedPattern: `^(0|([0-9]+(h|m|s|ms))+)$`, Constraint: "0 or a Go duration such as 10s (at most 1m)",
		Description: "Retry window of a just-rotated refresh token (0 disables, at most 1m)."},
	{Param: "ReauthMaxAge", Env: "LATCHKEY_REAUTH_MAX_AGE", Default: "5m", AllowedPattern: durationPattern, Constraint: "a Go duration such as 5m (1m to 1h)",
		Description: "How recent a sign-in must be to add or delete a passkey (1m to 1h)."},
	{Param: "RpName", Env: "LATCHKEY_RP_NAME", Default: "",
		Description: "Relying party name authenticators show; empty means the RpId."},
	{Param: "ClientId", Env: "LATCHKEY_CLIENT_ID", Default: "latchkey", AllowedPattern: clientIDPattern, Constraint: "letters, digits and . _ ~ -",
		Description: "The client_id claim of access tokens Latchkey issues."},
	{Param: "IntrospectionClients", Env: "LATCHKEY_INTROSPECTION_CLIENTS", Default: "", AllowedPattern: clientsPattern,
		Constraint:  "id:sha256hex entries (lower-case hex) separated by commas, or empty",
		Description: "Clients of POST /v1/introspect as id:sha256hex,... (hex SHA-256 of a random 32-byte secret); empty disables introspection."},
	{Param: "ApiKeyEnv", Env: "LATCHKEY_API_KEY_ENV", Default: "live", AllowedPattern: `^(live|test)$`, Constraint: "live or test",
		Description: "The environment API keys name (lk_live_... or lk_test_...); a key of the other is refused without a read."},
	{Param: "ApiKeysMax", Env: "LATCHKEY_API_KEYS_MAX", Default: "25", AllowedPattern: `^([1-9]|[1-3][0-9]|4[0-8])$`, Constraint: "a whole number from 1 to 48",
		Description: "How many API keys one account may hold (1 to 48)."},
	{Param: "UserScopes", Env: "LATCHKEY_USER_SCOPES", Default: "", AllowedPattern: scopesPattern,
		Constraint:  "scope tokens separated by single spaces, or empty",
		Description: "The scopes users hold, space separated; an API key may carry any of them. Empty: keys carry no scope."},
	{Param: "MachineClients", Env: "LATCHKEY_MACHINE_CLIENTS", Default: "", AllowedPattern: `^(\[.*\])?$`,
		Constraint:  `a JSON array such as [{"id":"ci","scopes":["orders:read"]}], or empty`,
		Description: `Machine clients of the client_credentials grant, a JSON array [{"id":"ci","scopes":["orders:read"],"enabled":true}]; their secrets are in the MachineSecret (make machine-secret); empty declares none.`},
	{Param: "MachineSecretMaxAge", Env: "LATCHKEY_MACHINE_SECRET_MAX_AGE", Default: "1m", AllowedPattern: `^(0|([0-9]+(h|m|s|ms))+)$`, Constraint: "0 or a Go duration such as 1m (at most 1h)",
		Description: "How long the sessions function uses its copy of the machine clients' secrets before reading them again (0 to 1h): how soon a rotation step takes effect."},
	{Param: "RouteScopes", Env: "LATCHKEY_ROUTE_SCOPES", Default: "", AllowedPattern: `^(\{.*\})?$`,
		Constraint:  `a JSON object such as {"GET /orders":["orders:read"]}, or empty`,
		Description: `The authorizer's route policy, a JSON object from route ("GET /orders/{id}", ANY for every method) to the scopes a credential needs there; unlisted routes need none.`},
	{Param: "LimitTokenByIp", Env: "LATCHKEY_LIMIT_TOKEN_IP", Default: "120/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 120/1m",
		Description: "Rate limit of POST /v1/token per client address, <limit>/<window>."},
	{Param: "LimitTokenBySession", Env: "LATCHKEY_LIMIT_TOKEN_SESSION", Default: "30/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 30/1m",
		Description: "Rate limit of POST /v1/token per session, <limit>/<window>."},
	{Param: "LimitPasskeyBeginByIp", Env: "LATCHKEY_LIMIT_PASSKEY_BEGIN_IP", Default: "60/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 60/1m",
		Description: "Rate limit of passkey ceremony begins per client address, <limit>/<window>."},
	{Param: "LimitPasskeyBeginByAccount", Env: "LATCHKEY_LIMIT_PASSKEY_BEGIN_ACCOUNT", Default: "20/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 20/1m",
		Description: "Rate limit of passkey ceremony begins per account, <limit>/<window>."},
	{Param: "LimitPasskeyFinishByIp", Env: "LATCHKEY_LIMIT_PASSKEY_FINISH_IP", Default: "60/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 60/1m",
		Description: "Rate limit of passkey ceremony finishes per client address, <limit>/<window>."},
	{Param: "LimitPasskeyFinishByAccount", Env: "LATCHKEY_LIMIT_PASSKEY_FINISH_ACCOUNT", Default: "30/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 30/1m",
		Description: "Rate limit of passkey ceremony finishes per account, <limit>/<window>."},
	{Param: "EmailFrom", Env: "LATCHKEY_EMAIL_FROM", Default: "", AllowedPattern: emailPattern, Constraint: "an email address such as no-reply@example.com",
		Description: "Required: the From address of Latchkey's emails, an address of the verified SES identity EmailIdentity."},
	{Param: "EmailRequired", Env: "LATCHKEY_EMAIL_REQUIRED", Default: "true", AllowedPattern: `^(true|false)$`, Constraint: "true or false",
		Description: "Whether an account needs a verified email address (true or false)."},
	{Param: "RecoveryDelay", Env: "LATCHKEY_RECOVERY_DELAY", Default: "24h", AllowedPattern: durationPattern, Constraint: "a Go duration such as 24h",
		Description: "How long an account recovery waits before it completes, the owner notified by email and able to cancel it."},
	{Param: "LimitEmailBeginByIp", Env: "LATCHKEY_LIMIT_EMAIL_BEGIN_IP", Default: "30/1h", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 30/1h",
		Description: "Rate limit of email verification begins per client address, <limit>/<window>."},
	{Param: "LimitEmailBeginByAddress", Env: "LATCHKEY_LIMIT_EMAIL_BEGIN_ADDRESS", Default: "10/1h", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 10/1h",
		Description: "Rate limit of email verification begins per email address, <limit>/<window>."},
	{Param: "LimitEmailSendByAddress", Env: "LATCHKEY_LIMIT_EMAIL_SEND_ADDRESS", Default: "1/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 1/1m",
		Description: "Rate limit of emails sent to one address, <limit>/<window>."},
	{Param: "LimitEmailVerifyByIp", Env: "LATCHKEY_LIMIT_EMAIL_VERIFY_IP", Default: "60/1h", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 60/1h",
		Description: "Rate limit of email code verifications per client address, <limit>/<window>."},
	{Param: "LimitTokenByClient", Env: "LATCHKEY_LIMIT_TOKEN_CLIENT", Default: "60/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 60/1m",
		Description: "Rate limit of POST /v1/token's client_credentials grant per machine client, <limit>/<window>."},
	{Param: "LimitRecoveryCodeByIp", Env: "LATCHKEY_LIMIT_RECOVERY_CODE_IP", Default: "20/1h", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 20/1h",
		Description: "Rate limit of recovery code attempts per client address, <limit>/<window>."},
	{Param: "OidcClients", Env: "LATCHKEY_OIDC_CLIENTS", Default: "[]", AllowedPattern: `^\[.*\]$`,
		Constraint:  `a JSON array such as [{"id":"app","redirectUris":["https://app.example.com/callback"],"scopes":["openid"]}]`,
		Description: `The OpenID provider's clients, a JSON array [{"id":"app","name":"App","confidential":false,"redirectUris":[...],"postLogoutRedirectUris":[...],"scopes":["openid","email"]}]; a confidential client's secret is in the MachineSecret (make machine-secret); [] declares none.`},
	{Param: "ProviderSessionTtl", Env: "LATCHKEY_PROVIDER_SESSION_TTL", Default: "12h", AllowedPattern: durationPattern, Constraint: "a Go duration such as 12h (5m to 720h)",
		Description: "How long a sign-in on the hosted page serves every OpenID client without another passkey ceremony (5m to 720h)."},
	{Param: "LimitAuthorizeByIp", Env: "LATCHKEY_LIMIT_AUTHORIZE_IP", Default: "60/1m", AllowedPattern: limitPattern, Constraint: "<limit>/<window> such as 60/1m",
		Description: "Rate limit of OpenID authorization requests per client address, <limit>/<window>."},
}

// settingByParam returns the setting of a parameter; ok is false when there is none.
func settingByParam(param string) (Setting, bool) {
	for _, s := range settings {
		if s.Param == param {
			return s, true
		}
	}
	return Setting{}, false
}

// Edge protection, numeric parameters of the stack: API Gateway throttling of the $default
// stage (requests per second and burst, for the whole API, not per client; the per-client
// limits are the rate limits above) with tighter limits on the routes that do the expensive
// work, and the concurrency reserved for the authorizer.
type numberParam struct {
	Param       string
	Default     float64
	Min, Max    float64
	Description string
}

var edgeParams = []numberParam{
	{"ThrottleRate", 200, 1, 10000, "Steady requests per second the API accepts on routes without their own limit."},
	{"ThrottleBurst", 400, 1, 5000, "Burst of requests the API accepts on routes without their own limit."},
	{"CeremonyThrottleRate", 25, 1, 10000, "Steady requests per second of each ceremony route (passkey register and login, begin and finish; email begin and verify; recovery code verify and cancel; OpenID authorize and its completion)."},
	{"CeremonyThrottleBurst", 50, 1, 5000, "Burst of each ceremony route."},
	{"TokenThrottleRate", 50, 1, 10000, "Steady requests per second of POST /v1/token."},
	{"TokenThrottleBurst", 100, 1, 5000, "Burst of POST /v1/token."},
	{"AuthorizerReservedConcurrency", 100, 0, 3000, "Concurrent executions reserved for the authorizer (0: none reserved), so a flood of public calls cannot starve the APIs it protects. The account must keep 100 unreserved."},
}

// ceremonyRoutes and tokenRoute are the routes with their own, tighter throttling: the public
// routes that start or answer a ceremony, each of which costs counters, a table write and, for
// the email ones, possibly an email. An OpenID authorization request writes the request and
// its completion the code, so they are ceremony routes too; the hosted page and its assets,
// userinfo and logout are not.
var (
	ceremonyRoutes = []string{
		"POST /v1/passkeys/register/begin", "POST /v1/passkeys/register/finish",
		"POST /v1/passkeys/login/begin", "POST /v1/passkeys/login/finish",
		"POST /v1/email/begin", "POST /v1/email/verify",
		"POST /v1/recovery/codes/verify", "POST /v1/recovery/cancel",
		"GET /oauth2/authorize", "POST /oauth2/authorize/complete",
	}
	tokenRoute = "POST /v1/token"
)

// accessLogFormat is the API's access-log line: who, what route, how it ended, how long it
// took. Route keys, not paths, and no headers or query strings, so no token or credential
// is ever written.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","requestTime":"$context.requestTimeEpoch","routeKey":"$context.routeKey","status":"$context.status","protocol":"$context.protocol","responseLength":"$context.responseLength","responseLatency":"$context.responseLatency","integrationLatency":"$context.integrationLatency","integrationError":"$context.integrationErrorMessage","error":"$context.error.message"}`

// Audit events that page: each gets a metric filter on the log group of the function that logs
// it and an alarm at one occurrence. Function.Alerts names them per function. Only events that
// mean a likely attack or fault belong here: recovery.started does not, since most recoveries
// are owners who lost their passkeys, a page for each would teach the on-call to ignore the
// pages, and the owner is told by email and may cancel within RecoveryDelay.
type alert struct {
	ID     string // construct id of the metric filter (ID+"Filter") and alarm (ID+"Alarm"), and the metric name
	Msg    string // the audit event's msg
	Reason string
}

var alerts = map[string]alert{
	"refresh.reuse_detected":    {"RefreshReuseDetected", "refresh.reuse_detected", "a rotated refresh token was used again: a stolen token or a broken client; the session was ended"},
	"passkey.counter_regressed": {"PasskeyCounterRegressed", "passkey.counter_regressed", "a passkey's signature counter went backwards: a possibly cloned authenticator; the sign-in was refused"},
}

// filterPattern matches the JSON audit line of event.
func filterPattern(event string) string {
	return `{ ($.msg = "` + event + `") && ($.audit IS TRUE) }`
}
