package passkey

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
	"github.com/latchkey/latchkey/core/message"
)

// BeginSignUp starts the registration of a new account's first passkey. The account's random
// 128-bit id, which is also its WebAuthn user handle, is chosen now; nothing but the challenge
// is written until the ceremony finishes. The email comes from a sign-up ticket, which proves
// the caller read a code sent to it (package recovery): the ticket is checked now and
// redeemed by the write that creates the account. A bare email is refused: sign-up with an
// unverified address is gone. Without either, an email-less account is created where
// EmailRequired is off.
//
// Round trips: the rate limits (by address, and by the flow of a ticket, concurrently) and the
// ticket's flow, concurrently, then the challenge.
func (rp *RelyingParty) BeginSignUp(ctx context.Context, r SignUp, client core.Client) (RegistrationStart, error) {
	const op = "passkey.RelyingParty.BeginSignUp"
	now := rp.Now()
	display, err := core.CleanLabel(op, "displayName", r.DisplayName, 64)
	if err != nil {
		return RegistrationStart{}, err
	}
	st := ceremonyState{mode: modeSignUp, displayName: display}
	switch {
	case r.Ticket != "":
		t, err := core.ParseTicket(op, "signupToken", r.Ticket)
		if err != nil {
			return RegistrationStart{}, invalidTicket(op, "signupToken", err)
		}
		var (
			flow              core.EmailFlow
			limitErr, flowErr error
		)
		parallel.Do(
			func() { limitErr = rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, "flow:"+t.ID) },
			func() { flow, flowErr = rp.Tickets.GetFlow(ctx, t.ID, now) },
		)
		if limitErr != nil {
			rp.audit(ctx, "passkey.registration_refused", "mode", "signup", "reason", "rate_limited", "ip", client.IP)
			return RegistrationStart{}, limitErr
		}
		if flowErr != nil && !core.Is(flowErr, core.KindNotFound) {
			return RegistrationStart{}, flowErr
		}
		if flowErr != nil || flow.Purpose != core.FlowSignUp || !flow.Verified || !t.HashMatches(rp.SignUpKey, flow.TicketHash) {
			rp.audit(ctx, "passkey.registration_refused", "mode", "signup", "reason", "signup_ticket_invalid", "flow", t.ID, "ip", client.IP)
			return RegistrationStart{}, invalidTicket(op, "signupToken", flowErr)
		}
		st.email, st.ticketID, st.ticketHash = flow.Email, flow.ID, flow.TicketHash
	case r.Email != "":
		return RegistrationStart{}, core.E(op, core.KindInvalid,
			"sign-up needs a signupToken: verify the email with /v1/email/begin and /v1/email/verify first", nil)
	case rp.EmailRequired:
		return RegistrationStart{}, core.E(op, core.KindInvalid,
			"an email is required: verify it with /v1/email/begin and /v1/email/verify, then send the signupToken", nil)
	default:
		if err := rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, ""); err != nil {
			rp.audit(ctx, "passkey.registration_refused", "mode", "signup", "reason", "rate_limited", "ip", client.IP)
			return RegistrationStart{}, err
		}
	}
	uid := core.NewID()
	handle, err := userHandle(uid)
	if err != nil {
		return RegistrationStart{}, core.Wrap(op, err)
	}
	u := webauthnUser{handle: handle, name: firstNonEmpty(st.email, display, "Latchkey account"), display: firstNonEmpty(display, st.email, "Latchkey account")}
	creation, sd, err := rp.WebAuthn.BeginRegistration(u)
	if err != nil {
		return RegistrationStart{}, core.Wrap(op, err)
	}
	st.session = *sd
	id, err := rp.putChallenge(ctx, core.CeremonyRegister, uid, st, now)
	if err != nil {
		return RegistrationStart{}, err
	}
	rp.audit(ctx, "passkey.registration_begun", "mode", "signup", "sub", uid, "verified_email", st.email != "", "ip", client.IP)
	return RegistrationStart{ChallengeID: id, Options: creation.Response}, nil
}

