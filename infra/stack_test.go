package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// tokenIssuers are the only functions docs/security.md (least privilege) allows to call kms:Sign.
// Kept apart from the catalog on purpose: giving another function Sign in functions.go must fail
// this test.
var tokenIssuers = []string{"sessions", "passkeys"}

// idTokenIssuers are the only functions that may sign with the ID-token key: sessions, which
// serves the authorization_code grant. Kept apart from the catalog for the same reason.
var idTokenIssuers = []string{"sessions"}

// idTokenKeyReaders are the functions that get the ID-token key's ARN and may read its public
// half (or sign with it, idTokenIssuers): the JWKS, the code exchange and the provider.
var idTokenKeyReaders = []string{"wellknown", "sessions", "oidc"}

// emailSenders are the only functions that may send email, and only as the configured sender
// identity: email (verification codes, recovery) and passkeys (notices to the owner). Kept
// apart from the catalog for the same reason as tokenIssuers.
var emailSenders = []string{"passkeys", "email"}

var stubDir string

func TestMain(m *testing.M) {
	dir, err := stubPackage()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stubDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	jsii.Close()
	os.Exit(code)
}

// synth synthesizes a stack of fns with stub code and returns its assertions template and the
// template as JSON.
func synth(fns []Function) (assertions.Template, map[string]any) {
	app := awscdk.NewApp(nil)
	stack := NewLatchkeyStack(app, "Test", &LatchkeyStackProps{
		Functions: fns,
		Code: func(string) awslambda.Code {
			return awslambda.Code_FromAsset(jsii.String(stubDir), nil)
		},
	})
	tpl := assertions.Template_FromStack(stack.Stack, nil)
	return tpl, *tpl.ToJSON()
}

// full is the stack with every function of the catalog, enabled or not, so the grants of the
// functions still to come are checked today.
var full = sync.OnceValues(func() (assertions.Template, map[string]any) { return synth(catalog) })

// check runs an assertions call, turning its panic (a jsii error) into a test failure.
func check(t *testing.T, what string, assert func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assert()
}

func TestTable(t *testing.T) {
	tpl, _ := full()
	check(t, "table", func() {
		tpl.HasResource(jsii.String("AWS::DynamoDB::Table"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties": map[string]any{
				"BillingMode": "PAY_PER_REQUEST",
				"KeySchema": []any{
					map[string]any{"AttributeName": "pk", "KeyType": "HASH"},
					map[string]any{"AttributeName": "sk", "KeyType": "RANGE"},
				},
				"TimeToLiveSpecification":          map[string]any{"AttributeName": "expiresAt", "Enabled": true},
				"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
				"GlobalSecondaryIndexes": []any{map[string]any{
					"IndexName": "gsi1",
					"KeySchema": []any{
						map[string]any{"AttributeName": "gsi1pk", "KeyType": "HASH"},
						map[string]any{"AttributeName": "gsi1sk", "KeyType": "RANGE"},
					},
					"Projection": map[string]any{"ProjectionType": "ALL"},
				}},
				"AttributeDefinitions": assertions.Match_ArrayWith(&[]any{
					map[string]any{"AttributeName": "pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "sk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1pk", "AttributeType": "S"},
					map[string]any{"AttributeName": "gsi1sk", "AttributeType": "S"},
				}),
			},
		})
	})
	check(t, "one table", func() { tpl.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
}

func TestSigningKeyAndSecret(t *testing.T) {
	tpl, j := full()
	check(t, "key", func() {
		tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties":          map[string]any{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
		})
	})
	check(t, "alias", func() {
		tpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{
			"AliasName": "alias/latchkey-Test-signing",
		})
	})
	// The ID-token key: RSA_2048 for RS256 (OpenID Connect Discovery requires it), retained
	// like the access-token key, with an alias of its own and an output.
	idKey := logicalIDOf(t, j, "AWS::KMS::Key", "IdTokenKey")
	check(t, "ID-token key", func() {
		tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
			"Properties":          map[string]any{"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
		})
		tpl.HasResourceProperties(jsii.String("AWS::KMS::Alias"), map[string]any{
			"AliasName":   "alias/latchkey-Test-id-token",
			"TargetKeyId": map[string]any{"Fn::GetAtt": []any{idKey, "Arn"}},
		})
		tpl.HasOutput(jsii.String("IdTokenKeyArn"), map[string]any{"Value": map[string]any{"Fn::GetAtt": []any{idKey, "Arn"}}})
	})
	check(t, "two keys", func() { tpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(2)) })
	check(t, "secret", func() {
		tpl.HasResource(jsii.String("AWS::SecretsManager::Secret"), map[string]any{
			"DeletionPolicy": "Retain",
			"Properties": map[string]any{
				"GenerateSecretString": map[string]any{"PasswordLength": 64, "ExcludePunctuation": true},
			},
		})
	})
}

