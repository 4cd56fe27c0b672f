package core

import (
	"context"
	"time"
)

// Session is one sign-in of one user on one client: the family of refresh tokens that rotate
// from it and the access tokens they mint (docs/architecture.md).
type Session struct {
	ID            string
	UserID        string
	AuthTime      time.Time // when the user actually authenticated
	AMR           []string  // authentication methods (RFC 8176), e.g. "hwk", "user"
	Scope         string
	PasskeyID     string // the credential that opened the session, so deleting it can end the session; "" if none
	ClientID      string // the OAuth client the session's tokens are issued to; "" is the first-party public client (Minter.ClientID)
	ClientIP      string // as API Gateway observed it when the session started
	UserAgent     string
	CreatedAt     time.Time // kept to the millisecond, for the cut-off of User.SessionsEndedAt
	LastUsedAt    time.Time
	ExpiresAt     time.Time // absolute expiry: no refresh extends it
	IdleExpiresAt time.Time // idle expiry: every refresh pushes it forward; Live checks it and ExpiresAt
	Revoked       bool
	Generation    uint64    // the generation of the one live refresh token
	RotatedAt     time.Time // when Generation last advanced; starts the grace window
	// RefreshWindow and RefreshCount are the per-session refresh limit, kept on the session and
	// written by the rotation itself: RefreshCount rotations happened in the window that
	// starts at RefreshWindow (zero before the first rotation).
	RefreshWindow time.Time
	RefreshCount  int64
}

// RefreshCount is what a rotation records of the per-session refresh limit: the window it
// falls in (its start) and the rotations of the session in that window, itself included.
type RefreshCount struct {
	Window time.Time
	Count  int64
}

// NextRefreshCount is the count a rotation of s at the window starting at window records:
// one more than s holds for that window, or 1 when s's count is of an earlier window.
func (s Session) NextRefreshCount(window time.Time) RefreshCount {
	if s.RefreshWindow.Equal(window) {
		return RefreshCount{Window: window, Count: s.RefreshCount + 1}
	}
	return RefreshCount{Window: window, Count: 1}
}

