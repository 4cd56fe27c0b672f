package passkey

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
)

// BeginLogin starts a sign-in. Every unauthenticated sign-in is discoverable (conditional UI,
// "sign in with a passkey"): resident keys are required at registration, so the options carry
// no allowCredentials and the same shape for everyone, and the account is the one the verified
// credential belongs to. Nothing the caller sends (an email included) changes the answer, so
// login-begin tells no one who has an account (WebAuthn §14.6.2).
//
// Round trips: the rate limit by address, then the challenge.
func (rp *RelyingParty) BeginLogin(ctx context.Context, client core.Client) (LoginStart, error) {
	const op = "passkey.RelyingParty.BeginLogin"
	now := rp.Now()
	if err := rp.Limiter.Allow(ctx, rp.BeginByIP, client.IP, now); err != nil {
		rp.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
		return LoginStart{}, err
	}
	assertion, sd, err := rp.WebAuthn.BeginDiscoverableLogin()
	if err != nil {
		return LoginStart{}, core.Wrap(op, err)
	}
	id, err := rp.putChallenge(ctx, core.CeremonyLogin, "", ceremonyState{mode: modeLogin, session: *sd}, now)
	if err != nil {
		return LoginStart{}, err
	}
	rp.audit(ctx, "auth.login.begun", "method", "passkey", "ip", client.IP)
	return LoginStart{ChallengeID: id, Options: assertion.Response}, nil
}

// BeginReauthentication starts the re-authentication of the holder of c (RFC 9470 step-up):
// a sign-in ceremony bound to c's user and session, offering that user's passkeys in
// allowCredentials (the caller is authenticated, so this reveals nothing). FinishLogin with
// the same access token then refreshes auth_time of the same session.
//
// Round trips: the rate limits (by address and by the verified user) and the user's passkeys,
// concurrently; then the challenge.
func (rp *RelyingParty) BeginReauthentication(ctx context.Context, c core.AccessClaims, client core.Client) (LoginStart, error) {
	const op = "passkey.RelyingParty.BeginReauthentication"
	now := rp.Now()
	var (
		limitErr, listErr error
		list              []core.Passkey
	)
	parallel.Do(
		func() { limitErr = rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, c.Subject) },
		func() { list, listErr = rp.Credentials.UserPasskeys(ctx, c.Subject) },
	)
	if limitErr != nil {
		rp.audit(ctx, "auth.login.refused", "method", "passkey", "reauthentication", true, "reason", "rate_limited",
			"account", rp.accountKey(c.Subject), "ip", client.IP)
		return LoginStart{}, limitErr
	}
	if listErr != nil {
		return LoginStart{}, listErr
	}
	if len(list) == 0 {
		return LoginStart{}, core.E(op, core.KindUnauthenticated, "invalid access token", errors.New("the account has no passkeys"))
	}
	allow := make([]protocol.CredentialDescriptor, 0, len(list))
	for _, pk := range list {
		cred, err := webauthnCredential(pk)
		if err != nil {
			return LoginStart{}, core.Wrap(op, err)
		}
		allow = append(allow, cred.Descriptor())
	}
	assertion, sd, err := rp.WebAuthn.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(allow))
	if err != nil {
		return LoginStart{}, core.Wrap(op, err)
	}
	id, err := rp.putChallenge(ctx, core.CeremonyLogin, c.Subject, ceremonyState{mode: modeReauth, sessionID: c.SessionID, session: *sd}, now)
	if err != nil {
		return LoginStart{}, err
	}
	rp.audit(ctx, "auth.login.begun", "method", "passkey", "reauthentication", true, "sub", c.Subject, "sid", c.SessionID, "ip", client.IP)
	return LoginStart{ChallengeID: id, Options: assertion.Response}, nil
}

// LoginFinish completes a sign-in or a re-authentication ceremony.
type LoginFinish struct {
	ChallengeID string
	Credential  []byte             // AuthenticationResponseJSON, as the client sent it
	Claims      *core.AccessClaims // the caller's verified access token, if it sent one
	Client      core.Client
}