// BeginRecovery starts the registration of a new passkey for the account a recovery ticket
// names (package recovery hands it out), once its pending recovery is available: before
// AvailableAt it answers KindForbidden with the problem code recovery_not_available and the
// time. The ticket does nothing else: it never signs in, and finish redeems it in the write
// that stores the passkey. The account's passkeys go into excludeCredentials.
//
// Round trips: the rate limits, the pending recovery, the user and the user's passkeys
// (concurrently), then the challenge.
func (rp *RelyingParty) BeginRecovery(ctx context.Context, ticket string, client core.Client) (RegistrationStart, error) {
	const op = "passkey.RelyingParty.BeginRecovery"
	now := rp.Now()
	t, err := core.ParseTicket(op, "recoveryToken", ticket)
	if err != nil {
		return RegistrationStart{}, invalidTicket(op, "recoveryToken", err)
	}
	var (
		limitErr, recErr, userErr, listErr error
		rec                                core.PendingRecovery
		user                               core.User
		list                               []core.Passkey
	)
	parallel.Do(
		func() { limitErr = rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, t.ID) },
		func() { rec, recErr = rp.Tickets.GetRecovery(ctx, t.ID, now) },
		func() { user, userErr = rp.Accounts.GetUser(ctx, t.ID) },
		func() { list, listErr = rp.Credentials.UserPasskeys(ctx, t.ID) },
	)
	if limitErr != nil {
		rp.audit(ctx, "passkey.registration_refused", "mode", "recovery", "reason", "rate_limited", "account", rp.accountKey(t.ID), "ip", client.IP)
		return RegistrationStart{}, limitErr
	}
	for _, err := range []error{recErr, userErr, listErr} {
		if err != nil && !core.Is(err, core.KindNotFound) {
			return RegistrationStart{}, err
		}
	}
	if recErr != nil || userErr != nil || user.Disabled || !t.HashMatches(rp.RecoveryKey, rec.TicketHash) {
		rp.audit(ctx, "passkey.registration_refused", "mode", "recovery", "reason", "recovery_ticket_invalid", "account", rp.accountKey(t.ID), "ip", client.IP)
		return RegistrationStart{}, invalidTicket(op, "recoveryToken", parallel.First(recErr, userErr))
	}
	if now.Before(rec.AvailableAt) {
		rp.audit(ctx, "passkey.registration_refused", "mode", "recovery", "sub", t.ID, "reason", "recovery_not_available", "ip", client.IP)
		return RegistrationStart{}, &core.Error{Op: op, Kind: core.KindForbidden,
			Detail: "the recovery can complete only after " + rec.AvailableAt.UTC().Format(time.RFC3339),
			Code:   "recovery_not_available", Members: map[string]string{"availableAt": rec.AvailableAt.UTC().Format(time.RFC3339)}}
	}
	creation, sd, err := rp.beginForAccount(op, user, list)
	if err != nil {
		return RegistrationStart{}, err
	}
	st := ceremonyState{mode: modeRecovery, email: user.Email, ticketID: user.ID, ticketHash: rec.TicketHash, session: *sd}
	id, err := rp.putChallenge(ctx, core.CeremonyRegister, user.ID, st, now)
	if err != nil {
		return RegistrationStart{}, err
	}
	rp.audit(ctx, "passkey.registration_begun", "mode", "recovery", "sub", user.ID, "method", rec.Method, "ip", client.IP)
	return RegistrationStart{ChallengeID: id, Options: creation.Response}, nil
}

// beginForAccount makes the creation options of another passkey for the existing account user,
// which holds list: its passkeys go into excludeCredentials, so an authenticator does not
// register twice. KindConflict when the account holds core.MaxPasskeys already.
func (rp *RelyingParty) beginForAccount(op core.Op, user core.User, list []core.Passkey) (*protocol.CredentialCreation, *webauthn.SessionData, error) {
	if len(list) >= core.MaxPasskeys {
		return nil, nil, core.E(op, core.KindConflict, fmt.Sprintf("an account holds at most %d passkeys", core.MaxPasskeys), core.ErrTooManyPasskeys)
	}
	handle, err := userHandle(user.ID)
	if err != nil {
		return nil, nil, core.Wrap(op, err)
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(list))
	for _, pk := range list {
		cred, err := webauthnCredential(pk)
		if err != nil {
			return nil, nil, core.Wrap(op, err)
		}
		exclude = append(exclude, cred.Descriptor())
	}
	u := webauthnUser{handle: handle, name: firstNonEmpty(user.Email, user.DisplayName, "Latchkey account"), display: firstNonEmpty(user.DisplayName, user.Email, "Latchkey account")}
	creation, sd, err := rp.WebAuthn.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, core.Wrap(op, err)
	}
	return creation, sd, nil
}

