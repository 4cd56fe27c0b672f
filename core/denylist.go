package core

import (
	"context"
	"time"
)

// TokenDenylist records revoked access-token ids (jti) until the token would have expired
// anyway; after that the entry is garbage and reads treat it as absent.
type TokenDenylist interface {
	// DenyToken records jti as revoked until exp. Denying an id twice is not an error.
	DenyToken(ctx context.Context, jti string, exp time.Time) error
	// TokenDenied reports whether jti is denied at now. An entry whose exp has passed counts as
	// absent, whether or not the table has deleted it yet.
	TokenDenied(ctx context.Context, jti string, now time.Time) (bool, error)
}
