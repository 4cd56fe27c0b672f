package core

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey/core/internal/parallel"
)

// Client is who is calling, as the edge observed it.
type Client struct {
	IP        string // from API Gateway's view of the connection, never a header
	UserAgent string
}

// TokenResponse is what a successful sign-in or refresh hands the client.
type TokenResponse struct {
	AccessToken  string
	ExpiresIn    time.Duration
	RefreshToken string
	SessionID    string
	Claims       AccessClaims
}

// StartRequest describes a fresh authentication.
type StartRequest struct {
	UserID    string
	AMR       []string
	Scope     string
	PasskeyID string // the credential id (base64url) that authenticated; "" when no passkey did
	Client    Client
	// SessionID is the id the new session gets, when the caller chose it beforehand (an
	// authorization code names the session its exchange opens, so a replay of the code can
	// revoke it); "" picks a new one.
	SessionID string
	// ClientID is the OAuth client the session's tokens are issued to; "" is the first-party
	// public client.
	ClientID string
	// AuthTime is when the user authenticated, when that was before the session opens (an
	// authorization code is exchanged after the sign-in it records); zero is now.
	AuthTime time.Time
}

// Sessions is the use case behind sign-in results, refresh, re-authentication, logout and
// revocation. It is stateless: all state is in the store, so any node answers any request.
// Bearer checks are the Verifier's; Sessions uses it to recognise the access tokens it is asked
// to revoke and to know how long a denial must last, and reads session and user state through
// the Verifier's States port, the one strongly consistent read every access decision is made
// on.
type Sessions struct {
	Store    SessionStore
	Denylist TokenDenylist
	Verifier *Verifier
	Minter   *Minter
	Codec    *RefreshCodec
	Limiter  *RateLimiter
	Audit    *slog.Logger
	Now      func() time.Time

	AbsoluteTTL time.Duration // a session never outlives this, however often it refreshes
	IdleTTL     time.Duration // a session unused for this long ends
	Grace       time.Duration // a retry of a just-rotated refresh token within this gets the same successor; 0 disables

	TokenByIP      Rule // rate limit on /v1/token per client address
	TokenBySession Rule // rate limit on /v1/token per session
}

// errInvalidGrant is the one answer for a refresh token that is bad, expired, revoked or
// reused: the client cannot tell which (RFC 6749 §5.2 invalid_grant).
func errInvalidGrant(op Op, cause error) error {
	return E(op, KindUnauthenticated, "the refresh token is invalid, expired or revoked", cause)
}

// Start opens a new session for a user who just authenticated and issues its first tokens.
// Every authentication gets a new session (docs/security.md, sessions and refresh: no session
// fixation). The session write and the HSM signature go out together.
func (s *Sessions) Start(ctx context.Context, r StartRequest) (TokenResponse, error) {
	now := s.Now()
	id := r.SessionID
	if id == "" {
		id = NewID()
	}
	authTime := now.Truncate(time.Second)
	if !r.AuthTime.IsZero() && r.AuthTime.Before(now) {
		authTime = r.AuthTime.Truncate(time.Second)
	}
	sess := Session{
		ID:            id,
		UserID:        r.UserID,
		AuthTime:      authTime,
		AMR:           r.AMR,
		Scope:         r.Scope,
		PasskeyID:     r.PasskeyID,
		ClientID:      r.ClientID,
		ClientIP:      r.Client.IP,
		UserAgent:     truncate(r.Client.UserAgent, 256),
		CreatedAt:     now,
		LastUsedAt:    now,
		ExpiresAt:     now.Add(s.AbsoluteTTL),
		IdleExpiresAt: now.Add(s.IdleTTL),
		Generation:    1,
		RotatedAt:     now,
	}
	var (
		access            string
		claims            AccessClaims
		signErr, storeErr error
	)
	parallel.Do(
		func() { storeErr = s.Store.CreateSession(ctx, sess) },
		func() { access, claims, signErr = s.Minter.Issue(ctx, sess, now) },
	)
	if storeErr != nil {
		return TokenResponse{}, storeErr
	}
	if signErr != nil {
		// Nobody holds a token of this session; revoke it so it never shows as a live device.
		if err := s.Store.RevokeSession(context.WithoutCancel(ctx), sess.ID, now); err != nil {
			s.Audit.WarnContext(ctx, "could not revoke a session whose token was never issued", "sid", sess.ID, "err", err)
		}
		return TokenResponse{}, signErr
	}
	s.audit(ctx, "session.started", "sub", sess.UserID, "sid", sess.ID, "amr", sess.AMR, "ip", sess.ClientIP)
	return s.response(access, claims, refreshClaims(sess)), nil
}