// invalidTicket is the refusal of a sign-up or recovery ticket that is malformed, unknown,
// spent, cancelled or expired: all alike, problem code invalid_token.
func invalidTicket(op core.Op, field string, cause error) error {
	return &core.Error{Op: op, Kind: core.KindInvalid, Code: "invalid_token",
		Detail: "the " + field + " is not valid: it was used already, cancelled, or has expired", Err: cause}
}

// BeginAddPasskey starts the registration of another passkey for the holder of c, who must
// have authenticated within ReauthMaxAge (KindReauthenticate otherwise: a stolen refresh token
// must not become a permanent takeover). The challenge is bound to that user: only a request
// carrying an access token of the same user can finish it. The user's passkeys go into
// excludeCredentials, so an authenticator does not register twice.
//
// Round trips: the rate limits, the user and the user's passkeys (concurrently), then the
// challenge.
func (rp *RelyingParty) BeginAddPasskey(ctx context.Context, c core.AccessClaims, client core.Client) (RegistrationStart, error) {
	const op = "passkey.RelyingParty.BeginAddPasskey"
	now := rp.Now()
	if err := core.RequireRecent(c, now, rp.ReauthMaxAge); err != nil {
		rp.audit(ctx, "passkey.registration_refused", "mode", "add", "sub", c.Subject, "sid", c.SessionID, "reason", "reauthentication_required", "ip", client.IP)
		return RegistrationStart{}, err
	}
	var (
		limitErr, userErr, listErr error
		user                       core.User
		list                       []core.Passkey
	)
	parallel.Do(
		func() { limitErr = rp.limit(ctx, now, rp.BeginByIP, client.IP, rp.BeginByAccount, c.Subject) },
		func() { user, userErr = rp.Accounts.GetUser(ctx, c.Subject) },
		func() { list, listErr = rp.Credentials.UserPasskeys(ctx, c.Subject) },
	)
	if limitErr != nil {
		rp.audit(ctx, "passkey.registration_refused", "mode", "add", "sub", c.Subject, "reason", "rate_limited", "ip", client.IP)
		return RegistrationStart{}, limitErr
	}
	if core.Is(userErr, core.KindNotFound) {
		return RegistrationStart{}, core.E(op, core.KindUnauthenticated, "invalid access token", userErr)
	}
	if err := parallel.First(userErr, listErr); err != nil {
		return RegistrationStart{}, err
	}
	creation, sd, err := rp.beginForAccount(op, user, list)
	if err != nil {
		return RegistrationStart{}, err
	}
	id, err := rp.putChallenge(ctx, core.CeremonyRegister, user.ID, ceremonyState{mode: modeAdd, session: *sd}, now)
	if err != nil {
		return RegistrationStart{}, err
	}
	rp.audit(ctx, "passkey.registration_begun", "mode", "add", "sub", user.ID, "sid", c.SessionID, "ip", client.IP)
	return RegistrationStart{ChallengeID: id, Options: creation.Response}, nil
}

