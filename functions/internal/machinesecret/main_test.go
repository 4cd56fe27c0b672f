package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/local/testenv"
)

// TestRotationWithOverlap runs the documented rotation against moto's Secrets Manager, each
// step through this command and each check through core.Machines reading the same secret (as
// the sessions function does, here with a max age of 0): the old secret works alone, then
// both during the rotation, then only the new one once it is promoted; a removed client's
// secret works no more.
func TestRotationWithOverlap(t *testing.T) {
	ctx := context.Background()
	api := testenv.SecretsManager(t)
	name := testenv.Name("machines")
	if _, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}")}); err != nil {
		t.Fatal(err)
	}
	step := func(what string) string {
		t.Helper()
		var out bytes.Buffer
		if err := Step(ctx, api, name, what, "ci", &out); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return strings.TrimSpace(out.String())
	}
	mem, clk := coretest.NewMemory(), coretest.NewClock(time.Now())
	machines := &core.Machines{
		Clients: core.MachineClients{"ci": {ID: "ci", Scopes: []string{"deploy"}, Enabled: true}},
		Secrets: secrets.Machine{API: api, ID: name},
		Minter:  &core.Minter{Signer: coretest.NewSigner(1), Issuer: coretest.Issuer, Audience: coretest.Audience, ClientID: coretest.ClientID, TTL: time.Minute},
		Limiter: &core.RateLimiter{Counters: mem}, Audit: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: clk.Now,
		TokenByIP:     core.Rule{Name: "token-ip", Limit: 1000, Window: time.Minute},
		TokenByClient: core.Rule{Name: "token-client", Limit: 1000, Window: time.Minute},
	}
	works := func(secret string) bool {
		t.Helper()
		_, err := machines.Issue(ctx, "ci", secret, "", core.Client{IP: "127.0.0.1"})
		if err != nil && !core.Is(err, core.KindUnauthenticated) {
			t.Fatal(err)
		}
		return err == nil
	}

	old := step("create")
	if !works(old) {
		t.Fatal("the first secret does not work")
	}
	next := step("rotate")
	if next == old || !works(old) || !works(next) {
		t.Fatal("during the rotation: want both secrets to work")
	}
	if shown := step("show"); shown != old+"\n"+next {
		t.Fatalf("show during the rotation: %q", shown)
	}
	if out := step("promote"); out != "" {
		t.Fatalf("promote printed %q", out)
	}
	if works(old) || !works(next) {
		t.Fatal("after the promotion: want only the new secret")
	}
	step("remove")
	if works(next) {
		t.Fatal("a removed client's secret still works")
	}
	if err := Step(ctx, api, name, "promote", "ci", io.Discard); err == nil {
		t.Fatal("promote of a client without secrets")
	}
}