func TestParameters(t *testing.T) {
	_, j := full()
	params := j["Parameters"].(map[string]any)
	// Boot's defaults, written out here so that changing one in settings.go fails this test
	// (functions/internal/boot's tests compare template.yaml's defaults with boot's).
	for name, want := range map[string]string{
		"Audience": "latchkey", "Attestation": "none", "Version": "dev", "Issuer": "", "DomainName": "", "CertificateArn": "",
		"AccessTtl": "10m", "SessionTtl": "720h", "SessionIdle": "168h", "RefreshGrace": "10s", "ReauthMaxAge": "5m",
		"RpName": "", "ClientId": "latchkey", "IntrospectionClients": "", "AlarmTopicArn": "",
		"LimitTokenByIp": "120/1m", "LimitTokenBySession": "30/1m",
		"LimitPasskeyBeginByIp": "60/1m", "LimitPasskeyBeginByAccount": "20/1m",
		"LimitPasskeyFinishByIp": "60/1m", "LimitPasskeyFinishByAccount": "30/1m",
		"EmailFrom": "", "EmailIdentity": "", "EmailRequired": "true", "RecoveryDelay": "24h",
		"LimitEmailBeginByIp": "30/1h", "LimitEmailBeginByAddress": "10/1h", "LimitEmailSendByAddress": "1/1m",
		"LimitEmailVerifyByIp": "60/1h", "LimitRecoveryCodeByIp": "20/1h",
		"OidcClients": "[]", "ProviderSessionTtl": "12h", "LimitAuthorizeByIp": "60/1m",
	} {
		p, ok := params[name].(map[string]any)
		if !ok || p["Default"] != want {
			t.Errorf("parameter %s = %v, want default %q", name, p, want)
		}
	}
	for name, want := range map[string]float64{
		"ThrottleRate": 200, "ThrottleBurst": 400, "CeremonyThrottleRate": 25, "CeremonyThrottleBurst": 50,
		"TokenThrottleRate": 50, "TokenThrottleBurst": 100, "AuthorizerReservedConcurrency": 100,
	} {
		p, ok := params[name].(map[string]any)
		if !ok || p["Type"] != "Number" || p["Default"] != want {
			t.Errorf("parameter %s = %v, want a Number defaulting to %v", name, p, want)
		}
	}
	// The relying party is required: the passkeys function cannot start without it, and its
	// origins are the API's CORS origins.
	for _, name := range []string{"RpId", "RpOrigins"} {
		if _, ok := params[name].(map[string]any)["Default"]; ok {
			t.Errorf("%s has a default; it must be required", name)
		}
	}
	hex := strings.Repeat("0a", 32)
	for name, cases := range map[string]struct{ good, bad []string }{
		"RpId":                    {[]string{"example.com", "localhost", "auth.example.co.uk"}, []string{"", "Example.com", "https://example.com", "example.com."}},
		"RpOrigins":               {[]string{"https://app.example.com", "https://a.example.com,http://localhost:3000"}, []string{"", "app.example.com", "https://a.example.com, https://b.example.com", "https://app.example.com/"}},
		"Issuer":                  {[]string{"", "https://auth.example.com", "https://example.com/auth"}, []string{"http://auth.example.com", "https://auth.example.com/", "https://a.example.com?x=1"}},
		"DomainName":              {[]string{"", "auth.example.com"}, []string{"localhost", "Auth.example.com", "https://auth.example.com"}},
		"CertificateArn":          {[]string{"", "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b-2c3d"}, []string{"arn:aws:iam::123456789012:role/x", "x"}},
		"AlarmTopicArn":           {[]string{"", "arn:aws:sns:eu-west-1:123456789012:paging"}, []string{"arn:aws:sqs:eu-west-1:123456789012:q", "paging"}},
		"AccessTtl":               {[]string{"10m", "1h30m", "90s"}, []string{"", "10", "ten minutes", "-1m"}},
		"RefreshGrace":            {[]string{"0", "10s", "500ms"}, []string{"", "00", "10"}},
		"ClientId":                {[]string{"latchkey", "my-app.web_1~"}, []string{"", "a b", "a:b", "a,b"}},
		"IntrospectionClients":    {[]string{"", "rs:" + hex, "rs:" + hex + ",billing:" + hex}, []string{"rs", "rs:secret", "rs:" + strings.ToUpper(hex), "rs:" + hex + ", b:" + hex, "a:b:" + hex}},
		"LimitTokenByIp":          {[]string{"120/1m", "1/1s", "100000/1h"}, []string{"", "120", "0/1m", "120/m", "120 / 1m", "1.5/1m"}},
		"LimitEmailSendByAddress": {[]string{"1/1m", "10/1h"}, []string{"", "1", "0/1m"}},
		// Empty passes the pattern so the parameter can have a default; the EmailFromRequired
		// rule refuses it (TestEmail).
		"EmailFrom":     {[]string{"", "no-reply@example.com", "a.b+c@mail.example.co.uk"}, []string{"example.com", "Latchkey <no-reply@example.com>", "no reply@example.com", "a@b", "a@b.com,c@d.com", "a@-b.com"}},
		"EmailIdentity": {[]string{"", "example.com", "mail.example.com", "no-reply@example.com"}, []string{"localhost", "https://example.com", "a b.com", "a@b"}},
		"EmailRequired": {[]string{"true", "false"}, []string{"", "yes", "True", "1"}},
		"RecoveryDelay": {[]string{"24h", "90m", "1h30m"}, []string{"", "1d", "24"}},
		// The array's entries are checked at cold start (core/oidc.ParseClients).
		"OidcClients":        {[]string{"[]", `[{"id":"app","redirectUris":["https://app.example.com/cb"],"scopes":["openid"]}]`}, []string{"", "{}", `{"id":"app"}`, "app"}},
		"ProviderSessionTtl": {[]string{"12h", "30m", "1h30m"}, []string{"", "12", "1d"}},
		"LimitAuthorizeByIp": {[]string{"60/1m", "1/1s"}, []string{"", "60", "0/1m"}},
	} {
		p := params[name].(map[string]any)
		re := regexp.MustCompile(p["AllowedPattern"].(string))
		for _, v := range cases.good {
			if !re.MatchString(v) {
				t.Errorf("%s refuses %q", name, v)
			}
		}
		for _, v := range cases.bad {
			if re.MatchString(v) {
				t.Errorf("%s accepts %q", name, v)
			}
		}
	}
}

