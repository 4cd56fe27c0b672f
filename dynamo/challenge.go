package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/core"
)

// PutChallenge stores c unless a live challenge already has its id (passkey.ChallengeStore).
// ExpiresAt is kept to the second, rounded down.
func (s *Store) PutChallenge(ctx context.Context, c core.Challenge, now time.Time) error {
	const op core.Op = "dynamo.Store.PutChallenge"
	if _, err := ceremonyByName(c.Ceremony.String()); err != nil {
		return core.Wrap(op, err)
	}
	return s.putIfAbsent(ctx, op, challengeItem{
		itemKey:   challengeKey(c.ID),
		Ceremony:  c.Ceremony.String(),
		UserID:    c.UserID,
		State:     c.State,
		ExpiresAt: epoch(c.ExpiresAt),
	}, now)
}

// TakeChallenge removes and returns the challenge id in one conditional DeleteItem
// (passkey.ChallengeStore), so that a challenge completes at most one ceremony (WebAuthn §13.4.3,
// docs/security.md, passkeys: single use, atomic take).
func (s *Store) TakeChallenge(ctx context.Context, id string, now time.Time) (core.Challenge, error) {
	const op core.Op = "dynamo.Store.TakeChallenge"
	var item challengeItem
	if err := s.takeLive(ctx, op, challengeKey(id), now, &item); err != nil {
		return core.Challenge{}, err
	}
	ceremony, err := ceremonyByName(item.Ceremony)
	if err != nil {
		return core.Challenge{}, core.Wrap(op, err)
	}
	return core.Challenge{
		ID:        id,
		Ceremony:  ceremony,
		UserID:    item.UserID,
		State:     item.State,
		ExpiresAt: fromEpoch(item.ExpiresAt),
	}, nil
}

// ceremonyByName is the ceremony whose String is name.
func ceremonyByName(name string) (core.Ceremony, error) {
	for _, c := range []core.Ceremony{core.CeremonyRegister, core.CeremonyLogin} {
		if c.String() == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown ceremony %q", name)
}