// FinishRegistration verifies a new credential (WebAuthn §7.1) against the challenge it was
// made for and stores it: on sign-up together with the new account and its email, in one
// transaction, followed by a new session; otherwise added to the account that began the
// ceremony, which must be the caller's. The challenge is consumed by an atomic take, so it
// completes at most one ceremony; a login challenge never completes a registration. A
// credential id registered to anyone already is refused (§7.1 step 26).
func (rp *RelyingParty) FinishRegistration(ctx context.Context, r RegistrationFinish) (Registration, error) {
	const op = "passkey.RelyingParty.FinishRegistration"
	now := rp.Now()
	var made string // the id of the credential the authenticator created, once parsed
	fail := func(mode, reason string, cause error, attrs ...any) error {
		rp.audit(ctx, "passkey.registration_failed", append([]any{"mode", mode, "reason", reason, "ip", r.Client.IP, "devinfo", devInfo(cause)}, attrs...)...)
		return notSaved(core.E(op, core.KindInvalid, detailRegistrationFailed, cause), made)
	}
	name, err := core.CleanLabel(op, "name", r.Name, 64)
	if err != nil {
		return Registration{}, err
	}
	parsed, parseErr := protocol.ParseCredentialCreationResponseBytes(r.Credential)
	if !validChallengeID(r.ChallengeID) {
		if err := rp.Limiter.Allow(ctx, rp.FinishByIP, r.Client.IP, now); err != nil {
			return Registration{}, err
		}
		return Registration{}, fail("unknown", "malformed_request", nil)
	}

	var (
		ch               core.Challenge
		takeErr, ipLimit error
	)
	parallel.Do(
		func() { ch, takeErr = rp.Challenges.TakeChallenge(ctx, r.ChallengeID, now) },
		func() { ipLimit = rp.Limiter.Allow(ctx, rp.FinishByIP, r.Client.IP, now) },
	)
	if ipLimit != nil {
		rp.audit(ctx, "passkey.registration_refused", "reason", "rate_limited", "ip", r.Client.IP)
		return Registration{}, ipLimit
	}
	switch {
	case core.Is(takeErr, core.KindNotFound):
		return Registration{}, fail("unknown", "challenge_unknown_or_expired", takeErr)
	case takeErr != nil:
		return Registration{}, takeErr
	case ch.Ceremony != core.CeremonyRegister:
		return Registration{}, fail("unknown", "challenge_of_another_ceremony", nil, "ceremony", ch.Ceremony.String())
	}
	st, err := decodeState(ch.State)
	if err != nil {
		return Registration{}, core.Wrap(op, err)
	}
	mode := "signup"
	switch st.mode {
	case modeRecovery:
		mode = "recovery"
	case modeAdd:
		mode = "add"
		// The challenge of an added passkey is bound to the user who began it.
		if r.Claims == nil || r.Claims.Subject != ch.UserID {
			var caller string
			if r.Claims != nil {
				caller = r.Claims.Subject
			}
			return Registration{}, fail(mode, "challenge_of_another_user", nil, "sub", ch.UserID, "caller", caller)
		}
	}
	// An added passkey's account is the verified user; a sign-up's email is only what its
	// caller asserted, so that budget is keyed with the caller's address.
	account := ch.UserID
	if st.mode == modeSignUp {
		account = atAddress(rp.emailKey(st.email), r.Client.IP)
	}
	if err := rp.Limiter.Allow(ctx, rp.FinishByAccount, account, now); err != nil {
		rp.audit(ctx, "passkey.registration_refused", "mode", mode, "sub", ch.UserID, "reason", "rate_limited",
			"account", rp.accountKey(ch.UserID), "ip", r.Client.IP)
		return Registration{}, err
	}
	if parseErr != nil {
		return Registration{}, fail(mode, "malformed_credential", parseErr, "sub", ch.UserID)
	}
	if n := len(parsed.RawID); n > 0 && n <= maxCredentialID {
		made = base64.RawURLEncoding.EncodeToString(parsed.RawID)
	}
	if mode == "add" {
		if err := core.RequireRecent(*r.Claims, now, rp.ReauthMaxAge); err != nil {
			rp.audit(ctx, "passkey.registration_refused", "mode", mode, "sub", ch.UserID, "reason", "reauthentication_required", "ip", r.Client.IP)
			return Registration{}, err
		}
	}
	if now.After(ch.ExpiresAt) {
		return Registration{}, fail(mode, "challenge_expired", nil, "sub", ch.UserID)
	}
	handle, err := userHandle(ch.UserID)
	if err != nil {
		return Registration{}, core.Wrap(op, err)
	}
	cred, err := rp.WebAuthn.CreateCredential(webauthnUser{handle: handle}, st.session, parsed)
	if err != nil {
		return Registration{}, fail(mode, "verification_failed", err, "sub", ch.UserID)
	}
	if len(cred.ID) == 0 || len(cred.ID) > maxCredentialID {
		return Registration{}, fail(mode, "credential_id_length", nil, "sub", ch.UserID)
	}
	if err := checkPublicKey(cred.PublicKey); err != nil {
		return Registration{}, fail(mode, "bad_public_key", err, "sub", ch.UserID)
	}
	pk := core.Passkey{
		ID:                base64.RawURLEncoding.EncodeToString(cred.ID),
		UserID:            ch.UserID,
		Name:              name,
		PublicKey:         cred.PublicKey,
		SignCount:         cred.Authenticator.SignCount,
		AAGUID:            cred.Authenticator.AAGUID,
		AttestationFormat: cred.AttestationFormat,
		AttestationType:   cred.AttestationType,
		UserVerified:      cred.Flags.UserVerified,
		BackupEligible:    cred.Flags.BackupEligible,
		BackupState:       cred.Flags.BackupState,
		CreatedAt:         now,
	}
	pk.Transports = knownTransports(cred.Transport)
	if pk.Name == "" {
		pk.Name = DefaultPasskeyName(pk.AAGUID)
	}

	if st.mode == modeAdd {
		err := rp.Credentials.AddPasskey(ctx, pk)
		if err != nil {
			return Registration{}, notSaved(rp.storeRefusal(ctx, op, mode, pk, r.Client, err), made)
		}
		rp.audit(ctx, "passkey.registered", "mode", mode, "sub", pk.UserID, "passkey", pk.ID, "aaguid", AAGUIDString(pk.AAGUID),
			"backed_up", pk.BackupState, "sid", r.Claims.SessionID, "ip", r.Client.IP)
		return Registration{User: core.User{ID: pk.UserID}, Passkey: pk}, nil
	}

	if st.mode == modeRecovery {
		return rp.finishRecovery(ctx, st, pk, r.Client, made, now)
	}

	user := core.User{ID: ch.UserID, Email: st.email, EmailVerified: st.ticketID != "", DisplayName: st.displayName, CreatedAt: now}
	var signUp core.Redemption
	if st.ticketID != "" {
		signUp = core.Redemption{ID: st.ticketID, TicketHash: st.ticketHash, At: now}
	}
	if err := rp.Accounts.CreateAccount(ctx, user, pk, signUp); err != nil {
		return Registration{}, notSaved(rp.storeRefusal(ctx, op, mode, pk, r.Client, err), made)
	}
	rp.audit(ctx, "account.created", "sub", user.ID, "with_email", user.Email != "", "ip", r.Client.IP)
	rp.audit(ctx, "passkey.registered", "mode", mode, "sub", pk.UserID, "passkey", pk.ID, "aaguid", AAGUIDString(pk.AAGUID),
		"backed_up", pk.BackupState, "ip", r.Client.IP)
	tr, err := rp.Sessions.Start(ctx, core.StartRequest{UserID: user.ID, AMR: AMR, PasskeyID: pk.ID, Client: r.Client})
	if err != nil {
		return Registration{}, err
	}
	rp.audit(ctx, "auth.login.succeeded", "method", "passkey", "ceremony", "signup", "sub", user.ID, "sid", tr.SessionID, "passkey", pk.ID, "ip", r.Client.IP)
	return Registration{User: user, Passkey: pk, Tokens: &tr}, nil
}