// TestCORS gives the relying party's origins, and only those, CORS on the API: Bearer tokens,
// no cookies.
func TestCORS(t *testing.T) {
	tpl, _ := full()
	check(t, "cors", func() {
		tpl.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Api"), map[string]any{
			"CorsConfiguration": map[string]any{
				"AllowOrigins":     map[string]any{"Fn::Split": []any{",", map[string]any{"Ref": "RpOrigins"}}},
				"AllowMethods":     []any{"GET", "POST", "PATCH", "DELETE"},
				"AllowHeaders":     []any{"authorization", "content-type"},
				"ExposeHeaders":    []any{"retry-after", "www-authenticate", "x-request-id"},
				"AllowCredentials": false,
				"MaxAge":           3600,
			},
		})
	})
}

func TestFunctions(t *testing.T) {
	tpl, j := full()
	fns := resourcesOf(j, "AWS::Lambda::Function")
	if len(fns) != len(catalog) {
		t.Fatalf("%d functions, want %d", len(fns), len(catalog))
	}
	for _, spec := range catalog {
		id := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
		props := fns[id]["Properties"].(map[string]any)
		for key, want := range map[string]any{
			"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 512.0, "Timeout": 10.0,
		} {
			if props[key] != want {
				t.Errorf("%s: %s = %v, want %v", spec.Name, key, props[key], want)
			}
		}
		if arch := fmt.Sprint(props["Architectures"]); arch != "[arm64]" {
			t.Errorf("%s: Architectures = %s, want [arm64]", spec.Name, arch)
		}
		if _, ok := props["ReservedConcurrentExecutions"]; ok != spec.Authorizer {
			t.Errorf("%s: reserved concurrency set = %v, want it only on the authorizer", spec.Name, ok)
		}
		if tracing, ok := props["TracingConfig"].(map[string]any); ok && tracing["Mode"] != "PassThrough" {
			t.Errorf("%s: X-Ray tracing %v, want off", spec.Name, tracing)
		}
		logs := logicalIDOf(t, j, "AWS::Logs::LogGroup", spec.LogicalID()+"Logs")
		wantLogging := map[string]any{"LogFormat": "JSON", "LogGroup": map[string]any{"Ref": logs}}
		if got := props["LoggingConfig"]; fmt.Sprint(got) != fmt.Sprint(wantLogging) {
			t.Errorf("%s: LoggingConfig = %v, want %v", spec.Name, got, wantLogging)
		}
	}
	_ = tpl
}

// functionEnv is the exact environment each function must get: the shared variables plus,
// from a parameter each, the settings the function reads. Written out rather than derived from
// the catalog, so that a setting that stops reaching its function fails.
var functionEnv = map[string]map[string]string{
	"wellknown":  {"LATCHKEY_USER_SCOPES": "UserScopes"},
	"authorizer": {"LATCHKEY_API_KEY_ENV": "ApiKeyEnv", "LATCHKEY_MACHINE_CLIENTS": "MachineClients", "LATCHKEY_ROUTE_SCOPES": "RouteScopes"},
	"sessions": {
		"LATCHKEY_ACCESS_TTL": "AccessTtl", "LATCHKEY_SESSION_TTL": "SessionTtl", "LATCHKEY_SESSION_IDLE": "SessionIdle",
		"LATCHKEY_REFRESH_GRACE": "RefreshGrace", "LATCHKEY_REAUTH_MAX_AGE": "ReauthMaxAge", "LATCHKEY_CLIENT_ID": "ClientId",
		"LATCHKEY_INTROSPECTION_CLIENTS": "IntrospectionClients",
		"LATCHKEY_LIMIT_TOKEN_IP":        "LimitTokenByIp", "LATCHKEY_LIMIT_TOKEN_SESSION": "LimitTokenBySession",
		"LATCHKEY_API_KEY_ENV": "ApiKeyEnv", "LATCHKEY_API_KEYS_MAX": "ApiKeysMax", "LATCHKEY_USER_SCOPES": "UserScopes",
		"LATCHKEY_MACHINE_CLIENTS": "MachineClients", "LATCHKEY_MACHINE_SECRET_MAX_AGE": "MachineSecretMaxAge",
		"LATCHKEY_LIMIT_TOKEN_CLIENT": "LimitTokenByClient", "LATCHKEY_OIDC_CLIENTS": "OidcClients",
	},
	"passkeys": {
		"LATCHKEY_ACCESS_TTL": "AccessTtl", "LATCHKEY_SESSION_TTL": "SessionTtl", "LATCHKEY_SESSION_IDLE": "SessionIdle",
		"LATCHKEY_REFRESH_GRACE": "RefreshGrace", "LATCHKEY_REAUTH_MAX_AGE": "ReauthMaxAge", "LATCHKEY_RP_NAME": "RpName",
		"LATCHKEY_CLIENT_ID":      "ClientId",
		"LATCHKEY_LIMIT_TOKEN_IP": "LimitTokenByIp", "LATCHKEY_LIMIT_TOKEN_SESSION": "LimitTokenBySession",
		"LATCHKEY_LIMIT_PASSKEY_BEGIN_IP": "LimitPasskeyBeginByIp", "LATCHKEY_LIMIT_PASSKEY_BEGIN_ACCOUNT": "LimitPasskeyBeginByAccount",
		"LATCHKEY_LIMIT_PASSKEY_FINISH_IP": "LimitPasskeyFinishByIp", "LATCHKEY_LIMIT_PASSKEY_FINISH_ACCOUNT": "LimitPasskeyFinishByAccount",
		"LATCHKEY_EMAIL_FROM": "EmailFrom", "LATCHKEY_EMAIL_REQUIRED": "EmailRequired",
	},
	"email": {
		"LATCHKEY_EMAIL_FROM": "EmailFrom", "LATCHKEY_EMAIL_REQUIRED": "EmailRequired", "LATCHKEY_RECOVERY_DELAY": "RecoveryDelay",
		"LATCHKEY_RP_NAME": "RpName", "LATCHKEY_CLIENT_ID": "ClientId",
		"LATCHKEY_LIMIT_EMAIL_BEGIN_IP": "LimitEmailBeginByIp", "LATCHKEY_LIMIT_EMAIL_BEGIN_ADDRESS": "LimitEmailBeginByAddress",
		"LATCHKEY_LIMIT_EMAIL_SEND_ADDRESS": "LimitEmailSendByAddress", "LATCHKEY_LIMIT_EMAIL_VERIFY_IP": "LimitEmailVerifyByIp",
		"LATCHKEY_LIMIT_RECOVERY_CODE_IP": "LimitRecoveryCodeByIp",
	},
	"oidc": {
		"LATCHKEY_RP_NAME": "RpName", "LATCHKEY_CLIENT_ID": "ClientId", "LATCHKEY_OIDC_CLIENTS": "OidcClients",
		"LATCHKEY_PROVIDER_SESSION_TTL": "ProviderSessionTtl", "LATCHKEY_LIMIT_AUTHORIZE_IP": "LimitAuthorizeByIp",
	},
}