// Refresh exchanges a refresh token for a new access token and the next refresh token
// (RFC 9700 §4.14.2), in at most three network stages, the cheap refusals first:
//
//  1. the token's MAC is checked locally, before any I/O; then the per-address rate limit
//     and one strongly consistent read of the session and its user go out together. The
//     per-session limit is a count on the session itself, checked on that read and written
//     by the rotation of stage 3 (no counter call of its own). A throttled refresh, a session that is gone, ended or another user's, a
//     user who is gone, disabled, has cut its tokens off or logged out its other devices (the
//     session is then revoked), and a replayed token (an older generation: the whole session
//     is revoked) are all refused here, without any KMS call, so none of them waits on or pays
//     for a signature.
//  2. the HSM signs the next access token, from the session as read.
//  3. one conditional write advances the session's generation and records the per-session
//     count. Only one caller can win it,
//     so concurrent use of one token never yields two live successors; a caller who lost it
//     within the grace window gets the same successor, and one who lost it to a rotation that
//     happened long ago is replaying.
//
// A retry of the just-rotated token within Grace (a lost response) skips stage 3 and gets the
// same successor. Nothing is rotated until the successor's access token is signed, so a refresh
// that fails on KMS or on the write leaves the presented token usable once the dependency is
// back (if the write landed but its answer was lost, the retry is within Grace).
func (s *Sessions) Refresh(ctx context.Context, token string, client Client) (TokenResponse, error) {
	return s.RefreshScope(ctx, token, "", "", client)
}

