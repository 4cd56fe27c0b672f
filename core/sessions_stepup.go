package core

import (
	"context"
	"errors"
	"time"
)

// TEMPORARY: first cut of the step-up methods the passkey relying party consumes, to be
// replaced by the store-backed versions (one conditional write that also persists auth_time).

// Reauthenticate records a fresh authentication r of the holder of c on c's own session.
func (s *Sessions) Reauthenticate(ctx context.Context, c AccessClaims, r StartRequest) (TokenResponse, error) {
	const op = "core.Sessions.Reauthenticate"
	if r.UserID != c.Subject {
		return TokenResponse{}, E(op, KindUnauthenticated, "invalid access token", errors.New("another user"))
	}
	now := s.Now()
	sess, err := s.Store.GetSession(ctx, c.SessionID, now)
	if err != nil {
		return TokenResponse{}, err
	}
	if !sess.Live(now) || sess.UserID != c.Subject {
		return TokenResponse{}, E(op, KindNotFound, "no such session", nil)
	}
	sess.AuthTime, sess.AMR = now.Truncate(time.Second), r.AMR
	access, claims, err := s.Minter.Issue(ctx, sess, now)
	if err != nil {
		return TokenResponse{}, err
	}
	// Two generations forward: the superseded token must be a replay, never a grace retry
	// (whose successor would carry the old auth_time).
	cur := sess
	for range 2 {
		var rotated bool
		cur, rotated, err = s.Store.RotateRefresh(ctx, sess.ID, cur.Generation, now, now.Add(s.IdleTTL))
		if err != nil {
			return TokenResponse{}, err
		}
		if !rotated {
			return TokenResponse{}, E(op, KindNotFound, "no such session", nil)
		}
	}
	s.audit(ctx, "session.reauthenticated", "sub", c.Subject, "sid", sess.ID)
	return s.response(access, claims, RefreshClaims{SessionID: sess.ID, UserID: sess.UserID, Generation: cur.Generation,
		AuthTime: sess.AuthTime, AMR: sess.AMR, Scope: sess.Scope}), nil
}

// EndOpenedWith ends every live session of user uid that was opened with passkey passkeyID.
func (s *Sessions) EndOpenedWith(ctx context.Context, uid, passkeyID string) error {
	now := s.Now()
	list, err := s.Store.UserSessions(ctx, uid, now)
	if err != nil {
		return err
	}
	for _, sess := range list {
		if sess.PasskeyID != passkeyID {
			continue
		}
		if err := s.Store.RevokeSession(ctx, sess.ID, now); err != nil && !Is(err, KindNotFound) {
			return err
		}
		s.audit(ctx, "session.revoked", "sub", uid, "sid", sess.ID, "reason", "passkey_deleted")
	}
	return nil
}
