package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRefusesNonLocalEndpoints(t *testing.T) {
	for _, ep := range []string{"", "https://dynamodb.us-east-1.amazonaws.com", "http://10.0.0.5:8000", "http://localhost.attacker.example:8000"} {
		env := map[string]string{
			"AWS_ENDPOINT_URL_DYNAMODB":        ep,
			"AWS_ENDPOINT_URL_KMS":             "http://127.0.0.1:5000",
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000",
		}
		var out bytes.Buffer
		err := run(context.Background(), func(k string) string { return env[k] }, &out)
		if err == nil || !strings.Contains(err.Error(), "local stack") || out.Len() != 0 {
			t.Errorf("endpoint %q: err %v, output %q", ep, err, out.String())
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"} {
		if err := loopback(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
