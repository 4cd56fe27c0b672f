package boot

import (
	"context"
	"strings"
	"testing"
	"time"
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
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000",
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
	if _, ok, _ := src.GetServiceBaseEndpoint(context.Background(), "DynamoDB"); ok {
		t.Fatal("an unset endpoint was found")
	}
	if _, err := AWS(context.Background(), env(map[string]string{})); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("missing environment: %v", err)
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
