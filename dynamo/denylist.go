package dynamo

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// DenyToken records jti as revoked until exp (core.TokenDenylist). It is a plain PutItem, so
// denying twice is harmless; the entry's TTL is the token's own exp, after which the token is
// refused for being expired anyway (RFC 7519 §4.1.4).
func (s *Store) DenyToken(ctx context.Context, jti string, exp time.Time) error {
	const op core.Op = "dynamo.Store.DenyToken"
	return s.put(ctx, op, jtiItem{itemKey: jtiKey(jti), ExpiresAt: epoch(exp)})
}

// TokenDenied reports whether jti is denied at now with one strongly consistent GetItem
// (core.TokenDenylist; ARCHITECTURE.md §4, revocation is exact). An entry whose exp has passed
// is not a denial, even if the table still holds it.
func (s *Store) TokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	const op core.Op = "dynamo.Store.TokenDenied"
	var item jtiItem
	err := s.getLive(ctx, op, jtiKey(jti), now, &item)
	switch {
	case err == nil:
		return true, nil
	case core.Is(err, core.KindNotFound):
		return false, nil
	default:
		return false, err
	}
}
