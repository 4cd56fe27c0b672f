package apikey

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/core"
)

// Verifier decides a presented API key: its shape and checksum locally, then one strongly
// consistent read of the key's item, which carries everything the decision needs (its expiry
// and its owner's disabled state). It holds no secret and writes only LastUsedAt.
type Verifier struct {
	Lookup Lookup
	Log    *slog.Logger
	Now    func() time.Time
	// Env is the environment keys must name (LATCHKEY_API_KEY_ENV): a test key is refused by
	// a live deployment, and the other way round.
	Env string
}

// ErrInvalidKey is in the chain of every refusal of a presented key, whatever the reason
// (which is logged, never told to the caller).
var ErrInvalidKey = errors.New("invalid API key")

func refused(op core.Op, why string) error {
	return core.E(op, core.KindUnauthenticated, "invalid API key", errors.Join(ErrInvalidKey, errors.New(why)))
}

// Authenticate returns the key raw names if it is live: well formed for Env with a right
// checksum (no read otherwise), stored, not expired, its owner not disabled. A deleted key is
// refused at its next use on every node, as the read is strongly consistent. After an allow,
// LastUsedAt is written if the read showed it older than TouchEvery, with a conditional write
// that a failure of never changes the answer (it is logged). KindUnauthenticated for every
// refusal; KindUnavailable when the store cannot be reached.
func (v *Verifier) Authenticate(ctx context.Context, raw string) (core.APIKey, error) {
	const op core.Op = "apikey.Verifier.Authenticate"
	hash, ok := Parse(raw, v.Env)
	if !ok {
		return core.APIKey{}, refused(op, "not a key of this environment, or a bad checksum")
	}
	now := v.Now()
	k, err := v.Lookup.GetAPIKey(ctx, hash, now)
	switch {
	case core.Is(err, core.KindNotFound):
		return core.APIKey{}, refused(op, "unknown, deleted or expired key")
	case err != nil:
		return core.APIKey{}, err
	case !k.Live(now):
		return core.APIKey{}, refused(op, "the owner is disabled, or the key expired")
	}
	staleBefore := now.Add(-TouchEvery)
	if k.LastUsedAt.IsZero() || k.LastUsedAt.Before(staleBefore) {
		if err := v.Lookup.TouchAPIKey(ctx, hash, now, staleBefore); err != nil && !core.Is(err, core.KindConflict) {
			v.Log.WarnContext(ctx, "api_key.touch_failed", "key_id", k.ID, "err", err)
		}
	}
	return k, nil
}
