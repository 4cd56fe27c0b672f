package apikey

import (
	"context"
	"errors"
	"hash/crc32"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestKeyFormat(t *testing.T) {
	for _, env := range Envs {
		k := newKey(env)
		if len(k) != len("lk_"+env+"_")+randomLength+checkLength || !strings.HasPrefix(k, "lk_"+env+"_") {
			t.Fatalf("key %q has the wrong shape", k)
		}
		body := k[:len(k)-checkLength]
		n, _ := decode62(k[len(k)-checkLength:])
		if n.Uint64() != uint64(crc32.ChecksumIEEE([]byte(body))) {
			t.Fatal("the check characters are not the CRC32 of the key before them")
		}
		if h, ok := Parse(k, env); !ok || string(h) != string(Hash(k)) {
			t.Fatalf("Parse refused a fresh key %q", k)
		}
	}
	if base62(big.NewInt(61), 3) != "00z" || base62(big.NewInt(62), 3) != "010" {
		t.Fatal("base62 is not fixed width, left-padded, in 0-9A-Za-z")
	}
}

func TestParseRefusesWhatNewKeyCannotMake(t *testing.T) {
	k := newKey("live")
	flip := func(i int) string {
		b := []byte(k)
		b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
		return string(b)
	}
	over := "lk_live_" + strings.Repeat("z", randomLength) // above 2^256
	over += checksum(over)
	bad := map[string]string{
		"empty":             "",
		"other environment": k,
		"a typo":            flip(12),
		"a bad checksum":    flip(len(k) - 1),
		"truncated":         k[:len(k)-1],
		"too long":          k + "0",
		"outside base62":    k[:20] + "-" + k[21:],
		"above 2^256":       over,
		"no scheme":         strings.TrimPrefix(k, "lk_"),
	}
	for name, s := range bad {
		env := "live"
		if name == "other environment" {
			env = "test"
		}
		if _, ok := Parse(s, env); ok {
			t.Errorf("%s: Parse accepted %q", name, s)
		}
	}
}

// countingLookup counts reads and writes, and can fail the touch.
type countingLookup struct {
	*coretest.Memory
	gets, touches int
	touchErr      error
}

func (c *countingLookup) GetAPIKey(ctx context.Context, h []byte, now time.Time) (core.APIKey, error) {
	c.gets++
	return c.Memory.GetAPIKey(ctx, h, now)
}

func (c *countingLookup) TouchAPIKey(ctx context.Context, h []byte, at, stale time.Time) error {
	c.touches++
	if c.touchErr != nil {
		return c.touchErr
	}
	return c.Memory.TouchAPIKey(ctx, h, at, stale)
}

type fixture struct {
	keys   *Keys
	v      *Verifier
	mem    *coretest.Memory
	lookup *countingLookup
	clock  *coretest.Clock
	logs   *coretest.Logs
	claims core.AccessClaims
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	mem, clock, logs := coretest.NewMemory(), coretest.NewClock(t0), &coretest.Logs{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	u := core.User{ID: core.NewID()}
	if err := mem.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	lookup := &countingLookup{Memory: mem}
	return &fixture{
		keys: &Keys{Store: mem, Audit: log, Now: clock.Now, Env: "test", Max: 3, Scopes: []string{"orders:read", "orders:write"}, ReauthMaxAge: 5 * time.Minute},
		v:    &Verifier{Lookup: lookup, Log: log, Now: clock.Now, Env: "test"},
		mem:  mem, lookup: lookup, clock: clock, logs: logs,
		claims: core.AccessClaims{Subject: u.ID, SessionID: "s", AuthTime: t0},
	}
}

func TestCreateShowsTheKeyOnceAndStoresItsHash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	made, err := f.keys.Create(ctx, f.claims, CreateRequest{Name: "  ci  ", Scopes: []string{"orders:write", "orders:read", "orders:write"}, ExpiresIn: time.Hour}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	k := made.APIKey
	if k.Name != "ci" || strings.Join(k.Scopes, " ") != "orders:read orders:write" || !k.ExpiresAt.Equal(t0.Add(time.Hour)) ||
		k.Prefix != made.Key[:12] || k.Last4 != made.Key[len(made.Key)-4:] || k.Hash != nil {
		t.Fatalf("created %+v for %q", k, made.Key)
	}
	list, err := f.keys.List(ctx, f.claims)
	if err != nil || len(list) != 1 || list[0].ID != k.ID {
		t.Fatalf("List: %+v %v", list, err)
	}
	if strings.Contains(f.logs.String(), made.Key) {
		t.Fatal("the key was logged")
	}
	got, err := f.v.Authenticate(ctx, made.Key)
	if err != nil || got.ID != k.ID || got.UserID != f.claims.Subject {
		t.Fatalf("Authenticate: %+v %v", got, err)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.claims
	old.AuthTime = t0.Add(-6 * time.Minute)
	_, err := f.keys.Create(ctx, old, CreateRequest{Name: "ci"}, core.Client{})
	coretest.WantKind(t, err, core.KindReauthenticate, "Create with an old sign-in")
	for name, r := range map[string]CreateRequest{
		"no name":        {},
		"long name":      {Name: strings.Repeat("n", MaxName+1)},
		"invisible":      {Name: "a\u200bb"},
		"short lifetime": {Name: "ci", ExpiresIn: 59 * time.Second},
		"long lifetime":  {Name: "ci", ExpiresIn: MaxExpiresIn + time.Second},
	} {
		_, err := f.keys.Create(ctx, f.claims, r, core.Client{})
		coretest.WantKind(t, err, core.KindInvalid, name)
	}
	_, err = f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci", Scopes: []string{"admin"}}, core.Client{})
	if code, _ := core.CodeOf(err); !core.Is(err, core.KindInvalid) || code != "invalid_scope" {
		t.Fatalf("a scope users do not hold: %v", err)
	}
	for range 3 {
		if _, err := f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci"}, core.Client{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci"}, core.Client{})
	if code, _ := core.CodeOf(err); !core.Is(err, core.KindConflict) || code != "too_many_api_keys" {
		t.Fatalf("over the cap: %v", err)
	}
	if err := f.mem.DisableUser(ctx, f.claims.Subject, t0); err != nil {
		t.Fatal(err)
	}
	_, err = f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci"}, core.Client{})
	coretest.WantKind(t, err, core.KindUnauthenticated, "Create for a disabled user")
}

func TestDeleteIsOwnKeysOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	made, err := f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	other := core.AccessClaims{Subject: core.NewID(), AuthTime: t0}
	coretest.WantKind(t, f.keys.Delete(ctx, other, made.APIKey.ID, core.Client{}), core.KindNotFound, "Delete of another user's key")
	coretest.WantKind(t, f.keys.Delete(ctx, f.claims, "not-an-id", core.Client{}), core.KindNotFound, "Delete of a malformed id")
	if err := f.keys.Delete(ctx, f.claims, made.APIKey.ID, core.Client{}); err != nil {
		t.Fatal(err)
	}
	_, err = f.v.Authenticate(ctx, made.Key)
	coretest.WantKind(t, err, core.KindUnauthenticated, "Authenticate of a deleted key")
}

// A key that cannot be one costs no read; a live one costs one read, and a write of LastUsedAt
// only when the read shows it stale; a failed write does not change the answer.
func TestAuthenticateReadsOnceAndTouchesRarely(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	made, err := f.keys.Create(ctx, f.claims, CreateRequest{Name: "ci", ExpiresIn: time.Hour}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	bad := made.Key[:len(made.Key)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(made.Key, "A")]
	for _, raw := range []string{bad, "lk_live_" + made.Key[len("lk_test_"):], "lk_", ""} {
		_, err := f.v.Authenticate(ctx, raw)
		coretest.WantKind(t, err, core.KindUnauthenticated, "Authenticate of "+raw)
		if !errors.Is(err, ErrInvalidKey) {
			t.Fatal("a refusal lacks ErrInvalidKey")
		}
	}
	if f.lookup.gets != 0 || f.lookup.touches != 0 {
		t.Fatalf("malformed keys cost %d reads and %d writes, want none", f.lookup.gets, f.lookup.touches)
	}
	use := func(wantTouches int) {
		t.Helper()
		if _, err := f.v.Authenticate(ctx, made.Key); err != nil {
			t.Fatal(err)
		}
		if f.lookup.touches != wantTouches {
			t.Fatalf("%d touches, want %d", f.lookup.touches, wantTouches)
		}
	}
	use(1)
	f.clock.Advance(30 * time.Second)
	use(1)
	f.clock.Advance(31 * time.Second)
	use(2)
	f.clock.Advance(2 * time.Minute)
	f.lookup.touchErr = core.E("test", core.KindUnavailable, "storage unavailable", nil)
	use(3)
	if !strings.Contains(f.logs.String(), "api_key.touch_failed") {
		t.Fatal("a failed touch was not logged")
	}
	if f.lookup.gets != 4 {
		t.Fatalf("%d reads for 4 decisions", f.lookup.gets)
	}
	f.clock.Advance(time.Hour)
	_, err = f.v.Authenticate(ctx, made.Key)
	coretest.WantKind(t, err, core.KindUnauthenticated, "Authenticate of an expired key")
}
