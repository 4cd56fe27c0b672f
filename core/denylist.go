package core

import (
	"context"
	"time"
)

// TokenDenylist records revoked access-token ids (jti) for as long as any verifier would still
// accept the token (Verifier.AcceptsUntil: its exp plus the clock-skew leeway); after that the
// entry is garbage and reads treat it as absent.
type TokenDenylist interface {
	// DenyToken records jti as revoked until until, which callers take from
	// Verifier.AcceptsUntil. Denying an id twice is not an error; KindUnavailable if the store
	// cannot be reached. The entry is read back by AccessStates.AccessState, which treats one
	// whose until has passed as absent.
	DenyToken(ctx context.Context, jti string, until time.Time) error
}