// Live reports whether s can still be used at now.
func (s Session) Live(now time.Time) bool {
	return !s.Revoked && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// SessionStore keeps sessions. Reads and conditional writes treat a session whose ExpiresAt
// has passed as absent, whether or not the table has deleted it yet. Times are kept to the
// second, rounded down, except CreatedAt, kept to the millisecond.
type SessionStore interface {
	// CreateSession stores a new session; KindConflict if a session live at s.CreatedAt has its
	// id, KindUnavailable if the store cannot be reached.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session id; KindNotFound if absent or past ExpiresAt at now.
	// Revoked and idle-expired sessions are returned: callers decide with Session.Live.
	// KindUnavailable if the store cannot be reached.
	GetSession(ctx context.Context, id string, now time.Time) (Session, error)
	// RotateRefresh advances session id from generation from to from+1 in one conditional
	// write, provided it is live at now and still at generation from; it sets LastUsedAt and
	// RotatedAt to now, IdleExpiresAt to idleUntil, and RefreshWindow and RefreshCount to
	// count (the per-session refresh limit, counted in the same write: since only a rotation
	// writes them and every rotation advances the generation, a session still at generation
	// from holds the count its caller read with it; a zero count leaves them as they are). It returns the session after the write
	// and true, or — when the condition fails — the session as found and false, so the caller
	// can tell a retry from a reuse without another read. KindNotFound if absent or expired,
	// KindUnavailable if the store cannot be reached (and then nothing was written).
	RotateRefresh(ctx context.Context, id string, from uint64, now, idleUntil time.Time, count RefreshCount) (Session, bool, error)
	// Reauthenticate records on session id of user uid, in one conditional write, that its
	// holder has just authenticated again: AuthTime becomes authTime, AMR amr, LastUsedAt and
	// RotatedAt now, and the refresh generation advances by two, so the refresh token issued
	// before is a replay afterwards, never a retry within the grace window (whose successor
	// would be the freshly authenticated one). It returns the session after the write. KindNotFound if the session
	// is absent, past its absolute or idle expiry at now, revoked, or another user's (and then
	// nothing was written); KindUnavailable if the store cannot be reached.
	Reauthenticate(ctx context.Context, id, uid string, authTime time.Time, amr []string, now time.Time) (Session, error)
	// RevokeSession marks session id revoked, and takes it out of UserSessions. Revoking twice
	// is not an error; KindNotFound if absent or expired at now, KindUnavailable if the store
	// cannot be reached.
	RevokeSession(ctx context.Context, id string, now time.Time) error
	// UserSessions lists every session of user uid that is live at now (Session.Live), newest
	// first, however many the user has; ended sessions never crowd out live ones. The listing
	// comes from an index and may lag a write by a moment (a session just created may be
	// missing); it is never used to decide access. It does not apply the user's own state
	// (User.SessionsEndedAt and the rest): callers do. None is not an error; KindUnavailable if
	// the store cannot be reached.
	UserSessions(ctx context.Context, uid string, now time.Time) ([]Session, error)
	// EndSessionsBefore records on user uid, in one conditional write to the user alone, that
	// every session of uid created at or before cutoff (to the millisecond) but session keep
	// has ended: it sets User.SessionsEndedAt and User.KeptSessionID, replacing an earlier
	// cut-off. No session item is touched, so it is exact for any number of sessions.
	// KindNotFound if the user does not exist, KindUnavailable if the store cannot be reached.
	EndSessionsBefore(ctx context.Context, uid string, cutoff time.Time, keep string) error
}

// User is an account. Its id is random, never derived from an email, and doubles as the
// WebAuthn user handle.
type User struct {
	ID              string
	Email           string // normalized; "" when the account has none
	EmailVerified   bool   // the owner proved control of Email with a code at sign-up
	DisplayName     string
	CreatedAt       time.Time
	Disabled        bool
	TokensNotBefore time.Time // access tokens issued before this are refused, and sessions authenticated before it end

	// SessionsEndedAt and KeptSessionID are "log out other devices": every session of the user
	// created at or before SessionsEndedAt (both kept to the millisecond), except
	// KeptSessionID, has ended, however many there are, without a write to any of them.
	SessionsEndedAt time.Time
	KeptSessionID   string

	// RecoveryCodesLeft counts the unspent recovery codes of the set RecoveryCodeSet names;
	// codes of an earlier set are dead.
	RecoveryCodesLeft int
	RecoveryCodeSet   string
}

// AccessState is what decides whether an access token is still good: its session, whether its
// jti is denied, and its user.
type AccessState struct {
	Session      Session
	SessionFound bool // false when absent or past ExpiresAt
	TokenDenied  bool
	User         User
	UserFound    bool
}

// AccessStates reads AccessState for a verified token, or for a refresh token (which has no
// jti).
type AccessStates interface {
	// AccessState reads session sid, the denylist entry of jti and user uid in one strongly
	// consistent round trip, so revocation is exact on every node. An empty sid or jti is not
	// read at all (reported not found, not denied): a refresh reads only its session and user.
	// Absent items are reported in the Found fields, never as errors; KindUnavailable if the
	// store cannot be reached.
	AccessState(ctx context.Context, sid, jti, uid string, now time.Time) (AccessState, error)
}

// userEnded says why the user read with a session has ended that session, whatever the session
// item says, or "" if it has not: the user is gone or disabled, refuses tokens from before a
// time (TokensNotBefore, to the second) later than the session's authentication, or logged out
// its other devices (SessionsEndedAt) after the session was created. Refresh revokes such a
// session, the Verifier refuses its tokens and the listing leaves it out.
//
// The cut-off compares the session's creation with SessionsEndedAt to the millisecond, by the
// clocks of the nodes that created the session and wrote the cut-off: a session created in the
// same second but after it survives, and one created at or before it ends. The session that
// asked is kept by id, whatever the clocks say.
func userEnded(st AccessState) string { return UserEnded(st) }

// UserEnded is why st's user has ended the sign-in st.Session describes, or "": the rules of
// userEnded, exported for sign-ins the provider keeps outside the sessions table (its provider
// session), described by a Session with their AuthTime and CreatedAt.
func UserEnded(st AccessState) string {
	switch u, s := st.User, st.Session; {
	case !st.UserFound:
		return "user_gone"
	case u.Disabled:
		return "user_disabled"
	case s.AuthTime.Before(u.TokensNotBefore.Truncate(time.Second)):
		return "tokens_cut_off"
	case !u.SessionsEndedAt.IsZero() && s.ID != u.KeptSessionID && !s.CreatedAt.After(u.SessionsEndedAt):
		return "other_devices_logged_out"
	}
	return ""
}
