package dynamo

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// DenyToken records jti as revoked until until (core.TokenDenylist). It is a plain PutItem, so
// denying twice is harmless; the entry's expiresAt (and TTL) is until, the moment no verifier
// accepts the token any more (core.Verifier.AcceptsUntil), after which the token is refused for
// being expired anyway (RFC 7519 §4.1.4).
func (s *Store) DenyToken(ctx context.Context, jti string, until time.Time) error {
	const op core.Op = "dynamo.Store.DenyToken"
	return s.put(ctx, op, jtiItem{itemKey: jtiKey(jti), ExpiresAt: epoch(until)})
}
