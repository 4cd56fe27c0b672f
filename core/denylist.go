package core

import (
	"context"
	"time"
)

// TokenDenylist records revoked access-token ids (jti) until the token would have expired
// anyway; after that the entry is garbage and reads treat it as absent.
type TokenDenylist interface {
	// DenyToken records jti as revoked until exp. Denying an id twice is not an error;
	// KindUnavailable if the store cannot be reached. The entry is read back by
	// AccessStates.AccessState, which treats one whose exp has passed as absent.
	DenyToken(ctx context.Context, jti string, exp time.Time) error
}