// TestSettingsReachFunctions requires every parameter of settings.go to reach exactly the
// functions that read it, as a Ref of the parameter, the ID-token key's ARN to reach exactly
// idTokenKeyReaders, and every function to get the shared environment besides.
func TestSettingsReachFunctions(t *testing.T) {
	_, j := full()
	params := j["Parameters"].(map[string]any)
	reached := map[string]bool{}
	for _, spec := range catalog {
		want, ok := functionEnv[spec.Name]
		if !ok {
			t.Fatalf("functionEnv has no entry for %s", spec.Name)
		}
		id := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
		vars := resourcesOf(j, "AWS::Lambda::Function")[id]["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
		var names []string
		for name := range vars {
			names = append(names, name)
		}
		wantNames := slices.Clone(envNames)
		if slices.Contains(idTokenKeyReaders, spec.Name) {
			wantNames = append(wantNames, "LATCHKEY_ID_TOKEN_KEYS")
			idKey := logicalIDOf(t, j, "AWS::KMS::Key", "IdTokenKey")
			if got := vars["LATCHKEY_ID_TOKEN_KEYS"]; !sameJSON(got, map[string]any{"Fn::GetAtt": []any{idKey, "Arn"}}) {
				t.Errorf("%s: LATCHKEY_ID_TOKEN_KEYS = %v, want the ID-token key's ARN", spec.Name, got)
			}
		}
		for name, param := range want {
			wantNames = append(wantNames, name)
			if got := fmt.Sprint(vars[name]); got != fmt.Sprint(map[string]any{"Ref": param}) {
				t.Errorf("%s: %s = %s, want Ref %s", spec.Name, name, got, param)
			}
			if _, ok := params[param]; !ok {
				t.Errorf("%s: no parameter %s", spec.Name, param)
			}
			reached[param] = true
		}
		if !sameSet(names, wantNames) {
			t.Errorf("%s environment:\n got %v\nwant %v", spec.Name, sortedCopy(names), sortedCopy(wantNames))
		}
	}
	for _, st := range settings {
		if !reached[st.Param] {
			t.Errorf("parameter %s reaches no function", st.Param)
		}
	}
}

func sortedCopy(a []string) []string {
	a = slices.Clone(a)
	sort.Strings(a)
	return a
}

// TestIssuer: the issuer is the Issuer parameter, or https://<DomainName> when it is empty, so
// a deployment with a custom domain is right on its first deploy; a rule refuses neither.
func TestIssuer(t *testing.T) {
	tpl, j := full()
	want := map[string]any{"Fn::If": []any{"HasIssuer", map[string]any{"Ref": "Issuer"}, map[string]any{"Fn::Sub": "https://${DomainName}"}}}
	for id, fn := range resourcesOf(j, "AWS::Lambda::Function") {
		got := fn["Properties"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)["LATCHKEY_ISSUER"]
		if !sameJSON(got, want) {
			t.Errorf("%s: LATCHKEY_ISSUER = %v, want %v", id, got, want)
		}
	}
	notEmpty := func(p string) map[string]any {
		return map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": p}, ""}}}}
	}
	conds := j["Conditions"].(map[string]any)
	for cond, p := range map[string]string{"HasIssuer": "Issuer", "HasDomainName": "DomainName", "HasAlarmTopic": "AlarmTopicArn"} {
		if !sameJSON(conds[cond], notEmpty(p)) {
			t.Errorf("condition %s = %v, want %v", cond, conds[cond], notEmpty(p))
		}
	}
	rules := j["Rules"].(map[string]any)
	if got := rules["IssuerOrDomainName"]; !sameJSON(got, map[string]any{"Assertions": []any{map[string]any{
		"Assert":            map[string]any{"Fn::Or": []any{notEmpty("Issuer"), notEmpty("DomainName")}},
		"AssertDescription": "set Issuer, or DomainName (the issuer is then https://<DomainName>)",
	}}}) {
		t.Errorf("rule IssuerOrDomainName = %v", got)
	}
	if got := rules["DomainNameNeedsCertificate"].(map[string]any); !sameJSON(got["RuleCondition"], notEmpty("DomainName")) ||
		!strings.Contains(fmt.Sprint(got["Assertions"]), "CertificateArn") {
		t.Errorf("rule DomainNameNeedsCertificate = %v", got)
	}
	check(t, "domain", func() {
		tpl.HasResource(jsii.String("AWS::ApiGatewayV2::DomainName"), map[string]any{
			"Condition": "HasDomainName",
			"Properties": map[string]any{
				"DomainName": map[string]any{"Ref": "DomainName"},
				"DomainNameConfigurations": []any{map[string]any{
					"CertificateArn": map[string]any{"Ref": "CertificateArn"}, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2",
				}},
			},
		})
		tpl.HasResource(jsii.String("AWS::ApiGatewayV2::ApiMapping"), map[string]any{
			"Condition":  "HasDomainName",
			"Properties": map[string]any{"Stage": "$default"},
		})
		tpl.HasOutput(jsii.String("DomainTarget"), map[string]any{"Condition": "HasDomainName"})
	})
}

// TestThrottling: the $default stage throttles the whole API and, tighter, the ceremony and
// token routes, from the parameters; it depends on those routes (API Gateway refuses settings
// of a route not created yet).
func TestThrottling(t *testing.T) {
	_, j := full()
	stages := resourcesOf(j, "AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want 1", len(stages))
	}
	throttle := func(rate, burst string) map[string]any {
		return map[string]any{"ThrottlingRateLimit": map[string]any{"Ref": rate}, "ThrottlingBurstLimit": map[string]any{"Ref": burst}}
	}
	for _, st := range stages {
		props := st["Properties"].(map[string]any)
		if props["StageName"] != "$default" || props["AutoDeploy"] != true {
			t.Errorf("stage %v, want $default with AutoDeploy", props)
		}
		if !sameJSON(props["DefaultRouteSettings"], throttle("ThrottleRate", "ThrottleBurst")) {
			t.Errorf("DefaultRouteSettings = %v", props["DefaultRouteSettings"])
		}
		want := map[string]any{
			"POST /v1/token":                    throttle("TokenThrottleRate", "TokenThrottleBurst"),
			"POST /v1/passkeys/register/begin":  throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/passkeys/register/finish": throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/passkeys/login/begin":     throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/passkeys/login/finish":    throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/email/begin":              throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/email/verify":             throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/recovery/codes/verify":    throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /v1/recovery/cancel":          throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"GET /oauth2/authorize":             throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
			"POST /oauth2/authorize/complete":   throttle("CeremonyThrottleRate", "CeremonyThrottleBurst"),
		}
		if !sameJSON(props["RouteSettings"], want) {
			t.Errorf("RouteSettings = %v\nwant %v", props["RouteSettings"], want)
		}
		deps := fmt.Sprint(st["DependsOn"])
		for id, r := range resourcesOf(j, "AWS::ApiGatewayV2::Route") {
			key := r["Properties"].(map[string]any)["RouteKey"].(string)
			if _, limited := want[key]; limited && !strings.Contains(deps, id) {
				t.Errorf("stage does not depend on route %s (%s)", id, key)
			}
		}
	}
}

