package core_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// secretSource is a MachineSecretSource whose secrets the test sets, counting its reads.
type secretSource struct {
	mu    sync.Mutex
	plain map[string][]string
	reads int
	err   error
}

func (s *secretSource) set(id string, secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plain[id] = secrets
}

func (s *secretSource) MachineSecrets(context.Context) (core.MachineSecrets, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	out := core.MachineSecrets{}
	for id, list := range s.plain {
		for _, p := range list {
			out[id] = append(out[id], core.HashSecret(p))
		}
	}
	return out, nil
}

const (
	ciSecret   = "ci-secret-current-0123456789abcdefghijklmnopq"
	nextSecret = "ci-secret-next-0123456789abcdefghijklmnopqrstu"
)

type machineFixture struct {
	machines *core.Machines
	sessions *core.Sessions
	verifier *core.Verifier
	source   *secretSource
	clock    *coretest.Clock
	logs     *coretest.Logs
}

func newMachineFixture() *machineFixture {
	mem, signer, clk, logs := coretest.NewMemory(), coretest.NewSigner(1), coretest.NewClock(t0), &coretest.Logs{}
	s := coretest.NewSessions(mem, signer, clk.Now, logs)
	clients := core.MachineClients{
		"ci":  {ID: "ci", Scopes: []string{"orders:read", "orders:write"}, Enabled: true},
		"off": {ID: "off", Scopes: []string{"orders:read"}, Enabled: false},
	}
	s.Verifier.Machines = clients
	src := &secretSource{plain: map[string][]string{"ci": {ciSecret}, "off": {"off-secret"}}}
	m := &core.Machines{
		Clients: clients, Secrets: src, MaxAge: time.Minute,
		Minter: s.Minter, Limiter: s.Limiter, Audit: slog.New(slog.NewJSONHandler(logs, nil)), Now: clk.Now,
		TokenByIP:     core.Rule{Name: "token-ip", Limit: 1000, Window: time.Minute},
		TokenByClient: core.Rule{Name: "token-client", Limit: 1000, Window: time.Minute},
	}
	return &machineFixture{machines: m, sessions: s, verifier: s.Verifier, source: src, clock: clk, logs: logs}
}

var machineIP = core.Client{IP: "203.0.113.9"}

func TestMachineTokenShapeAndVerification(t *testing.T) {
	ctx := context.Background()
	f := newMachineFixture()
	tr, err := f.machines.Issue(ctx, "ci", ciSecret, "", machineIP)
	if err != nil {
		t.Fatal(err)
	}
	if tr.RefreshToken != "" || tr.SessionID != "" || tr.ExpiresIn != 10*time.Minute {
		t.Fatalf("response %+v", tr)
	}
	c := tr.Claims
	if c.Subject != "ci" || c.ClientID != "ci" || c.SessionID != "" || c.Scope != "orders:read orders:write" || c.ID == "" || !c.AuthTime.IsZero() || !c.IsMachine() {
		t.Fatalf("claims %+v", c)
	}
	got, err := f.verifier.AuthenticateAny(ctx, tr.AccessToken)
	if err != nil || got.Subject != "ci" || got.SessionID != "" || got.Scope != c.Scope || got.ID != c.ID || !got.AuthTime.IsZero() {
		t.Fatalf("AuthenticateAny: %+v, %v", got, err)
	}
	// The user routes' check refuses it: a machine client is no user.
	if _, err := f.verifier.Authenticate(ctx, tr.AccessToken); !core.Is(err, core.KindUnauthenticated) || !errors.Is(err, core.ErrInvalidToken) {
		t.Fatalf("Authenticate of a machine token: %v, want invalid token", err)
	}
	if strings.Contains(f.logs.String(), ciSecret) || strings.Contains(f.logs.String(), tr.AccessToken) {
		t.Fatal("a secret or token was logged")
	}
}

func TestMachineIssueRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, id, secret, scope string
		kind                    core.Kind
		code                    string
	}{
		{"unknown client", "nobody", ciSecret, "", core.KindUnauthenticated, "invalid_client"},
		{"wrong secret", "ci", "not-the-secret", "", core.KindUnauthenticated, "invalid_client"},
		{"empty secret", "ci", "", "", core.KindUnauthenticated, "invalid_client"},
		{"another client's secret", "ci", "off-secret", "", core.KindUnauthenticated, "invalid_client"},
		{"disabled client", "off", "off-secret", "", core.KindForbidden, ""},
		{"disabled client, wrong secret", "off", ciSecret, "", core.KindUnauthenticated, "invalid_client"},
		{"scope beyond the client's", "ci", ciSecret, "orders:read admin", core.KindInvalid, "invalid_scope"},
	}
	for _, c := range cases {
		f := newMachineFixture()
		_, err := f.machines.Issue(ctx, c.id, c.secret, c.scope, machineIP)
		code, _ := core.CodeOf(err)
		if !core.Is(err, c.kind) || code != c.code {
			t.Errorf("%s: %v (code %q), want %v %q", c.name, err, code, c.kind, c.code)
		}
	}
	f := newMachineFixture()
	tr, err := f.machines.Issue(ctx, "ci", ciSecret, "orders:write orders:write", machineIP)
	if err != nil || tr.Claims.Scope != "orders:write" {
		t.Fatalf("narrowed scope: %+v, %v", tr.Claims, err)
	}
}

