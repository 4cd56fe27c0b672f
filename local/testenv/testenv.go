// Package testenv hands tests the AWS clients of the local stack that `make test` starts
// (DynamoDB Local and the moto server, which serves KMS, Secrets Manager and SES). A test that
// needs a service and does not find it fails with a message saying how to get it; it never
// skips.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
)

// AWSConfig returns an SDK config for the local emulators named by the standard
// AWS_ENDPOINT_URL_<SERVICE> variables, failing the test if service's variable is unset.
func AWSConfig(t testing.TB, endpointVar string) aws.Config {
	t.Helper()
	if os.Getenv(endpointVar) == "" {
		t.Fatalf("%s is not set: this test needs the local emulators; run it through `make test`", endpointVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")),
	)
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	return cfg
}

// DynamoDB returns a client for DynamoDB Local.
func DynamoDB(t testing.TB) *dynamodb.Client {
	return dynamodb.NewFromConfig(AWSConfig(t, "AWS_ENDPOINT_URL_DYNAMODB"))
}

// KMS returns a client for the moto server's KMS.
func KMS(t testing.TB) *kms.Client {
	return kms.NewFromConfig(AWSConfig(t, "AWS_ENDPOINT_URL_KMS"))
}

// SecretsManager returns a client for the moto server's Secrets Manager.
func SecretsManager(t testing.TB) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(AWSConfig(t, "AWS_ENDPOINT_URL_SECRETS_MANAGER"))
}

// SESv2 returns a client for the moto server's SES (API version 2).
func SESv2(t testing.TB) *sesv2.Client {
	return sesv2.NewFromConfig(AWSConfig(t, "AWS_ENDPOINT_URL_SESV2"))
}

// RIE returns the path of aws-lambda-rie, AWS's Lambda Runtime Interface Emulator, which the
// local gateway runs every function under: from PATH, else from local/.tools/bin in the
// repository at root, where local/install.sh puts it. The test fails when it is in neither.
func RIE(t testing.TB, root string) string {
	t.Helper()
	if path, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return path
	}
	path := filepath.Join(root, "local", ".tools", "bin", "aws-lambda-rie")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("aws-lambda-rie is not installed (not in PATH, no %s): run local/install.sh, or the tests through `make test`", path)
	}
	return path
}

// Name returns a unique name with the given prefix, so tests sharing one emulator never see
// each other's tables or keys.
func Name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// HungEndpoint starts a TCP listener that accepts connections and never answers — a
// dependency that hangs — and returns its http:// URL. It closes when the test ends.
func HungEndpoint(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		held []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}