// TestAuthorizerReservedConcurrency: the authorizer keeps its own concurrency, from the
// parameter, and none when it is 0.
func TestAuthorizerReservedConcurrency(t *testing.T) {
	_, j := full()
	id := logicalIDOf(t, j, "AWS::Lambda::Function", "AuthorizerFunction")
	got := resourcesOf(j, "AWS::Lambda::Function")[id]["Properties"].(map[string]any)["ReservedConcurrentExecutions"]
	want := map[string]any{"Fn::If": []any{"HasAuthorizerReserve", map[string]any{"Ref": "AuthorizerReservedConcurrency"}, map[string]any{"Ref": "AWS::NoValue"}}}
	if !sameJSON(got, want) {
		t.Errorf("ReservedConcurrentExecutions = %v, want %v", got, want)
	}
	cond := j["Conditions"].(map[string]any)["HasAuthorizerReserve"]
	if !sameJSON(cond, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "AuthorizerReservedConcurrency"}, "0"}}}}) {
		t.Errorf("HasAuthorizerReserve = %v", cond)
	}
}

// TestAccessLogs: the stage logs one JSON line per request into a log group kept a month, with
// the request's outcome and no header, query string or path (where tokens could be).
func TestAccessLogs(t *testing.T) {
	_, j := full()
	logs := logicalIDOf(t, j, "AWS::Logs::LogGroup", "ApiAccessLogs")
	for _, st := range resourcesOf(j, "AWS::ApiGatewayV2::Stage") {
		als := st["Properties"].(map[string]any)["AccessLogSettings"].(map[string]any)
		if !sameJSON(als["DestinationArn"], map[string]any{"Fn::GetAtt": []any{logs, "Arn"}}) {
			t.Errorf("access logs go to %v, want %s", als["DestinationArn"], logs)
		}
		format, _ := als["Format"].(string)
		var fields map[string]string
		if err := json.Unmarshal([]byte(format), &fields); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		for _, v := range []string{"$context.requestId", "$context.identity.sourceIp", "$context.routeKey", "$context.status", "$context.responseLatency", "$context.integrationErrorMessage"} {
			if !slices.Contains(slices.Collect(maps.Values(fields)), v) {
				t.Errorf("access log format lacks %s", v)
			}
		}
		for _, bad := range []string{"header", "authorization", "querystring", "path", "$request", "authorizer"} {
			if strings.Contains(strings.ToLower(format), bad) {
				t.Errorf("access log format contains %q: %s", bad, format)
			}
		}
	}
}

