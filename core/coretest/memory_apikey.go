package coretest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/latchkey/latchkey/core"
)

// CreateAPIKey stores k if its owner exists, is not disabled and holds fewer than max keys
// live at now; the owner's expired keys are deleted (apikey.Store).
func (m *Memory) CreateAPIKey(_ context.Context, k core.APIKey, max int, now time.Time) error {
	const op core.Op = "coretest.Memory.CreateAPIKey"
	if max < 1 || len(k.Hash) == 0 || k.ID == "" || k.UserID == "" {
		return core.E(op, core.KindInternal, "", errors.New("an API key needs a hash, an id, an owner and a cap"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[k.UserID]
	if !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if u.Disabled {
		return core.E(op, core.KindConflict, "", core.ErrOwnerDisabled)
	}
	held := 0
	for _, other := range m.apiKeys {
		if other.UserID != k.UserID {
			continue
		}
		if other.ID == k.ID {
			return core.E(op, core.KindConflict, "", errors.New("the API key's id is taken"))
		}
		if apiKeyLive(other, now) {
			held++
		}
	}
	if held >= max {
		return core.E(op, core.KindConflict, "", core.ErrTooManyAPIKeys)
	}
	if _, taken := m.apiKeys[string(k.Hash)]; taken {
		return core.E(op, core.KindConflict, "", errors.New("the API key's hash is taken"))
	}
	for h, other := range m.apiKeys {
		if other.UserID == k.UserID && !apiKeyLive(other, now) {
			delete(m.apiKeys, h)
		}
	}
	m.apiKeys[string(k.Hash)] = storedAPIKey(k)
	return nil
}

// ListAPIKeys returns uid's keys live at now, oldest first, without their hashes (apikey.Store).
func (m *Memory) ListAPIKeys(_ context.Context, uid string, now time.Time) ([]core.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := []core.APIKey{}
	for _, k := range m.apiKeys {
		if k.UserID == uid && apiKeyLive(k, now) {
			k = copyAPIKey(k)
			k.Hash = nil
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b core.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteAPIKey deletes uid's key id, expired or not; KindNotFound if uid holds no key id
// (apikey.Store).
func (m *Memory) DeleteAPIKey(_ context.Context, uid, id string) error {
	const op core.Op = "coretest.Memory.DeleteAPIKey"
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, k := range m.apiKeys {
		if k.UserID == uid && k.ID == id && uid != "" {
			delete(m.apiKeys, h)
			return nil
		}
	}
	return core.E(op, core.KindNotFound, "", nil)
}

// GetAPIKey returns the key stored under hash; KindNotFound if absent or expired at now
// (apikey.Lookup).
func (m *Memory) GetAPIKey(_ context.Context, hash []byte, now time.Time) (core.APIKey, error) {
	const op core.Op = "coretest.Memory.GetAPIKey"
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.apiKeys[string(hash)]
	if !ok || !apiKeyLive(k, now) {
		return core.APIKey{}, core.E(op, core.KindNotFound, "", nil)
	}
	return copyAPIKey(k), nil
}

// TouchAPIKey sets the LastUsedAt of the key under hash to at if it was last used before
// staleBefore or never; KindConflict otherwise (apikey.Lookup).
func (m *Memory) TouchAPIKey(_ context.Context, hash []byte, at, staleBefore time.Time) error {
	const op core.Op = "coretest.Memory.TouchAPIKey"
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.apiKeys[string(hash)]
	if !ok || (!k.LastUsedAt.IsZero() && k.LastUsedAt.Unix() >= staleBefore.Unix()) {
		return core.E(op, core.KindConflict, "", nil)
	}
	k.LastUsedAt = Second(at)
	m.apiKeys[string(hash)] = k
	return nil
}

// DisableUser disables user uid and every one of their API keys at once, as an operator
// would. No use case does: like CreateUser it is a seam for the tests (and, in package dynamo,
// for operators), not a port. KindNotFound if the user does not exist.
func (m *Memory) DisableUser(_ context.Context, uid string, _ time.Time) error {
	const op core.Op = "coretest.Memory.DisableUser"
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[uid]
	if !ok {
		return core.E(op, core.KindNotFound, "", nil)
	}
	u.Disabled = true
	m.users[uid] = u
	for h, k := range m.apiKeys {
		if k.UserID == uid {
			k.OwnerDisabled = true
			m.apiKeys[h] = k
		}
	}
	return nil
}

// apiKeyLive is the store's expiry rule for a key: no expiry, or one after now, in seconds.
func apiKeyLive(k core.APIKey, now time.Time) bool {
	return k.ExpiresAt.IsZero() || live(k.ExpiresAt.Unix(), now)
}

// storedAPIKey is k as the store keeps it: times to the second, scopes never nil.
func storedAPIKey(k core.APIKey) core.APIKey {
	k = copyAPIKey(k)
	k.CreatedAt = Second(k.CreatedAt)
	if !k.ExpiresAt.IsZero() {
		k.ExpiresAt = Second(k.ExpiresAt)
	}
	if !k.LastUsedAt.IsZero() {
		k.LastUsedAt = Second(k.LastUsedAt)
	}
	return k
}

// copyAPIKey is k with slices of its own.
func copyAPIKey(k core.APIKey) core.APIKey {
	k.Scopes = append([]string{}, k.Scopes...)
	k.Hash = append([]byte(nil), k.Hash...)
	return k
}