// notSaved marks err, a refusal of a credential the authenticator has already created, with
// the problem code credential_not_saved and the credential's id, so that the client tells the
// authenticator to forget it (WebAuthn Signal API, signalUnknownCredential). Outages and
// internal errors are left as they are: the client may retry those with the same credential.
func notSaved(err error, credentialID string) error {
	switch k := core.KindOf(err); {
	case credentialID == "", k == core.KindInternal, k == core.KindUnavailable, k == core.KindRateLimited, k == core.KindReauthenticate:
		return err
	}
	return &core.Error{Op: "passkey.notSaved", Kind: core.KindOf(err), Detail: core.DetailOf(err), Err: err,
		Code: "credential_not_saved", Members: map[string]string{"credentialId": credentialID}}
}

// storeRefusal turns a store's refusal of a new passkey into the client's answer.
func (rp *RelyingParty) storeRefusal(ctx context.Context, op core.Op, mode string, pk core.Passkey, client core.Client, err error) error {
	reason, detail := "", ""
	switch {
	case errors.Is(err, core.ErrTicketSpent):
		reason, detail = "ticket_spent", "the sign-up or recovery token was used already, cancelled, or has expired; start again"
	case errors.Is(err, core.ErrEmailTaken):
		reason, detail = "email_taken", "an account with this email exists already; sign in instead"
	case errors.Is(err, core.ErrPasskeyTaken):
		reason, detail = "credential_taken", "this passkey is registered already"
	case errors.Is(err, core.ErrTooManyPasskeys):
		reason, detail = "too_many_passkeys", fmt.Sprintf("an account holds at most %d passkeys", core.MaxPasskeys)
	case core.Is(err, core.KindNotFound):
		rp.audit(ctx, "passkey.registration_failed", "mode", mode, "reason", "user_gone", "sub", pk.UserID, "ip", client.IP)
		return core.E(op, core.KindUnauthenticated, "invalid access token", err)
	case core.Is(err, core.KindConflict):
		reason, detail = "user_id_taken", detailRegistrationFailed
	default:
		return err
	}
	rp.audit(ctx, "passkey.registration_failed", "mode", mode, "reason", reason, "sub", pk.UserID, "passkey", pk.ID, "ip", client.IP)
	return core.E(op, core.KindConflict, detail, err)
}