// TestEdgeAlarms: an alarm on the API's 5xx answers, and a metric filter and alarm for each
// paging audit event on the log group of the function that logs it; every alarm notifies the
// optional topic.
func TestEdgeAlarms(t *testing.T) {
	tpl, j := full()
	api := logicalIDOf(t, j, "AWS::ApiGatewayV2::Api", "HttpApi")
	check(t, "5xx alarm", func() {
		tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"Namespace": "AWS/ApiGateway", "MetricName": "5xx", "Statistic": "Sum", "Period": 300,
			"Threshold": 1, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
			"Dimensions": []any{map[string]any{"Name": "ApiId", "Value": map[string]any{"Ref": api}}, map[string]any{"Name": "Stage", "Value": "$default"}},
		})
	})
	namespace := map[string]any{"Fn::Sub": "Latchkey/${AWS::StackName}"}
	for fn, c := range map[string]struct{ msg, metric string }{
		"SessionsFunction": {"refresh.reuse_detected", "RefreshReuseDetected"},
		"PasskeysFunction": {"passkey.counter_regressed", "PasskeyCounterRegressed"},
	} {
		logs := logicalIDOf(t, j, "AWS::Logs::LogGroup", fn+"Logs")
		check(t, c.msg+" filter", func() {
			tpl.HasResourceProperties(jsii.String("AWS::Logs::MetricFilter"), map[string]any{
				"LogGroupName":  map[string]any{"Ref": logs},
				"FilterPattern": `{ ($.msg = "` + c.msg + `") && ($.audit IS TRUE) }`,
				"MetricTransformations": []any{map[string]any{
					"MetricNamespace": namespace, "MetricName": c.metric, "MetricValue": "1",
				}},
			})
		})
		check(t, c.msg+" alarm", func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": namespace, "MetricName": c.metric, "Statistic": "Sum", "Period": 300,
				"Threshold": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "notBreaching",
			})
		})
	}
	check(t, "filters", func() { tpl.ResourceCountIs(jsii.String("AWS::Logs::MetricFilter"), jsii.Number(2)) })
	check(t, "alarm actions", func() {
		tpl.AllResourcesProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
			"AlarmActions": map[string]any{"Fn::If": []any{"HasAlarmTopic", []any{map[string]any{"Ref": "AlarmTopicArn"}}, map[string]any{"Ref": "AWS::NoValue"}}},
		})
	})
}

func TestLogRetention(t *testing.T) {
	tpl, _ := full()
	check(t, "log groups", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(float64(len(catalog)+1))) // + ApiAccessLogs
		tpl.AllResourcesProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 30})
	})
}

func TestErrorAlarms(t *testing.T) {
	tpl, j := full()
	check(t, "alarms", func() {
		// One per function, the API's 5xx and one per paging audit event.
		tpl.ResourceCountIs(jsii.String("AWS::CloudWatch::Alarm"), jsii.Number(float64(len(catalog)+1+len(alerts))))
	})
	for _, spec := range catalog {
		fn := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
		check(t, spec.Name+" alarm", func() {
			tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
				"Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 300,
				"Threshold": 1, "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
				"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fn}}},
			})
		})
	}
}

