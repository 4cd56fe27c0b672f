// Package apikeytest holds the contract suite of the API-key ports (apikey.Store and
// apikey.Lookup) and of the stores' DisableUser seam. It runs against coretest.Memory here and
// against DynamoDB Local in package dynamo, so the fake cannot drift from the real store.
package apikeytest

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/coretest"
)

var (
	_ apikey.Store  = (*coretest.Memory)(nil)
	_ apikey.Lookup = (*coretest.Memory)(nil)
)

// Store is what TestStore needs: both ports, the users that own keys, and DisableUser.
type Store interface {
	apikey.Store
	apikey.Lookup
	coretest.UserSeeder
	GetUser(ctx context.Context, id string) (core.User, error)
	DisableUser(ctx context.Context, uid string, now time.Time) error
}

// Racers is how many goroutines race to create keys, or against a disable.
const Racers = 20

// Hash returns 32 random bytes, the size of a key's SHA-256.
func Hash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// NewKey returns a key of user uid created at created (with a fraction of a second, which the
// stores drop), with a fresh id and hash and two scopes.
func NewKey(t *testing.T, uid string, created time.Time) core.APIKey {
	t.Helper()
	return core.APIKey{
		ID: coretest.RandomID(t), UserID: uid, Name: "deploy bot", Scopes: []string{"orders:read", "orders:write"},
		Hash: Hash(t), Prefix: "lk_test_AbCd", Last4: "wxyz", CreatedAt: created.Add(300 * time.Millisecond),
	}
}

// Stored is k as the stores keep it: times to the second.
func Stored(k core.APIKey) core.APIKey {
	k.CreatedAt = coretest.Second(k.CreatedAt)
	if !k.ExpiresAt.IsZero() {
		k.ExpiresAt = coretest.Second(k.ExpiresAt)
	}
	if !k.LastUsedAt.IsZero() {
		k.LastUsedAt = coretest.Second(k.LastUsedAt)
	}
	return k
}

// Same fails the test unless got and want agree on every field but Hash (which a listing
// leaves out).
func Same(t *testing.T, got, want core.APIKey) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name || !slices.Equal(got.Scopes, want.Scopes) ||
		got.Prefix != want.Prefix || got.Last4 != want.Last4 || !got.CreatedAt.Equal(want.CreatedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.LastUsedAt.Equal(want.LastUsedAt) || got.OwnerDisabled != want.OwnerDisabled {
		t.Fatalf("got key\n%+v\nwant\n%+v", got, want)
	}
}

// wantCause fails the test unless err is KindConflict with cause in its chain.
func wantCause(t *testing.T, err, cause error, what string) {
	t.Helper()
	coretest.WantKind(t, err, core.KindConflict, what)
	if !errors.Is(err, cause) {
		t.Fatalf("%s: %v, want %v", what, err, cause)
	}
}