// FinishLogin verifies an assertion (WebAuthn §7.2) and signs in: a new session for the
// account the verified credential belongs to, or, for a re-authentication begun with
// BeginReauthentication, a fresh auth_time on the caller's own session (Sessions.Reauthenticate).
// Every failure is the same KindUnauthenticated answer, except a credential id no account
// holds, which carries the code unknown_credential so the client can tell its authenticator to
// forget it (WebAuthn Signal API); the reason, and go-webauthn's DevInfo, go to the audit log
// only.
//
// Nothing the caller merely asserts spends a budget a legitimate user needs: before
// verification only the client address is counted; the per-account limit counts verified
// failures against a real credential, so a valid assertion always gets through however many
// forged ones name the account. A throttled ceremony is audited with the targeted account as a
// keyed hash.
//
// A sign-in costs two sequential stages of network calls. The credential id comes from the
// parsed response before any I/O, so stage 1 takes the challenge (one conditional delete),
// reads the credential (one consistent read) and counts the address, all concurrently.
// Verification is local. Stage 2 records the use on the credential (one conditional write
// that never lowers the counter), starts the session (its write and the KMS signature,
// concurrently, inside Sessions.Start) and reads the user (refused if gone or disabled), all
// concurrently. If the counter write or the user check fails, the session just written is
// withdrawn before answering, so no tokens of it ever leave. A re-authentication runs the
// counter write and the user read first and changes the session only once both passed.
//
// Checks beyond go-webauthn's: the challenge is of the login ceremony and live; the user
// handle names the credential's owner (§7.2 step 6); a re-authentication is finished by the
// session that began it, with one of its user's passkeys; a regressing non-zero counter is
// refused and audited as passkey.counter_regressed (§7.2 step 21), both when the stored count
// shows it and when a concurrent sign-in won the write.
func (rp *RelyingParty) FinishLogin(ctx context.Context, r LoginFinish) (core.TokenResponse, error) {
	const op = "passkey.RelyingParty.FinishLogin"
	now := rp.Now()
	client := r.Client
	fail := func(reason string, cause error, attrs ...any) error {
		rp.audit(ctx, "auth.login.failed", append([]any{"method", "passkey", "reason", reason, "ip", client.IP, "devinfo", devInfo(cause)}, attrs...)...)
		return core.E(op, core.KindUnauthenticated, detailLoginFailed, cause)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(r.Credential)
	if err != nil {
		if limitErr := rp.Limiter.Allow(ctx, rp.FinishByIP, client.IP, now); limitErr != nil {
			return core.TokenResponse{}, limitErr
		}
		return core.TokenResponse{}, fail("malformed_credential", err)
	}
	if !validChallengeID(r.ChallengeID) || len(parsed.RawID) == 0 || len(parsed.RawID) > maxCredentialID {
		if limitErr := rp.Limiter.Allow(ctx, rp.FinishByIP, client.IP, now); limitErr != nil {
			return core.TokenResponse{}, limitErr
		}
		return core.TokenResponse{}, fail("malformed_request", nil)
	}
	credID := base64.RawURLEncoding.EncodeToString(parsed.RawID)

	// Stage 1.
	var (
		ch                       core.Challenge
		pk                       core.Passkey
		takeErr, getErr, limitEr error
	)
	parallel.Do(
		func() { ch, takeErr = rp.Challenges.TakeChallenge(ctx, r.ChallengeID, now) },
		func() { pk, getErr = rp.Credentials.GetPasskey(ctx, credID) },
		func() { limitEr = rp.Limiter.Allow(ctx, rp.FinishByIP, client.IP, now) },
	)
	if limitEr != nil {
		attrs := []any{"method", "passkey", "reason", "rate_limited", "ip", client.IP}
		if getErr == nil {
			attrs = append(attrs, "account", rp.accountKey(pk.UserID))
		}
		rp.audit(ctx, "auth.login.refused", attrs...)
		return core.TokenResponse{}, limitEr
	}
	switch {
	case takeErr != nil && !core.Is(takeErr, core.KindNotFound):
		return core.TokenResponse{}, takeErr
	case getErr != nil && !core.Is(getErr, core.KindNotFound):
		return core.TokenResponse{}, getErr
	case takeErr != nil:
		return core.TokenResponse{}, fail("challenge_unknown_or_expired", takeErr, "passkey", credID)
	case ch.Ceremony != core.CeremonyLogin:
		return core.TokenResponse{}, fail("challenge_of_another_ceremony", nil, "passkey", credID, "ceremony", ch.Ceremony.String())
	case now.After(ch.ExpiresAt):
		return core.TokenResponse{}, fail("challenge_expired", nil, "passkey", credID)
	case getErr != nil:
		err := fail("unknown_credential", getErr, "passkey", credID).(*core.Error)
		err.Code, err.Members = "unknown_credential", map[string]string{"credentialId": credID}
		return core.TokenResponse{}, err
	}
	st, err := decodeState(ch.State)
	if err != nil || (st.mode != modeLogin && st.mode != modeReauth) {
		return core.TokenResponse{}, core.Wrap(op, errors.Join(err, errors.New("login challenge without login state")))
	}
	reauth := st.mode == modeReauth
	if reauth {
		// Bound to the session that began it, and to its user's own passkeys.
		switch {
		case r.Claims == nil || r.Claims.Subject != ch.UserID || r.Claims.SessionID != st.sessionID:
			return core.TokenResponse{}, fail("challenge_of_another_session", nil, "passkey", credID, "sub", ch.UserID)
		case pk.UserID != ch.UserID:
			return core.TokenResponse{}, fail("credential_of_another_account", nil, "passkey", credID, "sub", ch.UserID)
		case !slices.ContainsFunc(st.session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }):
			return core.TokenResponse{}, fail("credential_not_allowed", nil, "passkey", credID, "sub", pk.UserID)
		}
	}
	cred, err := webauthnCredential(pk)
	if err != nil {
		return core.TokenResponse{}, core.Wrap(op, err)
	}
	handle, err := userHandle(pk.UserID)
	if err != nil {
		return core.TokenResponse{}, core.Wrap(op, err)
	}
	owner := webauthnUser{handle: handle, creds: []webauthn.Credential{cred}}
	var verified *webauthn.Credential
	if reauth {
		sd := st.session
		sd.UserID, sd.AllowedCredentialIDs = handle, nil // both checked above
		verified, err = rp.WebAuthn.ValidateLogin(owner, sd, parsed)
	} else {
		verified, err = rp.WebAuthn.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(rawID, cred.ID) || !bytes.Equal(userHandle, handle) {
				return nil, errors.New("the user handle does not own the credential")
			}
			return owner, nil
		}, st.session, parsed)
	}
	if err != nil {
		// A verified failure against a real credential: this, and only this, counts against
		// the account.
		if limitErr := rp.Limiter.Allow(ctx, rp.FinishByAccount, pk.UserID, now); limitErr != nil {
			rp.audit(ctx, "auth.login.throttled", "method", "passkey", "reason", "failures_per_account",
				"account", rp.accountKey(pk.UserID), "ip", client.IP)
			return core.TokenResponse{}, limitErr
		}
		return core.TokenResponse{}, fail("verification_failed", err, "passkey", credID, "sub", pk.UserID)
	}
	if verified.Authenticator.CloneWarning {
		rp.audit(ctx, "passkey.counter_regressed", "sub", pk.UserID, "passkey", credID,
			"stored", pk.SignCount, "presented", parsed.Response.AuthenticatorData.Counter, "ip", client.IP)
		return core.TokenResponse{}, fail("counter_regressed", nil, "passkey", credID, "sub", pk.UserID)
	}

	// Stage 2.
	use := core.PasskeyUse{
		SignCount:    verified.Authenticator.SignCount,
		BackupState:  verified.Flags.BackupState,
		UserVerified: verified.Flags.UserVerified,
		At:           now,
	}
	start := core.StartRequest{UserID: pk.UserID, AMR: AMR, PasskeyID: credID, Client: client}
	var (
		tr                        core.TokenResponse
		user                      core.User
		useErr, startErr, userErr error
	)
	fns := []func(){
		func() { useErr = rp.Credentials.RecordUse(ctx, credID, pk.UserID, use) },
		func() { user, userErr = rp.Accounts.GetUser(ctx, pk.UserID) },
	}
	if !reauth {
		fns = append(fns, func() { tr, startErr = rp.Sessions.Start(ctx, start) })
	}
	parallel.Do(fns...)
	refuse := func(err error) (core.TokenResponse, error) {
		if !reauth && startErr == nil {
			if rerr := rp.Sessions.Withdraw(context.WithoutCancel(ctx), tr.SessionID); rerr != nil && !core.Is(rerr, core.KindNotFound) {
				rp.Audit.WarnContext(ctx, "could not revoke a session whose tokens were withheld", "sid", tr.SessionID, "err", rerr)
			}
		}
		return core.TokenResponse{}, err
	}
	switch {
	case errors.Is(useErr, core.ErrCounterRegressed):
		rp.audit(ctx, "passkey.counter_regressed", "sub", pk.UserID, "passkey", credID,
			"presented", verified.Authenticator.SignCount, "concurrent", true, "ip", client.IP)
		return refuse(fail("counter_regressed", useErr, "passkey", credID, "sub", pk.UserID))
	case core.Is(useErr, core.KindNotFound):
		return refuse(fail("credential_deleted", useErr, "passkey", credID, "sub", pk.UserID))
	case core.Is(userErr, core.KindNotFound):
		return refuse(fail("user_gone", userErr, "passkey", credID, "sub", pk.UserID))
	case userErr == nil && user.Disabled:
		return refuse(fail("user_disabled", nil, "passkey", credID, "sub", pk.UserID))
	}
	if err := parallel.First(useErr, userErr, startErr); err != nil {
		return refuse(err)
	}
	if reauth {
		// Stage 3: the same session, a fresh auth_time, rotated tokens.
		if tr, err = rp.Sessions.Reauthenticate(ctx, *r.Claims, start); err != nil {
			if core.Is(err, core.KindNotFound) || core.Is(err, core.KindUnauthenticated) {
				return core.TokenResponse{}, fail("session_ended", err, "passkey", credID, "sub", pk.UserID, "sid", r.Claims.SessionID)
			}
			return core.TokenResponse{}, err
		}
		rp.audit(ctx, "auth.reauthenticated", "method", "passkey", "sub", pk.UserID, "sid", tr.SessionID, "passkey", credID, "ip", client.IP)
		return tr, nil
	}
	rp.audit(ctx, "auth.login.succeeded", "method", "passkey", "sub", pk.UserID, "sid", tr.SessionID, "passkey", credID,
		"backed_up", verified.Flags.BackupState, "ip", client.IP)
	return tr, nil
}
