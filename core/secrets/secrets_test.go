package secrets_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/local/testenv"
)

func TestHMACKeyFromMoto(t *testing.T) {
	api := testenv.SecretsManager(t)
	ctx := context.Background()
	long, short := testenv.Name("hmac"), testenv.Name("short")
	for name, value := range map[string]string{long: "0123456789abcdef0123456789abcdef-and-more", short: "too-short"} {
		if _, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := secrets.HMACKey(ctx, api, long)
	if err != nil || string(key) != "0123456789abcdef0123456789abcdef-and-more" {
		t.Fatalf("key %q err %v", key, err)
	}
	if _, err := secrets.HMACKey(ctx, api, short); err == nil || core.KindOf(err) != core.KindInternal {
		t.Fatalf("a short key: %v", err)
	}
	if _, err := secrets.HMACKey(ctx, api, testenv.Name("missing")); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("a missing secret: %v", err)
	}
}