// TestRoutes checks that the HTTP API has exactly the catalog's routes, each integrated with the
// function that declares it.
func TestRoutes(t *testing.T) {
	_, j := full()
	integrations := resourcesOf(j, "AWS::ApiGatewayV2::Integration")
	got := map[string]string{} // route key -> function construct id
	for id, r := range resourcesOf(j, "AWS::ApiGatewayV2::Route") {
		props := r["Properties"].(map[string]any)
		target := fmt.Sprint(props["Target"])
		var fn string
		for iid, in := range integrations {
			if strings.Contains(target, iid) {
				uri := in["Properties"].(map[string]any)["IntegrationUri"].(map[string]any)["Fn::GetAtt"].([]any)
				fn = constructID(uri[0].(string))
			}
		}
		if fn == "" {
			t.Errorf("route %s: no integration in target %s", id, target)
		}
		got[props["RouteKey"].(string)] = fn
	}
	want := map[string]string{}
	for _, spec := range catalog {
		for _, r := range spec.Routes {
			want[r.Method+" "+r.Path] = spec.LogicalID()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("routes:\n got %v\nwant %v", got, want)
	}
}

// TestLeastPrivilege walks every IAM policy attached to each function's role and requires the
// allowed (action, resource) pairs to be exactly the catalog's grants: nothing more, no "*".
func TestLeastPrivilege(t *testing.T) {
	_, j := full()
	for _, spec := range catalog {
		got := grantsOf(t, j, spec)
		var want []string
		for _, g := range spec.Grants {
			for _, a := range g.Actions {
				want = append(want, a+" on "+string(g.On))
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s grants:\n got %v\nwant %v", spec.Name, got, want)
		}
		if signs := slices.Contains(got, "kms:Sign on SigningKey"); signs != slices.Contains(tokenIssuers, spec.Name) {
			t.Errorf("%s: may sign access tokens (kms:Sign on SigningKey) = %v; only %v may", spec.Name, signs, tokenIssuers)
		}
		if signs := slices.Contains(got, "kms:Sign on IdTokenKey"); signs != slices.Contains(idTokenIssuers, spec.Name) {
			t.Errorf("%s: may sign ID tokens (kms:Sign on IdTokenKey) = %v; only %v may", spec.Name, signs, idTokenIssuers)
		}
		var ses []string
		for _, g := range got {
			if strings.HasPrefix(g, "ses:") {
				ses = append(ses, g)
			}
		}
		wantSES := []string(nil)
		if slices.Contains(emailSenders, spec.Name) {
			wantSES = []string{"ses:SendEmail on EmailIdentity"}
		}
		if !slices.Equal(ses, wantSES) {
			t.Errorf("%s: SES grants %v, want %v (only %v send, only as the sender identity)", spec.Name, ses, wantSES, emailSenders)
		}
	}
}

// TestIDTokenKeyGrants: the provider (oidc) signs nothing with either key; passkeys, which signs
// access tokens, cannot sign ID tokens; the JWKS and the provider read both keys' public halves;
// no other function may touch the ID-token key at all.
func TestIDTokenKeyGrants(t *testing.T) {
	_, j := full()
	grants := map[string][]string{}
	for _, spec := range catalog {
		grants[spec.Name] = grantsOf(t, j, spec)
	}
	if slices.ContainsFunc(grants["oidc"], func(g string) bool { return strings.HasPrefix(g, "kms:Sign ") }) {
		t.Errorf("oidc may call kms:Sign: %v", grants["oidc"])
	}
	if slices.Contains(grants["passkeys"], "kms:Sign on IdTokenKey") || !slices.Contains(grants["passkeys"], "kms:Sign on SigningKey") {
		t.Errorf("passkeys grants %v: want kms:Sign on the access-token key only", grants["passkeys"])
	}
	for _, fn := range []string{"wellknown", "oidc"} {
		for _, want := range []string{"kms:GetPublicKey on SigningKey", "kms:GetPublicKey on IdTokenKey"} {
			if !slices.Contains(grants[fn], want) {
				t.Errorf("%s lacks %s: %v", fn, want, grants[fn])
			}
		}
	}
	if want := []string{"kms:GetPublicKey on IdTokenKey", "kms:Sign on IdTokenKey"}; !slices.Equal(onIDTokenKey(grants["sessions"]), want) {
		t.Errorf("sessions on the ID-token key: %v, want %v", onIDTokenKey(grants["sessions"]), want)
	}
	for name, g := range grants {
		if on := onIDTokenKey(g); len(on) > 0 && !slices.Contains(idTokenKeyReaders, name) {
			t.Errorf("%s may act on the ID-token key: %v; only %v may", name, on, idTokenKeyReaders)
		}
	}
}

// onIDTokenKey returns the grants of grants on the ID-token key.
func onIDTokenKey(grants []string) []string {
	var on []string
	for _, g := range grants {
		if strings.HasSuffix(g, " on IdTokenKey") {
			on = append(on, g)
		}
	}
	return on
}

func TestAuthorizerExposed(t *testing.T) {
	tpl, j := full()
	fn := logicalIDOf(t, j, "AWS::Lambda::Function", "AuthorizerFunction")
	check(t, "invoke permission", func() {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]any{
			"Action":        "lambda:InvokeFunction",
			"FunctionName":  map[string]any{"Fn::GetAtt": []any{fn, "Arn"}},
			"Principal":     "apigateway.amazonaws.com",
			"SourceAccount": map[string]any{"Ref": "AWS::AccountId"},
			"SourceArn":     map[string]any{"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/authorizers/*"},
		})
	})
	check(t, "output", func() {
		tpl.HasOutput(jsii.String("AuthorizerArn"), map[string]any{
			"Value":  map[string]any{"Fn::GetAtt": []any{fn, "Arn"}},
			"Export": map[string]any{"Name": map[string]any{"Fn::Sub": "${AWS::StackName}-AuthorizerArn"}},
		})
	})
}

// TestEnabledStack synthesizes what main deploys today.
func TestEnabledStack(t *testing.T) {
	tpl, j := synth(Enabled())
	check(t, "functions", func() {
		tpl.ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(float64(len(Enabled()))))
	})
	outputs := j["Outputs"].(map[string]any)
	for _, name := range []string{"ApiUrl", "TableName", "SigningKeyArn", "IdTokenKeyArn"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("output %s missing", name)
		}
	}
	_, hasAuthorizer := outputs["AuthorizerArn"]
	if want := slices.ContainsFunc(Enabled(), func(f Function) bool { return f.Authorizer }); hasAuthorizer != want {
		t.Errorf("AuthorizerArn output present = %v, want %v", hasAuthorizer, want)
	}
}

func TestMissingBinaries(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "wellknown"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "wellknown", "bootstrap"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := missingBinaries(dir, catalog)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sessions", "authorizer", "passkeys", "email", "oidc"}; !slices.Equal(got, want) {
		t.Errorf("missingBinaries = %v, want %v", got, want)
	}
}

// grantsOf returns "action on Resource" for every Allow statement of every policy attached to
// spec's role, sorted. Statements on anything but the stack's key, secret, table or indexes fail.
func grantsOf(t *testing.T, j map[string]any, spec Function) []string {
	t.Helper()
	fnID := logicalIDOf(t, j, "AWS::Lambda::Function", spec.LogicalID())
	fn := resourcesOf(j, "AWS::Lambda::Function")[fnID]["Properties"].(map[string]any)
	role := fn["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)

	roleProps := resourcesOf(j, "AWS::IAM::Role")[role]["Properties"].(map[string]any)
	if _, ok := roleProps["Policies"]; ok {
		t.Errorf("%s: role has inline policies", spec.Name)
	}
	managed := fmt.Sprint(roleProps["ManagedPolicyArns"])
	if strings.Count(managed, "arn:") != 1 || !strings.Contains(managed, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole") {
		t.Errorf("%s: managed policies %s, want only AWSLambdaBasicExecutionRole", spec.Name, managed)
	}

	var got []string
	for id, p := range resourcesOf(j, "AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		if !slices.ContainsFunc(props["Roles"].([]any), func(r any) bool { return fmt.Sprint(r) == fmt.Sprint(map[string]any{"Ref": role}) }) {
			continue
		}
		for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				t.Errorf("%s: policy %s has a %v statement", spec.Name, id, st["Effect"])
				continue
			}
			for _, r := range list(st["Resource"]) {
				res := resourceOf(r)
				if res == "" {
					t.Errorf("%s: statement on unexpected resource %v", spec.Name, r)
				}
				for _, a := range list(st["Action"]) {
					got = append(got, fmt.Sprintf("%s on %s", a, res))
				}
			}
		}
	}
	sort.Strings(got)
	return got
}

