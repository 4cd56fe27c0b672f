package secrets_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/secrets"
	"github.com/latchkey/latchkey/local/testenv"
)

func TestMachineLayoutSteps(t *testing.T) {
	l := secrets.MachineLayout{}
	cur, err := l.Create("ci")
	if err != nil || len(cur) != 43 {
		t.Fatalf("create: %q %v", cur, err)
	}
	if _, err := l.Create("ci"); err == nil {
		t.Fatal("a second create of the same client")
	}
	if err := l.Promote("ci"); err == nil {
		t.Fatal("promote without a next secret")
	}
	next, err := l.Rotate("ci")
	if err != nil || next == cur {
		t.Fatalf("rotate: %v", err)
	}
	if h := l.Hashes()["ci"]; len(h) != 2 || h[0] != core.HashSecret(cur) || h[1] != core.HashSecret(next) {
		t.Fatalf("hashes during the rotation: %v", h)
	}
	if err := l.Promote("ci"); err != nil {
		t.Fatal(err)
	}
	if h := l.Hashes()["ci"]; len(h) != 1 || h[0] != core.HashSecret(next) {
		t.Fatalf("hashes after the promotion: %v", h)
	}
	back, err := secrets.ParseMachineLayout(l.Marshal())
	if err != nil || back["ci"].Current != next || back["ci"].Next != "" {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if _, err := l.Rotate("nobody"); err == nil {
		t.Fatal("rotate of a client without a secret")
	}
}

func TestParseMachineLayoutRefuses(t *testing.T) {
	good := secrets.NewMachineSecret()
	for name, raw := range map[string]string{
		"not JSON":         "nope",
		"an array":         `[]`,
		"no current":       `{"ci": {"next": "` + good + `"}}`,
		"a short secret":   `{"ci": {"current": "c2hvcnQ"}}`,
		"not base64url":    `{"ci": {"current": "` + strings.Repeat("!", 50) + `"}}`,
		"a bad next":       `{"ci": {"current": "` + good + `", "next": "x"}}`,
		"an unknown field": `{"ci": {"current": "` + good + `", "previous": "` + good + `"}}`,
		"trailing data":    `{} {}`,
	} {
		_, err := secrets.ParseMachineLayout([]byte(raw))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), good) {
			t.Errorf("%s: the error shows a secret", name)
		}
	}
	if l, err := secrets.ParseMachineLayout([]byte(`{}`)); err != nil || len(l) != 0 {
		t.Fatalf("the stacks' initial {}: %v %v", l, err)
	}
}

func TestMachineSecretsFromMoto(t *testing.T) {
	api := testenv.SecretsManager(t)
	ctx := context.Background()
	l := secrets.MachineLayout{}
	cur, _ := l.Create("ci")
	good, bad := testenv.Name("machine"), testenv.Name("machine-bad")
	for name, value := range map[string]string{good: string(l.Marshal()), bad: `{"ci": {"current": "short"}}`} {
		if _, err := api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := secrets.Machine{API: api, ID: good}.MachineSecrets(ctx)
	if err != nil || len(got["ci"]) != 1 || got["ci"][0] != core.HashSecret(cur) {
		t.Fatalf("secrets %v err %v", got, err)
	}
	if _, err := (secrets.Machine{API: api, ID: bad}).MachineSecrets(ctx); core.KindOf(err) != core.KindInternal {
		t.Fatalf("a bad layout: %v", err)
	}
	if _, err := (secrets.Machine{API: api, ID: testenv.Name("missing")}).MachineSecrets(ctx); core.KindOf(err) != core.KindUnavailable {
		t.Fatalf("a missing secret: %v", err)
	}
}