// RefreshScope is Refresh with the scope parameter of RFC 6749 §6: "" asks for the session's
// whole scope; otherwise the space-delimited scopes asked for must all be the session's, and the
// new access token carries just those (the session keeps its own). Asking for a scope the
// session does not have is KindInvalid with Code invalid_scope, after the replay and state
// checks and before any signature, so it spends nothing. clientID is the client presenting the
// token (authenticated, if it is confidential; "" for the first-party public client): a refresh
// token works only for the client its session was opened for (RFC 6749 §6), and is otherwise
// invalid_grant.
func (s *Sessions) RefreshScope(ctx context.Context, token, scope, clientID string, client Client) (TokenResponse, error) {
	const op = "core.Sessions.Refresh"
	now := s.Now()
	rc, err := s.Codec.Parse(token)
	if err != nil {
		if limitErr := s.Limiter.Allow(ctx, s.TokenByIP, client.IP, now); limitErr != nil {
			return TokenResponse{}, limitErr
		}
		s.audit(ctx, "refresh.failed", "reason", "malformed", "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, err)
	}

	// Stage 1: the per-address rate limit and the session with its user, at once. The
	// per-session limit is kept on the session itself: read here, counted by the rotation.
	var (
		ipErr, readErr error
		st             AccessState
	)
	parallel.Do(
		func() { ipErr = s.Limiter.Allow(ctx, s.TokenByIP, client.IP, now) },
		func() { st, readErr = s.Verifier.States.AccessState(ctx, rc.SessionID, "", rc.UserID, now) },
	)
	if err := parallel.First(ipErr, readErr); err != nil {
		return TokenResponse{}, err
	}
	cur := st.Session
	switch {
	case !st.SessionFound || cur.UserID != rc.UserID:
		s.audit(ctx, "refresh.failed", "reason", "no_session", "sid", rc.SessionID, "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, nil)
	case cur.ClientID != clientID:
		s.audit(ctx, "refresh.failed", "reason", "other_client", "sid", rc.SessionID, "client_id", clientID, "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, nil)
	}
	window := WindowStart(now, s.TokenBySession.Window)
	next := cur.NextRefreshCount(window)
	if next.Count > s.TokenBySession.Limit {
		// The session's rotations in this window have reached the limit: a rotation, and a
		// retry of the token just rotated, wait for the next window.
		return TokenResponse{}, s.sessionThrottled(now)
	}
	switch {
	case !cur.Live(now):
		s.audit(ctx, "refresh.failed", "reason", "session_ended", "sid", rc.SessionID, "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, nil)
	}
	if why := userEnded(st); why != "" {
		// The user's own state has ended the session: it must not come back if that state is
		// undone (an account enabled again), so it is revoked, not merely refused.
		if err := s.Store.RevokeSession(ctx, rc.SessionID, now); err != nil && !Is(err, KindNotFound) {
			return TokenResponse{}, err
		}
		s.audit(ctx, "refresh.failed", "reason", why, "sub", rc.UserID, "sid", rc.SessionID, "ip", client.IP)
		s.audit(ctx, "session.revoked", "sub", rc.UserID, "sid", rc.SessionID, "reason", why)
		return TokenResponse{}, errInvalidGrant(op, nil)
	}
	retry := false
	switch {
	case cur.Generation == rc.Generation:
	case cur.Generation == rc.Generation+1 && s.withinGrace(cur, now):
		retry = true
	default:
		return TokenResponse{}, s.refuseGeneration(ctx, op, rc, cur, client, now)
	}

	mint := cur
	if mint.Scope, err = narrowScope(cur.Scope, scope); err != nil {
		s.audit(ctx, "refresh.failed", "reason", "invalid_scope", "sid", rc.SessionID, "ip", client.IP)
		return TokenResponse{}, err
	}

	// Stage 2: the signature, only for a refresh that can succeed.
	access, claims, err := s.Minter.Issue(ctx, mint, now)
	if err != nil {
		return TokenResponse{}, err
	}
	if retry {
		s.audit(ctx, "refresh.retried", "sub", rc.UserID, "sid", rc.SessionID, "generation", cur.Generation, "ip", client.IP)
		return s.response(access, claims, refreshClaims(cur)), nil
	}

	// Stage 3: the rotation.
	after, rotated, err := s.Store.RotateRefresh(ctx, rc.SessionID, rc.Generation, now, now.Add(s.IdleTTL), next)
	switch {
	case Is(err, KindNotFound):
		s.audit(ctx, "refresh.failed", "reason", "no_session", "sid", rc.SessionID, "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, err)
	case err != nil:
		return TokenResponse{}, err
	case rotated:
		s.audit(ctx, "refresh.rotated", "sub", rc.UserID, "sid", rc.SessionID, "generation", after.Generation, "ip", client.IP)
		return s.response(access, claims, refreshClaims(after)), nil
	}
	// The write found the session changed since stage 1: another use of the same token won
	// the rotation, or the session ended meanwhile.
	switch {
	case !after.Live(now):
		s.audit(ctx, "refresh.failed", "reason", "session_ended", "sid", rc.SessionID, "ip", client.IP)
		return TokenResponse{}, errInvalidGrant(op, nil)
	case after.Generation == rc.Generation+1 && s.withinGrace(after, now):
		s.audit(ctx, "refresh.retried", "sub", rc.UserID, "sid", rc.SessionID, "generation", after.Generation, "ip", client.IP)
		return s.response(access, claims, refreshClaims(after)), nil
	}
	return TokenResponse{}, s.refuseGeneration(ctx, op, rc, after, client, now)
}

// sessionThrottled is the answer to a refresh over the per-session limit at now: the
// limiter's, with Retry-After at the end of the window.
func (s *Sessions) sessionThrottled(now time.Time) error {
	w := s.TokenBySession.Window
	e := E("core.RateLimiter.Allow", KindRateLimited, fmt.Sprintf("too many requests; retry after the current %s window", w), nil)
	e.RetryAfter = WindowStart(now, w).Add(w).Sub(now)
	return e
}

// withinGrace reports whether sess was rotated recently enough at now for a retry of the
// token it replaced to get the same successor.
func (s *Sessions) withinGrace(sess Session, now time.Time) bool {
	return s.Grace > 0 && now.Sub(sess.RotatedAt) <= s.Grace
}

// refuseGeneration answers a refresh token whose generation is not the session's current one
// and is not a retry within the grace window. An older generation is a replay of a rotated
// token (RFC 9700 §4.14.2): the whole session is revoked, its live successor and access tokens
// with it. A newer one cannot have been issued.
func (s *Sessions) refuseGeneration(ctx context.Context, op Op, rc RefreshClaims, cur Session, client Client, now time.Time) error {
	if cur.Generation > rc.Generation {
		if err := s.Store.RevokeSession(ctx, rc.SessionID, now); err != nil && !Is(err, KindNotFound) {
			return err
		}
		s.audit(ctx, "refresh.reuse_detected", "sub", rc.UserID, "sid", rc.SessionID,
			"presented_generation", rc.Generation, "current_generation", cur.Generation, "ip", client.IP)
		s.audit(ctx, "session.revoked", "sub", rc.UserID, "sid", rc.SessionID, "reason", "refresh_reuse")
		return errInvalidGrant(op, nil)
	}
	s.audit(ctx, "refresh.failed", "reason", "generation_ahead", "sid", rc.SessionID, "ip", client.IP)
	return errInvalidGrant(op, nil)
}

// refreshClaims are the claims of the refresh token of sess's current generation. They come
// from the session as stored, so every path that hands out a generation's token (a rotation,
// a retry within grace) hands out the same one.
// narrowScope is the scope granted when asked for requested of a session holding granted:
// granted itself when nothing is asked for, else the scopes asked for (each once, in the order
// asked), all of which granted must hold (RFC 6749 §3.3, §6).
func narrowScope(granted, requested string) (string, error) {
	asked := strings.Fields(requested)
	if len(asked) == 0 {
		return granted, nil
	}
	held := strings.Fields(granted)
	var out []string
	for _, a := range asked {
		if !slices.Contains(held, a) {
			e := E("core.Sessions.Refresh", KindInvalid, "the requested scope exceeds the scope of the session", nil)
			e.Code = "invalid_scope"
			return "", e
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return strings.Join(out, " "), nil
}

func refreshClaims(sess Session) RefreshClaims {
	return RefreshClaims{
		SessionID: sess.ID, UserID: sess.UserID, Generation: sess.Generation,
		AuthTime: sess.AuthTime, AMR: sess.AMR, Scope: sess.Scope,
	}
}

// Reauthenticate records that the holder of access token c, already verified, has just passed
// a fresh passkey ceremony as user r.UserID, on the same session (RFC 9470 step-up; see
// RequireRecent): KindUnauthenticated unless r.UserID is c.Subject. First the HSM signs an
// access token whose auth_time is now (to the second, as Start's) and whose amr is r.AMR; then
// one conditional write on session c.SessionID — live, the same user's, not revoked — sets its
// AuthTime and AMR and advances its refresh generation, so the refresh token held before is
// superseded (presenting it after the grace window is reuse, and ends the session). The
// signature comes first so that the write never lands without a token to hand out; if the
// write fails, the signed token is dropped and the session is as it was. The answer carries
// the new access token and the refresh token of the new generation. A session that has ended
// answers KindUnauthenticated; KindUnavailable if the store or the HSM cannot be reached. The
// session's PasskeyID stays the credential that opened it.
func (s *Sessions) Reauthenticate(ctx context.Context, c AccessClaims, r StartRequest) (TokenResponse, error) {
	const op = "core.Sessions.Reauthenticate"
	if r.UserID != c.Subject {
		return TokenResponse{}, E(op, KindUnauthenticated, "the passkey is not this account's", nil)
	}
	now := s.Now()
	authTime := now.Truncate(time.Second)
	sess := Session{ID: c.SessionID, UserID: c.Subject, AuthTime: authTime, AMR: r.AMR, Scope: c.Scope, ClientID: c.ClientID}
	access, claims, err := s.Minter.Issue(ctx, sess, now)
	if err != nil {
		return TokenResponse{}, err
	}
	after, err := s.Store.Reauthenticate(ctx, c.SessionID, c.Subject, authTime, r.AMR, now)
	if Is(err, KindNotFound) {
		return TokenResponse{}, E(op, KindUnauthenticated, "invalid access token", err)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	s.audit(ctx, "session.reauthenticated", "sub", c.Subject, "sid", c.SessionID, "amr", r.AMR,
		"passkey", r.PasskeyID, "generation", after.Generation, "ip", r.Client.IP)
	return s.response(access, claims, refreshClaims(after)), nil
}

// EndOpenedWith ends every live session of user uid that passkey passkeyID opened
// (Session.PasskeyID), after that passkey was deleted: a session signed in with a lost or
// stolen passkey must not outlive it. The sessions are found through the listing, which may
// lag a session created a moment ago: one opened with the passkey just before it was deleted
// can be missed. Each ended session is audited as session.revoked, reason passkey_deleted.
// KindInvalid if passkeyID is empty (sessions that no passkey opened are never matched);
// KindUnavailable if the store cannot be reached, and then some sessions may have ended.
func (s *Sessions) EndOpenedWith(ctx context.Context, uid, passkeyID string) error {
	const op = "core.Sessions.EndOpenedWith"
	if passkeyID == "" {
		return E(op, KindInvalid, "no passkey named", nil)
	}
	now := s.Now()
	list, err := s.Store.UserSessions(ctx, uid, now)
	if err != nil {
		return err
	}
	var opened []Session
	for _, sess := range list {
		if sess.PasskeyID == passkeyID {
			opened = append(opened, sess)
		}
	}
	errs := make([]error, len(opened))
	limit := make(chan struct{}, maxConcurrentRevocations)
	var wg sync.WaitGroup
	for i, sess := range opened {
		wg.Go(func() {
			limit <- struct{}{}
			defer func() { <-limit }()
			if err := s.Store.RevokeSession(ctx, sess.ID, now); err != nil && !Is(err, KindNotFound) {
				errs[i] = err
				return
			}
			s.audit(ctx, "session.revoked", "sub", uid, "sid", sess.ID, "reason", "passkey_deleted", "passkey", passkeyID)
		})
	}
	wg.Wait()
	return parallel.First(errs...)
}

// maxConcurrentRevocations bounds how many revocations EndOpenedWith has in flight at once.
const maxConcurrentRevocations = 16

// Withdraw ends session sid, which Start just opened but whose tokens the caller is not
// handing out, because a check that ran beside Start failed. KindNotFound if there is no such
// session; KindUnavailable if the store cannot be reached.
func (s *Sessions) Withdraw(ctx context.Context, sid string) error {
	if err := s.Store.RevokeSession(ctx, sid, s.Now()); err != nil {
		return err
	}
	s.audit(ctx, "session.revoked", "sid", sid, "reason", "withdrawn")
	return nil
}

// Logout ends the session of the token's holder and denies the token itself, for as long as
// any verifier would accept it (Verifier.AcceptsUntil). Both take effect on every node at the
// next request, because every check reads them strongly consistently.
func (s *Sessions) Logout(ctx context.Context, c AccessClaims) error {
	now := s.Now()
	var revokeErr, denyErr error
	parallel.Do(
		func() { revokeErr = s.Store.RevokeSession(ctx, c.SessionID, now) },
		func() { denyErr = s.Denylist.DenyToken(ctx, c.ID, s.Verifier.AcceptsUntil(c)) },
	)
	if revokeErr != nil && !Is(revokeErr, KindNotFound) {
		return revokeErr
	}
	if denyErr != nil {
		return denyErr
	}
	s.audit(ctx, "session.revoked", "sub", c.Subject, "sid", c.SessionID, "reason", "logout")
	return nil
}

// Revoke implements RFC 7009: a refresh token ends its session, an access token is denied
// for as long as any verifier would accept it (Verifier.AcceptsUntil), and anything else — unknown, malformed, already revoked — is quietly
// accepted (§2.2), so the endpoint reveals nothing about tokens.
func (s *Sessions) Revoke(ctx context.Context, token, hint string) error {
	now := s.Now()
	tryRefresh := func() (bool, error) {
		rc, err := s.Codec.Parse(token)
		if err != nil {
			return false, nil
		}
		if err := s.Store.RevokeSession(ctx, rc.SessionID, now); err != nil && !Is(err, KindNotFound) {
			return true, err
		}
		s.audit(ctx, "session.revoked", "sub", rc.UserID, "sid", rc.SessionID, "reason", "revocation_endpoint")
		return true, nil
	}
	tryAccess := func() (bool, error) {
		c, err := s.Verifier.Verify(ctx, token, now)
		if err != nil {
			if Is(err, KindUnavailable) {
				return false, err
			}
			return false, nil
		}
		if err := s.Denylist.DenyToken(ctx, c.ID, s.Verifier.AcceptsUntil(c)); err != nil {
			return true, err
		}
		s.audit(ctx, "token.revoked", "sub", c.Subject, "sid", c.SessionID, "jti", c.ID)
		return true, nil
	}
	order := []func() (bool, error){tryRefresh, tryAccess}
	if hint == "access_token" {
		order[0], order[1] = tryAccess, tryRefresh
	}
	for _, try := range order {
		if done, err := try(); done || err != nil {
			return err
		}
	}
	return nil
}

// List returns every live session of the caller, newest first. The listing and the user (for
// its "log out other devices" cut-off) are read at once; sessions the user's state has ended
// are left out.
func (s *Sessions) List(ctx context.Context, c AccessClaims) ([]Session, error) {
	now := s.Now()
	var (
		list             []Session
		listErr, userErr error
		st               AccessState
	)
	parallel.Do(
		func() { list, listErr = s.Store.UserSessions(ctx, c.Subject, now) },
		func() { st, userErr = s.Verifier.States.AccessState(ctx, "", "", c.Subject, now) },
	)
	if err := parallel.First(listErr, userErr); err != nil {
		return nil, err
	}
	live := list[:0]
	for _, sess := range list {
		st.Session = sess
		if userEnded(st) == "" {
			live = append(live, sess)
		}
	}
	return live, nil
}

// End revokes one of the caller's sessions. Another user's session answers KindNotFound,
// exactly like a session that does not exist, and so does an id that could never have been
// issued (not NewID's shape), without any store call.
func (s *Sessions) End(ctx context.Context, c AccessClaims, id string) error {
	const op = "core.Sessions.End"
	if !IsID(id) {
		return E(op, KindNotFound, "no such session", nil)
	}
	now := s.Now()
	sess, err := s.Store.GetSession(ctx, id, now)
	if Is(err, KindNotFound) {
		return E(op, KindNotFound, "no such session", err)
	}
	if err != nil {
		return err
	}
	if sess.UserID != c.Subject {
		return E(op, KindNotFound, "no such session", nil)
	}
	if err := s.Store.RevokeSession(ctx, id, now); Is(err, KindNotFound) {
		return E(op, KindNotFound, "no such session", err)
	} else if err != nil {
		return err
	}
	s.audit(ctx, "session.revoked", "sub", c.Subject, "sid", id, "reason", "user_ended", "by_sid", c.SessionID)
	return nil
}

// EndOthers ends every session of the caller but the current one ("log out other devices"),
// however many there are, with one conditional write to the user: a cut-off that every access
// check, every refresh and the listing honour (User.SessionsEndedAt). No session item is read
// or written, so no session the index has not caught up with, or lists past a page, survives.
// The cut-off is now, to the millisecond: a session created after it survives (see userEnded).
func (s *Sessions) EndOthers(ctx context.Context, c AccessClaims) error {
	cutoff := s.Now().Truncate(time.Millisecond)
	if err := s.Store.EndSessionsBefore(ctx, c.Subject, cutoff, c.SessionID); err != nil {
		return err
	}
	s.audit(ctx, "session.revoked", "sub", c.Subject, "reason", "other_devices", "kept_sid", c.SessionID, "before", cutoff)
	return nil
}

func (s *Sessions) response(access string, c AccessClaims, next RefreshClaims) TokenResponse {
	return TokenResponse{
		AccessToken:  access,
		ExpiresIn:    c.ExpiresAt.Sub(c.IssuedAt),
		RefreshToken: s.Codec.Mint(next),
		SessionID:    next.SessionID,
		Claims:       c,
	}
}

func (s *Sessions) audit(ctx context.Context, event string, attrs ...any) {
	s.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