// resourceOf names the stack resource an IAM Resource value points at, or "" if it is none of
// the key, secret, table, table indexes or sender identity.
func resourceOf(v any) Resource {
	m, ok := v.(map[string]any)
	if !ok {
		return "" // a literal such as "*"
	}
	if sameJSON(m, wantEmailIdentityArn) {
		return EmailIdentity
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && ga[1] == "Arn" {
		switch constructID(ga[0].(string)) {
		case "SigningKey":
			return SigningKey
		case "IdTokenKey":
			return IDTokenKey
		case "Table":
			return Table
		}
	}
	if ref, ok := m["Ref"].(string); ok && constructID(ref) == "HmacSecret" {
		return HmacSecret
	}
	if ref, ok := m["Ref"].(string); ok && constructID(ref) == "MachineSecret" {
		return MachineSecret
	}
	if join, ok := m["Fn::Join"].([]any); ok {
		parts := join[1].([]any)
		if len(parts) == 2 && resourceOf(parts[0]) == Table && parts[1] == "/index/*" {
			return TableIndexes
		}
	}
	return ""
}

// wantEmailIdentityArn is the only SES resource any function may act on: the identity named by
// EmailIdentity, or the EmailFrom address itself when that is empty.
var wantEmailIdentityArn = map[string]any{"Fn::Sub": []any{
	"arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Identity}",
	map[string]any{"Identity": map[string]any{"Fn::If": []any{"HasEmailIdentity", map[string]any{"Ref": "EmailIdentity"}, map[string]any{"Ref": "EmailFrom"}}}},
}}

// TestEmail: the sender identity the SES grant names, and a first deploy refused without an
// EmailFrom.
func TestEmail(t *testing.T) {
	_, j := full()
	notEmpty := func(p string) map[string]any {
		return map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": p}, ""}}}}
	}
	if got := j["Conditions"].(map[string]any)["HasEmailIdentity"]; !sameJSON(got, notEmpty("EmailIdentity")) {
		t.Errorf("condition HasEmailIdentity = %v", got)
	}
	rule := j["Rules"].(map[string]any)["EmailFromRequired"]
	if !sameJSON(rule, map[string]any{"Assertions": []any{map[string]any{
		"Assert":            notEmpty("EmailFrom"),
		"AssertDescription": "set EmailFrom, the From address of Latchkey's emails, an address of a verified SES identity (EmailIdentity)",
	}}}) {
		t.Errorf("rule EmailFromRequired = %v", rule)
	}
	// Every SES statement of the stack is ses:SendEmail on the identity, nothing wider.
	for id, p := range resourcesOf(j, "AWS::IAM::Policy") {
		for _, st := range p["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			st := st.(map[string]any)
			if !strings.Contains(fmt.Sprint(st["Action"]), "ses:") {
				continue
			}
			if fmt.Sprint(list(st["Action"])) != "[ses:SendEmail]" || !sameJSON(st["Resource"], wantEmailIdentityArn) || st["Condition"] != nil {
				t.Errorf("%s: SES statement %v, want ses:SendEmail on %v", id, st, wantEmailIdentityArn)
			}
		}
	}
}

// envNames are the environment variables every function gets.
var envNames = []string{
	"LATCHKEY_TABLE", "LATCHKEY_ISSUER", "LATCHKEY_AUDIENCE", "LATCHKEY_SIGNING_KEYS",
	"LATCHKEY_SECRET_ID", "LATCHKEY_RP_ID", "LATCHKEY_RP_ORIGINS", "LATCHKEY_ATTESTATION", "LATCHKEY_VERSION",
	"LATCHKEY_MACHINE_SECRET_ID",
}

var hashSuffix = regexp.MustCompile(`[0-9A-F]{8}$`)

// constructID strips the hash CDK appends to a top-level construct's logical id.
func constructID(logicalID string) string { return hashSuffix.ReplaceAllString(logicalID, "") }

// resourcesOf returns the template's resources of type typ by logical id.
func resourcesOf(j map[string]any, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range j["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

// logicalIDOf finds the logical id of the resource of type typ defined by construct id.
func logicalIDOf(t *testing.T, j map[string]any, typ, id string) string {
	t.Helper()
	for lid := range resourcesOf(j, typ) {
		if constructID(lid) == id {
			return lid
		}
	}
	t.Fatalf("no %s for construct %s", typ, id)
	return ""
}

// list returns v as a list whether the template holds one value or several.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// TestAuthorizerWritesOnlyLastUsed: the authorizer's table actions are its reads and the one
// UpdateItem of an API key's lastUsedAt; it can put or delete nothing.
func TestAuthorizerWritesOnlyLastUsed(t *testing.T) {
	_, j := full()
	for _, spec := range catalog {
		if !spec.Authorizer {
			continue
		}
		var table []string
		for _, g := range grantsOf(t, j, spec) {
			if strings.HasPrefix(g, "dynamodb:") {
				table = append(table, g)
			}
		}
		want := []string{"dynamodb:BatchGetItem on Table", "dynamodb:GetItem on Table", "dynamodb:UpdateItem on Table"}
		if !slices.Equal(table, want) {
			t.Errorf("authorizer table grants %v, want %v", table, want)
		}
	}
}
