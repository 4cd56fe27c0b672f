package apikey

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// The ports the API-key use cases consume. Package dynamo implements them on the single
// table, structurally (it never imports this package); coretest.Memory implements them in
// memory. The contract suite in apikeytest runs against both.

// Store keeps the API keys of users, for their owners' own management.
type Store interface {
	// CreateAPIKey stores k, found afterwards by k.Hash and listed under k.UserID, in one
	// transaction that also counts it on the user, on condition that the user exists, is not
	// disabled and holds fewer than max live keys; the owner's keys that have expired at now
	// are deleted in it and no longer count. KindNotFound if the user does not exist;
	// KindConflict with core.ErrTooManyAPIKeys at the cap, with core.ErrOwnerDisabled if the
	// user is disabled; nothing is written then. KindUnavailable if the store cannot be
	// reached.
	CreateAPIKey(ctx context.Context, k core.APIKey, max int, now time.Time) error
	// ListAPIKeys returns the keys of user uid that are live at now (not expired), oldest
	// first, with a strongly consistent read. Hash is not set. KindUnavailable if the store
	// cannot be reached.
	ListAPIKeys(ctx context.Context, uid string, now time.Time) ([]core.APIKey, error)
	// DeleteAPIKey deletes key id of user uid in one transaction, so a lookup of it fails at
	// once. KindNotFound if uid holds no key id (another user's key is not found either).
	// KindUnavailable if the store cannot be reached.
	DeleteAPIKey(ctx context.Context, uid, id string) error
}

// Lookup finds the key a request presents: the authorizer's one read.
type Lookup interface {
	// GetAPIKey returns the key stored under hash with one strongly consistent read, its
	// OwnerDisabled and LastUsedAt as stored; KindNotFound if there is none, or it has
	// expired at now. KindUnavailable if the store cannot be reached.
	GetAPIKey(ctx context.Context, hash []byte, now time.Time) (core.APIKey, error)
	// TouchAPIKey sets the LastUsedAt of the key stored under hash to at, in one conditional
	// write that succeeds only if the key exists and was last used before staleBefore (or
	// never): of a burst of uses across nodes at most one writes. KindConflict if the
	// condition fails; KindUnavailable if the store cannot be reached.
	TouchAPIKey(ctx context.Context, hash []byte, at, staleBefore time.Time) error
}
