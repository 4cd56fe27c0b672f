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

// BeginLogin starts a sign-in. Without an email it is a discoverable login (conditional UI,
// "sign in with a passkey"): no allowCredentials. With an email it lists the account's
// passkeys in allowCredentials. For an email no account holds, or an account without
// passkeys, it lists plausible credentials derived from the email with an HMAC: the answer
// has the same shape, is the same every time it is asked, and costs the same round trips as
// for a real account, so login-begin does not tell who has an account (WebAuthn §14.6.2).
//
// Round trips with an email: stage 1, the rate limits and the email lookup concurrently;
// stage 2, the account's passkeys (or the decoy account's: the same query, empty); stage 3,
// the challenge.
func (rp *RelyingParty) BeginLogin(ctx context.Context, email string, client core.Client) (LoginStart, error) {
	const op = "passkey.RelyingParty.BeginLogin"
	now := rp.Now()
	if email == "" {
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
		rp.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", true, "ip", client.IP)
		return LoginStart{ChallengeID: id, Options: assertion.Response}, nil
	}

	norm, err := core.NormalizeEmail(email)
	if err != nil {
		return LoginStart{}, err
	}
	var (
		limitErr, lookupErr error
		uid                 string
	)
	parallel.Do(
		func() { limitErr = rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, rp.emailKey(norm)) },
		func() { uid, lookupErr = rp.Accounts.UserIDByEmail(ctx, norm) },
	)
	if limitErr != nil {
		rp.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
		return LoginStart{}, limitErr
	}
	if lookupErr != nil && !core.Is(lookupErr, core.KindNotFound) {
		return LoginStart{}, lookupErr
	}
	decoyUID, decoys := rp.decoy(norm)
	known := lookupErr == nil
	if !known {
		uid = decoyUID
	}
	list, err := rp.Credentials.UserPasskeys(ctx, uid)
	if err != nil {
		return LoginStart{}, err
	}
	allow := decoys
	if len(list) > 0 {
		allow = make([]protocol.CredentialDescriptor, 0, len(list))
		for _, pk := range list {
			cred, err := webauthnCredential(pk)
			if err != nil {
				return LoginStart{}, core.Wrap(op, err)
			}
			allow = append(allow, cred.Descriptor())
		}
	}
	assertion, sd, err := rp.WebAuthn.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(allow))
	if err != nil {
		return LoginStart{}, core.Wrap(op, err)
	}
	id, err := rp.putChallenge(ctx, core.CeremonyLogin, uid, ceremonyState{mode: modeLogin, session: *sd}, now)
	if err != nil {
		return LoginStart{}, err
	}
	if known {
		rp.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", false, "sub", uid, "ip", client.IP)
	} else {
		rp.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", false, "unknown_account", true, "ip", client.IP)
	}
	return LoginStart{ChallengeID: id, Options: assertion.Response}, nil
}

