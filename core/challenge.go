package core

import (
	"context"
	"time"
)

// Ceremony says which WebAuthn ceremony a challenge belongs to. A challenge issued for one
// ceremony never completes the other (SECURITY.md, passkeys).
type Ceremony uint8

// The two ceremonies.
const (
	CeremonyRegister Ceremony = iota + 1
	CeremonyLogin
)

func (c Ceremony) String() string {
	switch c {
	case CeremonyRegister:
		return "register"
	case CeremonyLogin:
		return "login"
	}
	return "unknown"
}

// Challenge is the server-side half of a WebAuthn ceremony. State is opaque to the store: the
// passkeys use case owns its encoding.
type Challenge struct {
	ID        string
	Ceremony  Ceremony
	UserID    string // the user the ceremony is for, "" for discoverable login
	State     []byte
	ExpiresAt time.Time
}

// ChallengeStore keeps challenges server side until one ceremony consumes them.
type ChallengeStore interface {
	// PutChallenge stores c unless a live challenge already has its id (KindConflict). A
	// challenge with that id whose ExpiresAt has passed at now counts as absent and is replaced.
	PutChallenge(ctx context.Context, c Challenge, now time.Time) error
	// TakeChallenge removes and returns the challenge id in one atomic step, so at most one
	// caller ever gets it. A challenge that is absent, already taken or expired at now answers
	// KindNotFound; an expired one is not returned even though the table may still hold it.
	TakeChallenge(ctx context.Context, id string, now time.Time) (Challenge, error)
}
