package boot

import (
	"context"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"gopkg.in/yaml.v3"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func base() map[string]string {
	return map[string]string{
		"LATCHKEY_TABLE":        "t",
		"LATCHKEY_ISSUER":       "https://auth.example.com/",
		"LATCHKEY_AUDIENCE":     "api",
		"LATCHKEY_SIGNING_KEYS": "k1, k2,",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(base()), Need{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://auth.example.com" {
		t.Errorf("issuer = %q, want trailing slash trimmed", c.Issuer)
	}
	if len(c.SigningKeys) != 2 || c.SigningKeys[0] != "k1" || c.SigningKeys[1] != "k2" {
		t.Errorf("signing keys = %q", c.SigningKeys)
	}
	if c.AccessTTL != 10*time.Minute || c.Version != "dev" {
		t.Errorf("defaults: ttl %s version %q", c.AccessTTL, c.Version)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	m := base()
	delete(m, "LATCHKEY_TABLE")
	m["LATCHKEY_ISSUER"] = "not a url"
	m["LATCHKEY_ACCESS_TTL"] = "forever"
	_, err := Load(env(m), Need{Secret: true, RP: true})
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"LATCHKEY_TABLE", "LATCHKEY_ISSUER", "LATCHKEY_ACCESS_TTL", "LATCHKEY_SECRET_ID", "LATCHKEY_RP_ID", "LATCHKEY_RP_ORIGINS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestLoadBoundsDurations(t *testing.T) {
	m := base()
	m["LATCHKEY_ACCESS_TTL"] = "10s"
	if _, err := Load(env(m), Need{}); err == nil {
		t.Fatal("an access TTL under a minute must be refused")
	}
}

func TestLoadSessionSettings(t *testing.T) {
	m := base()
	m["LATCHKEY_REFRESH_GRACE"] = "0"
	m["LATCHKEY_INTROSPECTION_CLIENTS"] = "rs:" + strings.Repeat("ab", 32)
	c, err := Load(env(m), Need{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Grace != 0 || c.SessionTTL != 720*time.Hour || c.SessionIdle != 168*time.Hour || c.IntrospectionClients["rs"] != strings.Repeat("ab", 32) {
		t.Fatalf("%+v", c)
	}
	m["LATCHKEY_INTROSPECTION_CLIENTS"] = "rs:plaintext-secret"
	if _, err := Load(env(m), Need{}); err == nil {
		t.Fatal("a plaintext introspection secret was accepted")
	}
}

func TestLoadRelyingParty(t *testing.T) {
	m := base()
	m["LATCHKEY_RP_ID"] = "example.com"
	m["LATCHKEY_RP_ORIGINS"] = "https://app.example.com, http://localhost:8080"
	c, err := Load(env(m), Need{RP: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.RPID != "example.com" || len(c.RPOrigins) != 2 || c.RPName != "example.com" || c.Attestation != "none" {
		t.Fatalf("%+v", c)
	}
	m["LATCHKEY_ATTESTATION"] = "Direct"
	if c, err := Load(env(m), Need{RP: true}); err != nil || c.Attestation != "direct" {
		t.Fatalf("attestation direct: %q, %v", c.Attestation, err)
	}
	for name, bad := range map[string]map[string]string{
		"attestation": {"LATCHKEY_ATTESTATION": "self"},
		"origin path": {"LATCHKEY_RP_ORIGINS": "https://app.example.com/login"},
		"origin host": {"LATCHKEY_RP_ORIGINS": "app.example.com"},
	} {
		m := base()
		m["LATCHKEY_RP_ID"] = "example.com"
		m["LATCHKEY_RP_ORIGINS"] = "https://app.example.com"
		for k, v := range bad {
			m[k] = v
		}
		if _, err := Load(env(m), Need{RP: true}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestAWSFromTheLambdaEnvironment(t *testing.T) {
	m := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000", "AWS_ENDPOINT_URL_SESV2": "http://127.0.0.1:5001",
	}
	cfg, err := AWS(context.Background(), env(m))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || cfg.Region != "eu-west-1" || creds.AccessKeyID != "AKID" || creds.SessionToken != "tok" {
		t.Fatalf("region %q creds %+v err %v", cfg.Region, creds, err)
	}
	src := cfg.ConfigSources[0].(interface {
		GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
	})
	if v, ok, _ := src.GetServiceBaseEndpoint(context.Background(), "Secrets Manager"); !ok || v != "http://127.0.0.1:5000" {
		t.Fatalf("secrets manager endpoint %q %v", v, ok)
	}
	// SES v2's service id is "SESv2": its variable is AWS_ENDPOINT_URL_SESV2.
	if v, ok, _ := src.GetServiceBaseEndpoint(context.Background(), sesv2.ServiceID); !ok || v != "http://127.0.0.1:5001" {
		t.Fatalf("sesv2 endpoint %q %v", v, ok)
	}
	if _, ok, _ := src.GetServiceBaseEndpoint(context.Background(), "DynamoDB"); ok {
		t.Fatal("an unset endpoint was found")
	}
	if _, err := AWS(context.Background(), env(map[string]string{})); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("missing environment: %v", err)
	}
}

func TestLoadLimitsDefault(t *testing.T) {
	c, err := Load(env(base()), Need{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != DefaultLimits {
		t.Errorf("limits %+v, want the defaults %+v", c.Limits, DefaultLimits)
	}
	if len(LimitVars) != len(c.Limits.rules()) {
		t.Fatalf("%d limit variables for %d rules", len(LimitVars), len(c.Limits.rules()))
	}
}

func TestLoadLimitsFromEnvironment(t *testing.T) {
	m := base()
	m["LATCHKEY_LIMIT_TOKEN_IP"] = " 600 / 5m "
	m["LATCHKEY_LIMIT_PASSKEY_FINISH_ACCOUNT"] = "5/30s"
	c, err := Load(env(m), Need{})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultLimits
	want.TokenByIP = Rule{Name: "token-ip", Limit: 600, Window: 5 * time.Minute}
	want.PasskeyFinishByAccount = Rule{Name: "pk-finish-acct", Limit: 5, Window: 30 * time.Second}
	if c.Limits != want {
		t.Errorf("limits\n %+v\nwant\n %+v", c.Limits, want)
	}
	// Every variable reaches its own rule.
	for i, name := range LimitVars {
		m := base()
		m[name] = "7/7s"
		c, err := Load(env(m), Need{})
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range c.Limits.rules() {
			if changed := *r != *DefaultLimits.rules()[j]; changed != (i == j) {
				t.Errorf("%s changed rule %d (%s) = %v", name, j, r.Name, changed)
			}
		}
	}
}

func TestLoadLimitsRefusesBadValues(t *testing.T) {
	for _, v := range []string{"120", "120/", "/1m", "x/1m", "120/forever", "0/1m", "-1/1m", "100001/1m", "10/500ms", "10/2h", "1.5/1m"} {
		m := base()
		m["LATCHKEY_LIMIT_TOKEN_SESSION"] = v
		_, err := Load(env(m), Need{})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_LIMIT_TOKEN_SESSION") {
			t.Errorf("%q: error %v, want one naming LATCHKEY_LIMIT_TOKEN_SESSION", v, err)
		}
	}
	for _, v := range []string{"1/1s", "100000/1h", "30/60s"} {
		m := base()
		m["LATCHKEY_LIMIT_TOKEN_SESSION"] = v
		if _, err := Load(env(m), Need{}); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
}

// TestStackDefaultsAreBoots reads the parameters of template.yaml (which infra/parity_test.go
// holds equal to the CDK stack's) and requires each variable a function gets from a parameter
// to load, at the parameter's default, exactly as if the variable were unset.
func TestStackDefaultsAreBoots(t *testing.T) {
	src, err := os.ReadFile("../../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Parameters map[string]struct {
			Default *string `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Properties struct {
				Environment struct {
					Variables map[string]yaml.Node `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(src, &tpl); err != nil {
		t.Fatal(err)
	}
	want, err := Load(env(base()), Need{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, res := range tpl.Resources {
		for name, v := range res.Properties.Environment.Variables {
			if v.Tag != "!Ref" || seen[name] {
				continue
			}
			seen[name] = true
			p, ok := tpl.Parameters[v.Value]
			if !ok || p.Default == nil {
				t.Errorf("%s: parameter %s has no default", name, v.Value)
				continue
			}
			m := base()
			m[name] = *p.Default
			got, err := Load(env(m), Need{})
			if err != nil {
				t.Errorf("%s=%q (the default of %s): %v", name, *p.Default, v.Value, err)
			} else if !reflect.DeepEqual(got, want) {
				t.Errorf("%s=%q (the default of %s) loads differently from boot's default", name, *p.Default, v.Value)
			}
		}
	}
	for _, name := range append([]string{"LATCHKEY_ACCESS_TTL", "LATCHKEY_SESSION_TTL", "LATCHKEY_SESSION_IDLE",
		"LATCHKEY_REFRESH_GRACE", "LATCHKEY_REAUTH_MAX_AGE", "LATCHKEY_RP_NAME", "LATCHKEY_INTROSPECTION_CLIENTS",
		"LATCHKEY_API_KEY_ENV", "LATCHKEY_API_KEYS_MAX", "LATCHKEY_USER_SCOPES",
		"LATCHKEY_MACHINE_CLIENTS", "LATCHKEY_MACHINE_SECRET_MAX_AGE", "LATCHKEY_ROUTE_SCOPES",
		"LATCHKEY_OIDC_CLIENTS", "LATCHKEY_PROVIDER_SESSION_TTL"}, LimitVars...) {
		if !seen[name] {
			t.Errorf("no function of template.yaml gets %s from a parameter", name)
		}
	}
}

func TestLoadClientID(t *testing.T) {
	m := base()
	c, err := Load(env(m), Need{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientID != "latchkey" {
		t.Errorf("default client id = %q, want latchkey", c.ClientID)
	}
	m["LATCHKEY_CLIENT_ID"] = " my-app.web_1~ "
	if c, err = Load(env(m), Need{}); err != nil || c.ClientID != "my-app.web_1~" {
		t.Errorf("client id = %q, %v", c.ClientID, err)
	}
	for _, bad := range []string{"has space", "a:b", "a%20b", "é", strings.Repeat("x", 65)} {
		m["LATCHKEY_CLIENT_ID"] = bad
		if _, err := Load(env(m), Need{}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_CLIENT_ID") {
			t.Errorf("client id %q: err = %v, want it refused", bad, err)
		}
	}
}

func TestLoadEmailSettings(t *testing.T) {
	if _, err := Load(env(base()), Need{Email: true}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_EMAIL_FROM is required") {
		t.Errorf("without a sender: %v", err)
	}
	m := base()
	m["LATCHKEY_EMAIL_FROM"] = "Example <no-reply@example.com>"
	c, err := Load(env(m), Need{Email: true})
	if err != nil {
		t.Fatal(err)
	}
	if c.EmailFrom != "Example <no-reply@example.com>" || !c.EmailRequired || c.RecoveryDelay != 24*time.Hour || c.RPName != "Latchkey" {
		t.Errorf("defaults: from %q required %v delay %s app %q", c.EmailFrom, c.EmailRequired, c.RecoveryDelay, c.RPName)
	}
	m["LATCHKEY_EMAIL_REQUIRED"], m["LATCHKEY_RECOVERY_DELAY"], m["LATCHKEY_RP_ID"] = "false", "0s", "example.com"
	if c, err = Load(env(m), Need{Email: true}); err != nil || c.EmailRequired || c.RecoveryDelay != 0 || c.RPName != "example.com" {
		t.Errorf("set: required %v delay %s app %q err %v", c.EmailRequired, c.RecoveryDelay, c.RPName, err)
	}
	for k, v := range map[string]string{
		"LATCHKEY_EMAIL_FROM": "not an address", "LATCHKEY_EMAIL_REQUIRED": "yes", "LATCHKEY_RECOVERY_DELAY": "721h",
	} {
		bad := base()
		bad["LATCHKEY_EMAIL_FROM"] = "no-reply@example.com"
		bad[k] = v
		if _, err := Load(env(bad), Need{Email: true}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
}

func TestLoadAPIKeySettings(t *testing.T) {
	c, err := Load(env(base()), Need{})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIKeyEnv != "live" || c.APIKeysMax != 25 || len(c.UserScopes) != 0 {
		t.Errorf("defaults: env %q max %d scopes %q", c.APIKeyEnv, c.APIKeysMax, c.UserScopes)
	}
	m := base()
	m["LATCHKEY_API_KEY_ENV"], m["LATCHKEY_API_KEYS_MAX"], m["LATCHKEY_USER_SCOPES"] = "test", "48", " orders:read  orders:write orders:read "
	if c, err = Load(env(m), Need{}); err != nil || c.APIKeyEnv != "test" || c.APIKeysMax != 48 || !reflect.DeepEqual(c.UserScopes, []string{"orders:read", "orders:write"}) {
		t.Errorf("set: env %q max %d scopes %q err %v", c.APIKeyEnv, c.APIKeysMax, c.UserScopes, err)
	}
	for k, v := range map[string]string{
		"LATCHKEY_API_KEY_ENV": "prod", "LATCHKEY_API_KEYS_MAX": "49", "LATCHKEY_USER_SCOPES": `a "b"`,
	} {
		bad := base()
		bad[k] = v
		if _, err := Load(env(bad), Need{}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: %v", k, v, err)
		}
	}
	bad := base()
	bad["LATCHKEY_API_KEYS_MAX"] = "0"
	if _, err := Load(env(bad), Need{}); err == nil {
		t.Error("a cap of 0 was accepted")
	}
}

func TestLoadMachineClients(t *testing.T) {
	m := base()
	m["LATCHKEY_SECRET_ID"] = "hmac"
	if c, err := Load(env(m), Need{Secret: true}); err != nil || c.MachineClients != nil || c.MachineSecretMaxAge != time.Minute {
		t.Fatalf("defaults: %+v %v", c.MachineClients, err)
	}
	var c Config
	var err error
	m["LATCHKEY_MACHINE_CLIENTS"] = `[{"id":"ci","scopes":["orders:read","orders:write"]},{"id":"nightly.job_1~","scopes":[],"enabled":false}]`
	if _, err := Load(env(m), Need{Secret: true}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_MACHINE_SECRET_ID is required") {
		t.Fatalf("clients without the secret: %v", err)
	}
	// A function that reads no secret (the authorizer) needs only the clients.
	if c, err = Load(env(m), Need{}); err != nil || len(c.MachineClients) != 2 {
		t.Fatalf("authorizer: %+v %v", c.MachineClients, err)
	}
	m["LATCHKEY_MACHINE_SECRET_ID"], m["LATCHKEY_MACHINE_SECRET_MAX_AGE"] = "machines", "0s"
	c, err = Load(env(m), Need{Secret: true})
	want := []MachineClient{{ID: "ci", Scopes: []string{"orders:read", "orders:write"}, Enabled: true}, {ID: "nightly.job_1~", Scopes: []string{}, Enabled: false}}
	if err != nil || !reflect.DeepEqual(c.MachineClients, want) || c.MachineSecretID != "machines" || c.MachineSecretMaxAge != 0 {
		t.Fatalf("clients %+v secret %q max age %s err %v", c.MachineClients, c.MachineSecretID, c.MachineSecretMaxAge, err)
	}
	for _, bad := range []string{
		`{"id":"ci"}`, `[{"id":"ci","scope":["a"]}]`, `[{"id":"has space"}]`, `[{"id":""}]`,
		`[{"id":"latchkey"}]`, `[{"id":"ci"},{"id":"ci"}]`, `[{"id":"ci","scopes":["a b"]}]`, `[{"id":"ci","scopes":["say\"hi"]}]`, `[] []`,
	} {
		m["LATCHKEY_MACHINE_CLIENTS"] = bad
		if _, err := Load(env(m), Need{Secret: true}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_MACHINE_CLIENTS") {
			t.Errorf("%s: %v, want it refused", bad, err)
		}
	}
	m["LATCHKEY_MACHINE_CLIENTS"], m["LATCHKEY_MACHINE_SECRET_MAX_AGE"] = "[]", "2h"
	if _, err := Load(env(m), Need{Secret: true}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_MACHINE_SECRET_MAX_AGE") {
		t.Errorf("max age over an hour: %v", err)
	}
}

func TestLoadRouteScopes(t *testing.T) {
	m := base()
	m["LATCHKEY_ROUTE_SCOPES"] = `{"GET /orders/{id}": ["orders:read"], "ANY /admin/{proxy+}": ["admin", "orders:write"]}`
	c, err := Load(env(m), Need{})
	want := map[string][]string{"GET /orders/{id}": {"orders:read"}, "ANY /admin/{proxy+}": {"admin", "orders:write"}}
	if err != nil || !reflect.DeepEqual(c.RouteScopes, want) {
		t.Fatalf("route scopes %v err %v", c.RouteScopes, err)
	}
	for _, bad := range []string{`[]`, `{"/orders": ["a"]}`, `{"get /orders": ["a"]}`, `{"GET orders": ["a"]}`, `{"GET /orders": []}`, `{"GET /orders": ["a b"]}`, `null`} {
		m["LATCHKEY_ROUTE_SCOPES"] = bad
		if _, err := Load(env(m), Need{}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_ROUTE_SCOPES") {
			t.Errorf("%s: %v, want it refused", bad, err)
		}
	}
}