// FinishLogin verifies an assertion (WebAuthn §7.2) and opens a session. Every failure is the
// same KindUnauthenticated answer; the reason, and go-webauthn's DevInfo, go to the audit log
// only.
//
// It costs at most two sequential stages of network calls. The credential id comes from the
// parsed response before any I/O, so stage 1 takes the challenge (one conditional delete),
// reads the credential (one consistent read) and counts the rate limits, all concurrently.
// Verification is local. Stage 2 records the use on the credential (one conditional write
// that never lowers the counter), starts the session (its write and the KMS signature,
// concurrently, inside Sessions.Start) and reads the user (refused if gone or disabled), all
// concurrently. If the counter write or the user check fails, the session just written is
// revoked before answering, so no tokens of it ever leave.
//
// Checks beyond go-webauthn's: the challenge is of the login ceremony and live; for a login
// begun with an email, the credential is the account's and in allowCredentials; for a
// discoverable login, the user handle names the credential's owner (§7.2 step 6); a
// regressing non-zero counter is refused and audited as passkey.counter_regressed (§7.2 step
// 21), both when the stored count shows it and when a concurrent sign-in won the write.
func (rp *RelyingParty) FinishLogin(ctx context.Context, challengeID string, credential []byte, client core.Client) (core.TokenResponse, error) {
	const op = "passkey.RelyingParty.FinishLogin"
	now := rp.Now()
	fail := func(reason string, cause error, attrs ...any) error {
		rp.audit(ctx, "auth.login.failed", append([]any{"method", "passkey", "reason", reason, "ip", client.IP, "devinfo", devInfo(cause)}, attrs...)...)
		return core.E(op, core.KindUnauthenticated, detailLoginFailed, cause)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		if limitErr := rp.Limiter.Allow(ctx, rp.FinishByIP, client.IP, now); limitErr != nil {
			return core.TokenResponse{}, limitErr
		}
		return core.TokenResponse{}, fail("malformed_credential", err)
	}
	if !validChallengeID(challengeID) || len(parsed.RawID) > maxCredentialID {
		if limitErr := rp.Limiter.Allow(ctx, rp.FinishByIP, client.IP, now); limitErr != nil {
			return core.TokenResponse{}, limitErr
		}
		return core.TokenResponse{}, fail("malformed_request", nil)
	}
	credID := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	account := "cred:" + credID
	if h := parsed.Response.UserHandle; len(h) > 0 && len(h) <= 64 {
		account = base64.RawURLEncoding.EncodeToString(h)
	}

	// Stage 1.
	var (
		ch                       core.Challenge
		pk                       core.Passkey
		takeErr, getErr, limitEr error
	)
	parallel.Do(
		func() { ch, takeErr = rp.Challenges.TakeChallenge(ctx, challengeID, now) },
		func() { pk, getErr = rp.Credentials.GetPasskey(ctx, credID) },
		func() { limitEr = rp.limit(ctx, now, rp.FinishByIP, client.IP, rp.FinishByAccount, account) },
	)
	if limitEr != nil {
		rp.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
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
		return core.TokenResponse{}, fail("unknown_credential", getErr, "passkey", credID)
	}
	st, err := decodeState(ch.State)
	if err != nil || st.mode != modeLogin {
		return core.TokenResponse{}, core.Wrap(op, errors.Join(err, errors.New("login challenge without login state")))
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
	if ch.UserID != "" {
		// Begun with an email: the credential must be that account's and one it was offered.
		if pk.UserID != ch.UserID {
			return core.TokenResponse{}, fail("credential_of_another_account", nil, "passkey", credID, "sub", pk.UserID)
		}
		if !slices.ContainsFunc(st.session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }) {
			return core.TokenResponse{}, fail("credential_not_allowed", nil, "passkey", credID, "sub", pk.UserID)
		}
		sd := st.session
		sd.UserID, sd.AllowedCredentialIDs = handle, nil // both checked above, against the whole account
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
		return core.TokenResponse{}, fail("verification_failed", err, "passkey", credID, "sub", pk.UserID)
	}
	if verified.Authenticator.CloneWarning {
		rp.audit(ctx, "passkey.counter_regressed", "sub", pk.UserID, "passkey", credID,
			"stored", pk.SignCount, "presented", parsed.Response.AuthenticatorData.Counter, "ip", client.IP)
		return core.TokenResponse{}, fail("counter_regressed", nil, "passkey", credID, "sub", pk.UserID)
	}

	// Stage 2.
	var (
		tr                        core.TokenResponse
		user                      core.User
		useErr, startErr, userErr error
	)
	parallel.Do(
		func() {
			useErr = rp.Credentials.RecordUse(ctx, credID, pk.UserID, core.PasskeyUse{
				SignCount:    verified.Authenticator.SignCount,
				BackupState:  verified.Flags.BackupState,
				UserVerified: verified.Flags.UserVerified,
				At:           now,
			})
		},
		func() {
			tr, startErr = rp.Sessions.Start(ctx, core.StartRequest{UserID: pk.UserID, AMR: AMR, Client: client})
		},
		func() { user, userErr = rp.Accounts.GetUser(ctx, pk.UserID) },
	)
	refuse := func(err error) (core.TokenResponse, error) {
		if startErr == nil {
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
	rp.audit(ctx, "auth.login.succeeded", "method", "passkey", "sub", pk.UserID, "sid", tr.SessionID, "passkey", credID,
		"discoverable", ch.UserID == "", "backed_up", verified.Flags.BackupState, "ip", client.IP)
	return tr, nil
}
