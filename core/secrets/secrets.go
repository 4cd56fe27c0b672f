// Package secrets loads Latchkey's HMAC key from AWS Secrets Manager once, at cold start.
// The key never appears in the environment, in logs or in errors.
package secrets

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
)

// API is the one Secrets Manager call the loader makes.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// HMACKey returns the current value of secret id as key bytes. A string secret is used as its
// bytes (the stacks generate 64 random alphanumerics, about 380 bits); a binary one as is.
// Fewer than 32 bytes is refused.
func HMACKey(ctx context.Context, api API, id string) ([]byte, error) {
	const op = "secrets.HMACKey"
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return nil, core.E(op, core.KindUnavailable, "secret store unavailable", err)
	}
	key := out.SecretBinary
	if out.SecretString != nil {
		key = []byte(*out.SecretString)
	}
	if len(key) < 32 {
		return nil, core.Wrap(op, errors.New("the HMAC secret is shorter than 32 bytes"))
	}
	return key, nil
}