// finishRecovery stores the passkey a recovery ceremony made and redeems the account's pending
// recovery in the same transaction, which also ends every other session of the account; the
// new passkey's session, opened first, is the one kept. The owner is told by email.
func (rp *RelyingParty) finishRecovery(ctx context.Context, st ceremonyState, pk core.Passkey, client core.Client, made string, now time.Time) (Registration, error) {
	const op = "passkey.RelyingParty.FinishRegistration"
	tr, err := rp.Sessions.Start(ctx, core.StartRequest{UserID: pk.UserID, AMR: AMR, PasskeyID: pk.ID, Client: client})
	if err != nil {
		return Registration{}, err
	}
	err = rp.Credentials.AddRecoveredPasskey(ctx, pk, core.Redemption{ID: pk.UserID, TicketHash: st.ticketHash, At: now}, tr.SessionID)
	if err != nil {
		if werr := rp.Sessions.Withdraw(context.WithoutCancel(ctx), tr.SessionID); werr != nil && !core.Is(werr, core.KindNotFound) {
			rp.audit(ctx, "session.withdraw_failed", "sub", pk.UserID, "sid", tr.SessionID, "err", werr.Error())
		}
		return Registration{}, notSaved(rp.storeRefusal(ctx, op, "recovery", pk, client, err), made)
	}
	rp.audit(ctx, "recovery.completed", "sub", pk.UserID, "passkey", pk.ID, "aaguid", AAGUIDString(pk.AAGUID), "sid", tr.SessionID, "ip", client.IP)
	rp.audit(ctx, "passkey.registered", "mode", "recovery", "sub", pk.UserID, "passkey", pk.ID, "aaguid", AAGUIDString(pk.AAGUID),
		"backed_up", pk.BackupState, "ip", client.IP)
	rp.audit(ctx, "auth.login.succeeded", "method", "passkey", "ceremony", "recovery", "sub", pk.UserID, "sid", tr.SessionID, "passkey", pk.ID, "ip", client.IP)
	if rp.Mailer != nil && st.email != "" {
		m, err := message.Render(message.RecoveryCompleted, st.email, message.Data{App: rp.App})
		if err == nil {
			err = rp.Mailer.Send(ctx, m)
		}
		if err != nil {
			rp.audit(ctx, "email.send_failed", "message", message.RecoveryCompleted, "sub", pk.UserID, "err", err.Error())
		}
	}
	return Registration{User: core.User{ID: pk.UserID, Email: st.email}, Passkey: pk, Tokens: &tr}, nil
}