func TestMachineRateLimits(t *testing.T) {
	ctx := context.Background()
	f := newMachineFixture()
	f.machines.TokenByClient.Limit = 2
	stranger := core.Client{IP: "192.0.2.66"}
	for i := range 2 {
		if _, err := f.machines.Issue(ctx, "ci", "wrong", "", stranger); !core.Is(err, core.KindUnauthenticated) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	// The client's budget at an address is spent whether or not the secret is right...
	_, err := f.machines.Issue(ctx, "ci", ciSecret, "", stranger)
	if !core.Is(err, core.KindRateLimited) || core.RetryAfterOf(err) <= 0 {
		t.Fatalf("over the client's limit: %v", err)
	}
	// ...and a stranger who spends it elsewhere does not keep the client from its tokens: the
	// client id is no secret.
	if _, err := f.machines.Issue(ctx, "ci", ciSecret, "", machineIP); err != nil {
		t.Fatalf("the client from its own address while a stranger is throttled: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.machines.Issue(ctx, "ci", ciSecret, "", machineIP); err != nil {
		t.Fatalf("next window: %v", err)
	}
	f.machines.TokenByIP.Limit = 1
	if _, err := f.machines.Issue(ctx, "nobody", "x", "", core.Client{IP: "192.0.2.50"}); !core.Is(err, core.KindUnauthenticated) {
		t.Fatal(err)
	}
	if _, err := f.machines.Issue(ctx, "nobody", "x", "", core.Client{IP: "192.0.2.50"}); !core.Is(err, core.KindRateLimited) {
		t.Fatalf("over the address's limit: %v", err)
	}
}

// TestMachineSecretRotation: the old secret works, then both while the next one is added, then
// only the new one once it is promoted; each step is seen once the copy of the secrets is
// MaxAge old, and not before.
func TestMachineSecretRotation(t *testing.T) {
	ctx := context.Background()
	f := newMachineFixture()
	works := func(secret string) bool {
		_, err := f.machines.Issue(ctx, "ci", secret, "", machineIP)
		if err != nil && !core.Is(err, core.KindUnauthenticated) {
			t.Fatal(err)
		}
		return err == nil
	}
	if !works(ciSecret) || works(nextSecret) {
		t.Fatal("before the rotation: want the current secret only")
	}
	f.source.set("ci", ciSecret, nextSecret)
	if works(nextSecret) {
		t.Fatal("the next secret worked before the copy of the secrets was MaxAge old")
	}
	f.clock.Advance(time.Minute)
	if !works(ciSecret) || !works(nextSecret) {
		t.Fatal("during the rotation: want both secrets")
	}
	f.source.set("ci", nextSecret)
	f.clock.Advance(time.Minute)
	if works(ciSecret) || !works(nextSecret) {
		t.Fatal("after the promotion: want the new secret only")
	}
	if f.source.reads != 3 {
		t.Errorf("%d reads of the secrets, want 3 (one per MaxAge)", f.source.reads)
	}
	// A store that cannot be reached is an outage, never a pass.
	f.source.err = core.E("test", core.KindUnavailable, "", nil)
	f.clock.Advance(time.Minute)
	if _, err := f.machines.Issue(ctx, "ci", nextSecret, "", machineIP); !core.Is(err, core.KindUnavailable) {
		t.Fatalf("secrets unavailable: %v", err)
	}
}

// TestMachineTokenRevocation: a machine client's token stops at the next check once its client
// is disabled or removed from the configuration, no longer holds the token's scope, or its jti
// is denied through RFC 7009 revocation.
func TestMachineTokenRevocation(t *testing.T) {
	ctx := context.Background()
	f := newMachineFixture()
	tr, err := f.machines.Issue(ctx, "ci", ciSecret, "orders:write", machineIP)
	if err != nil {
		t.Fatal(err)
	}
	ok := func() error { _, err := f.verifier.AuthenticateAny(ctx, tr.AccessToken); return err }
	if err := ok(); err != nil {
		t.Fatal(err)
	}
	all := f.verifier.Machines
	for name, set := range map[string]core.MachineClients{
		"disabled":      {"ci": {ID: "ci", Scopes: []string{"orders:read", "orders:write"}}},
		"removed":       {},
		"scope dropped": {"ci": {ID: "ci", Scopes: []string{"orders:read"}, Enabled: true}},
	} {
		f.verifier.Machines = set
		if err := ok(); !core.Is(err, core.KindUnauthenticated) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	f.verifier.Machines = all
	if err := f.sessions.Revoke(ctx, tr.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if err := ok(); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("after revocation: %v, want refused", err)
	}
}

// TestSessionlessTokensOnlyInTheMachineShape: a token of ours without sid passes Verify only
// when sub is its client_id and it claims no sign-in; any other sid-less token is refused.
func TestSessionlessTokensOnlyInTheMachineShape(t *testing.T) {
	ctx := context.Background()
	f := newMachineFixture()
	m := f.machines.Minter
	// A sid-less token for a user (sub is not the client) cannot come from IssueClient; make
	// one by issuing for a session without an id.
	raw, _, err := m.Issue(ctx, core.Session{UserID: "user-1", AuthTime: t0}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.Verify(ctx, raw, t0); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("sid-less user token: %v, want refused", err)
	}
	if _, err := f.verifier.AuthenticateAny(ctx, raw); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("sid-less user token by AuthenticateAny: %v, want refused", err)
	}
	// The public client's id is never a machine client's (boot refuses it), so a token with
	// sub = client_id = the public client is unknown to Machines.
	raw, _, err = m.IssueClient(ctx, coretest.ClientID, "", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.verifier.AuthenticateAny(ctx, raw); !core.Is(err, core.KindUnauthenticated) {
		t.Fatalf("token of an undeclared client: %v, want refused", err)
	}
}
