// Package apikey is the use case of user API keys: a user creates (after a recent sign-in),
// lists and deletes their own keys, and the authorizer decides a request that presents one
// with a single strongly consistent read (docs/security.md, API keys).
package apikey

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
)

// Bounds of what a key is created with.
const (
	// MaxName is the most characters a key's name may have.
	MaxName = 64
	// MinExpiresIn and MaxExpiresIn bound a key's optional lifetime.
	MinExpiresIn = time.Minute
	MaxExpiresIn = 365 * 24 * time.Hour
	// TouchEvery is how often at most a key's LastUsedAt is written.
	TouchEvery = time.Minute
)

// Keys is the owners' side of API keys. It is stateless: the keys live in Store.
type Keys struct {
	Store Store
	Audit *slog.Logger
	Now   func() time.Time
	// Env is the environment new keys name (LATCHKEY_API_KEY_ENV: live or test).
	Env string
	// Max is how many live keys one account may hold (LATCHKEY_API_KEYS_MAX).
	Max int
	// Scopes are the scopes users hold (LATCHKEY_USER_SCOPES): a key may carry any of them.
	Scopes []string
	// ReauthMaxAge is how recent the caller's authentication must be to create a key.
	ReauthMaxAge time.Duration
}

// CreateRequest is what a new key is made with. ExpiresIn zero: the key does not expire.
type CreateRequest struct {
	Name      string
	Scopes    []string
	ExpiresIn time.Duration
}

// Created is a new key: the key itself, shown this once, and its record (without Hash).
type Created struct {
	Key    string
	APIKey core.APIKey
}

// problem is a client mistake with a problem code the client acts on.
func problem(op core.Op, kind core.Kind, code, detail string, cause error) error {
	return &core.Error{Op: op, Kind: kind, Detail: detail, Err: cause, Code: code}
}

func (ks *Keys) audit(ctx context.Context, event string, attrs ...any) {
	ks.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

// Create makes a key for the holder of c. A change of how the account is protected: the
// caller must have authenticated within ReauthMaxAge (KindReauthenticate otherwise). A name
// that is empty or not a clean label, or a lifetime out of bounds, is KindInvalid; a scope
// users do not hold is KindInvalid with code invalid_scope; the cap is KindConflict with code
// too_many_api_keys. The key is never stored: only its SHA-256.
func (ks *Keys) Create(ctx context.Context, c core.AccessClaims, r CreateRequest, client core.Client) (Created, error) {
	const op core.Op = "apikey.Keys.Create"
	now := ks.Now()
	if err := core.RequireRecent(c, now, ks.ReauthMaxAge); err != nil {
		ks.audit(ctx, "api_key.refused", "sub", c.Subject, "sid", c.SessionID, "reason", "reauthentication_required", "ip", client.IP)
		return Created{}, err
	}
	name, err := core.CleanLabel(op, "name", r.Name, MaxName)
	if err != nil {
		return Created{}, err
	}
	if name == "" {
		return Created{}, core.E(op, core.KindInvalid, "name is required", nil)
	}
	scopes, err := ks.scopes(op, r.Scopes)
	if err != nil {
		return Created{}, err
	}
	if r.ExpiresIn != 0 && (r.ExpiresIn < MinExpiresIn || r.ExpiresIn > MaxExpiresIn) {
		return Created{}, core.E(op, core.KindInvalid, "expiresIn must be from 60 seconds to one year", nil)
	}
	key := newKey(ks.Env)
	k := core.APIKey{
		ID: core.NewID(), UserID: c.Subject, Name: name, Scopes: scopes, Hash: Hash(key),
		Prefix: prefixOf(key, ks.Env), Last4: last4Of(key), CreatedAt: now.Truncate(time.Second),
	}
	if r.ExpiresIn != 0 {
		k.ExpiresAt = now.Add(r.ExpiresIn).Truncate(time.Second)
	}
	err = ks.Store.CreateAPIKey(ctx, k, ks.Max, now)
	switch {
	case core.Is(err, core.KindNotFound), errors.Is(err, core.ErrOwnerDisabled):
		// The account is gone or disabled since its token was checked.
		return Created{}, core.E(op, core.KindUnauthenticated, "invalid access token", err)
	case errors.Is(err, core.ErrTooManyAPIKeys):
		return Created{}, problem(op, core.KindConflict, "too_many_api_keys", "the account holds the most API keys allowed; delete one first", err)
	case err != nil:
		return Created{}, err
	}
	ks.audit(ctx, "api_key.created", "sub", c.Subject, "sid", c.SessionID, "key_id", k.ID, "scopes", strings.Join(scopes, " "), "ip", client.IP)
	k.Hash = nil
	return Created{Key: key, APIKey: k}, nil
}

// scopes checks that every asked scope is one users hold, and returns them sorted, once each.
func (ks *Keys) scopes(op core.Op, asked []string) ([]string, error) {
	out := []string{}
	for _, s := range asked {
		if !slices.Contains(ks.Scopes, s) {
			return nil, problem(op, core.KindInvalid, "invalid_scope", "a key may carry only scopes users hold", nil)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// List is the holder of c's live keys, oldest first, without any key.
func (ks *Keys) List(ctx context.Context, c core.AccessClaims) ([]core.APIKey, error) {
	return ks.Store.ListAPIKeys(ctx, c.Subject, ks.Now())
}

// Delete deletes the holder of c's key id: refused at once by every authorizer. KindNotFound
// for a key that is not the caller's, as for one that does not exist. Any session may: a
// delete only takes a way in away.
func (ks *Keys) Delete(ctx context.Context, c core.AccessClaims, id string, client core.Client) error {
	const op core.Op = "apikey.Keys.Delete"
	if !core.IsID(id) {
		return core.E(op, core.KindNotFound, "no such API key", nil)
	}
	if err := ks.Store.DeleteAPIKey(ctx, c.Subject, id); err != nil {
		if core.Is(err, core.KindNotFound) {
			return core.E(op, core.KindNotFound, "no such API key", err)
		}
		return err
	}
	ks.audit(ctx, "api_key.deleted", "sub", c.Subject, "sid", c.SessionID, "key_id", id, "ip", client.IP)
	return nil
}
