package core

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// ChallengeTTL is how long a WebAuthn ceremony may take, from begin to finish. The challenge
// item expires then, whether or not the table has deleted it (SECURITY.md, passkeys).
const ChallengeTTL = 5 * time.Minute

// PasskeyAMR is the authentication methods (RFC 8176) of a passkey sign-in: proof of
// possession of a key held by an authenticator, with user verification making it
// multi-factor.
var PasskeyAMR = []string{"hwk", "mfa"}

// The client-safe answers of failed ceremonies. Every sign-in failure is the same answer, so a
// caller learns nothing about which check failed (ARCHITECTURE.md §6).
const (
	detailLoginFailed        = "passkey sign-in failed"
	detailRegistrationFailed = "the passkey could not be registered; start again"
)

// WebAuthnConfig is the relying party's configuration.
type WebAuthnConfig struct {
	RPID        string   // the relying party id, a registrable domain (or localhost)
	RPName      string   // shown by authenticators; the RP ID when empty
	Origins     []string // the allow-list of origins clientDataJSON may name
	Attestation string   // conveyance preference: none (default), indirect, direct or enterprise
}

// NewWebAuthn returns the go-webauthn relying party Latchkey runs: user verification required,
// discoverable credentials preferred (for conditional UI), the configured attestation
// conveyance, and both ceremonies timing out after ChallengeTTL, enforced server side as well.
func NewWebAuthn(c WebAuthnConfig) (*webauthn.WebAuthn, error) {
	const op = "core.NewWebAuthn"
	pref := protocol.ConveyancePreference(c.Attestation)
	switch pref {
	case "":
		pref = protocol.PreferNoAttestation
	case protocol.PreferNoAttestation, protocol.PreferIndirectAttestation, protocol.PreferDirectAttestation, protocol.PreferEnterpriseAttestation:
	default:
		return nil, Wrap(op, fmt.Errorf("attestation %q is not none, indirect, direct or enterprise", c.Attestation))
	}
	name := c.RPName
	if name == "" {
		name = c.RPID
	}
	notRequired := false
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  c.RPID,
		RPDisplayName:         name,
		RPOrigins:             c.Origins,
		AttestationPreference: pref,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: &notRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, Wrap(op, err)
	}
	return w, nil
}

// Passkeys is the use case behind passkey sign-up, sign-in and the caller's own passkeys
// (ARCHITECTURE.md §5). It is stateless: ceremony state lives in the challenge store between
// begin and finish, so any node can finish what another began.
type Passkeys struct {
	WebAuthn    *webauthn.WebAuthn
	Credentials CredentialStore
	Accounts    AccountStore
	Users       UserStore
	Challenges  ChallengeStore
	Sessions    *Sessions
	Limiter     *RateLimiter
	Audit       *slog.Logger
	Now         func() time.Time
	// DecoyKey keys the HMAC that derives the plausible answer for an email no account holds
	// (and the rate-limit keys of emails, so that the table never holds an address there).
	// At least 32 bytes; see DeriveKey.
	DecoyKey []byte

	BeginByIP       Rule // register/begin and login/begin per client address
	BeginByAccount  Rule // the same per account (normalized email or user id)
	FinishByIP      Rule // register/finish and login/finish per client address
	FinishByAccount Rule // the same per account (user id or credential)
}

// RegistrationStart is what a client needs to call navigator.credentials.create().
type RegistrationStart struct {
	ChallengeID string
	Options     protocol.PublicKeyCredentialCreationOptions
}

// LoginStart is what a client needs to call navigator.credentials.get().
type LoginStart struct {
	ChallengeID string
	Options     protocol.PublicKeyCredentialRequestOptions
}

// SignUp is a request for a new account.
type SignUp struct {
	Email       string // optional; normalized and unique across accounts
	DisplayName string // optional
}

// RegistrationFinish completes a register ceremony.
type RegistrationFinish struct {
	ChallengeID string
	Credential  []byte        // RegistrationResponseJSON, as the client sent it
	Name        string        // optional name of the passkey
	Claims      *AccessClaims // the caller's verified access token, if it sent one
	Client      Client
}

// Registration is a registered passkey, and on sign-up the new account and its first tokens.
type Registration struct {
	User    User
	Passkey Passkey
	Tokens  *TokenResponse // nil when a passkey was added to an existing account
}

// ceremony modes kept in the challenge state.
const (
	modeSignUp byte = iota + 1
	modeAdd
	modeLogin
)

// ceremonyState is what begin leaves for finish in the challenge item.
type ceremonyState struct {
	mode        byte
	email       string
	displayName string
	session     webauthn.SessionData
}

// stateVersion versions the encoding of ceremonyState.
const stateVersion = 1

func (s ceremonyState) encode() ([]byte, error) {
	sd, err := s.session.MarshalMsg(nil)
	if err != nil {
		return nil, err
	}
	p := []byte{stateVersion, s.mode}
	p = appendField(p, s.email)
	p = appendField(p, s.displayName)
	return appendField(p, string(sd)), nil
}

func decodeState(p []byte) (ceremonyState, error) {
	var s ceremonyState
	if len(p) < 2 || p[0] != stateVersion {
		return s, errors.New("challenge state has an unknown version")
	}
	s.mode = p[1]
	var sd string
	ok := true
	p, s.email, ok = readField(p[2:], ok)
	p, s.displayName, ok = readField(p, ok)
	p, sd, ok = readField(p, ok)
	if !ok || len(p) != 0 {
		return s, errors.New("challenge state is malformed")
	}
	if _, err := s.session.UnmarshalMsg([]byte(sd)); err != nil {
		return s, err
	}
	return s, nil
}

// BeginSignUp starts the registration of a new account's first passkey. The account's random
// 128-bit id, which is also its WebAuthn user handle, is chosen now; nothing but the challenge
// is written until the ceremony finishes. Whether the email is taken is decided only then, by
// the transaction that claims it, so this answers the same for every address.
//
// Round trips: the rate limits (by address and by email, concurrently), then the challenge.
func (p *Passkeys) BeginSignUp(ctx context.Context, r SignUp, client Client) (RegistrationStart, error) {
	const op = "core.Passkeys.BeginSignUp"
	now := p.Now()
	var email string
	if r.Email != "" {
		var err error
		if email, err = NormalizeEmail(r.Email); err != nil {
			return RegistrationStart{}, err
		}
	}
	display, err := cleanLabel(op, "displayName", r.DisplayName, 64)
	if err != nil {
		return RegistrationStart{}, err
	}
	if err := p.limit(ctx, now, p.BeginByIP, client.IP, p.BeginByAccount, p.emailKey(email)); err != nil {
		p.audit(ctx, "passkey.registration_refused", "mode", "signup", "reason", "rate_limited", "ip", client.IP)
		return RegistrationStart{}, err
	}
	uid := NewID()
	handle, err := userHandle(uid)
	if err != nil {
		return RegistrationStart{}, Wrap(op, err)
	}
	u := webauthnUser{handle: handle, name: firstNonEmpty(email, display, "Latchkey account"), display: firstNonEmpty(display, email, "Latchkey account")}
	creation, sd, err := p.WebAuthn.BeginRegistration(u)
	if err != nil {
		return RegistrationStart{}, Wrap(op, err)
	}
	id, err := p.putChallenge(ctx, CeremonyRegister, uid, ceremonyState{mode: modeSignUp, email: email, displayName: display, session: *sd}, now)
	if err != nil {
		return RegistrationStart{}, err
	}
	p.audit(ctx, "passkey.registration_begun", "mode", "signup", "sub", uid, "ip", client.IP)
	return RegistrationStart{ChallengeID: id, Options: creation.Response}, nil
}

// BeginAddPasskey starts the registration of another passkey for the holder of c. The
// challenge is bound to that user: only a request carrying an access token of the same user
// can finish it. The user's passkeys go into excludeCredentials, so an authenticator does not
// register twice.
//
// Round trips: the rate limits, the user and the user's passkeys (concurrently), then the
// challenge.
func (p *Passkeys) BeginAddPasskey(ctx context.Context, c AccessClaims, client Client) (RegistrationStart, error) {
	const op = "core.Passkeys.BeginAddPasskey"
	now := p.Now()
	var (
		limitErr, userErr, listErr error
		user                       User
		list                       []Passkey
	)
	parallel(
		func() { limitErr = p.limit(ctx, now, p.BeginByIP, client.IP, p.BeginByAccount, c.Subject) },
		func() { user, userErr = p.Users.GetUser(ctx, c.Subject) },
		func() { list, listErr = p.Credentials.UserPasskeys(ctx, c.Subject) },
	)
	if limitErr != nil {
		p.audit(ctx, "passkey.registration_refused", "mode", "add", "sub", c.Subject, "reason", "rate_limited", "ip", client.IP)
		return RegistrationStart{}, limitErr
	}
	if Is(userErr, KindNotFound) {
		return RegistrationStart{}, E(op, KindUnauthenticated, "invalid access token", userErr)
	}
	if err := firstOf(userErr, listErr); err != nil {
		return RegistrationStart{}, err
	}
	if len(list) >= MaxPasskeys {
		return RegistrationStart{}, E(op, KindConflict, fmt.Sprintf("an account holds at most %d passkeys", MaxPasskeys), ErrTooManyPasskeys)
	}
	handle, err := userHandle(user.ID)
	if err != nil {
		return RegistrationStart{}, Wrap(op, err)
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(list))
	for _, pk := range list {
		cred, err := pk.credential()
		if err != nil {
			return RegistrationStart{}, Wrap(op, err)
		}
		exclude = append(exclude, cred.Descriptor())
	}
	u := webauthnUser{handle: handle, name: firstNonEmpty(user.Email, user.DisplayName, "Latchkey account"), display: firstNonEmpty(user.DisplayName, user.Email, "Latchkey account")}
	creation, sd, err := p.WebAuthn.BeginRegistration(u, webauthn.WithExclusions(exclude))
	if err != nil {
		return RegistrationStart{}, Wrap(op, err)
	}
	id, err := p.putChallenge(ctx, CeremonyRegister, user.ID, ceremonyState{mode: modeAdd, session: *sd}, now)
	if err != nil {
		return RegistrationStart{}, err
	}
	p.audit(ctx, "passkey.registration_begun", "mode", "add", "sub", user.ID, "sid", c.SessionID, "ip", client.IP)
	return RegistrationStart{ChallengeID: id, Options: creation.Response}, nil
}

// FinishRegistration verifies a new credential (WebAuthn §7.1) against the challenge it was
// made for and stores it: on sign-up together with the new account and its email, in one
// transaction, followed by a new session; otherwise added to the account that began the
// ceremony, which must be the caller's. The challenge is consumed by an atomic take, so it
// completes at most one ceremony; a login challenge never completes a registration. A
// credential id registered to anyone already is refused (§7.1 step 26).
func (p *Passkeys) FinishRegistration(ctx context.Context, r RegistrationFinish) (Registration, error) {
	const op = "core.Passkeys.FinishRegistration"
	now := p.Now()
	fail := func(mode, reason string, cause error, attrs ...any) error {
		p.audit(ctx, "passkey.registration_failed", append([]any{"mode", mode, "reason", reason, "ip", r.Client.IP, "devinfo", devInfo(cause)}, attrs...)...)
		return E(op, KindInvalid, detailRegistrationFailed, cause)
	}
	name, err := cleanLabel(op, "name", r.Name, 64)
	if err != nil {
		return Registration{}, err
	}
	parsed, parseErr := protocol.ParseCredentialCreationResponseBytes(r.Credential)
	if !validChallengeID(r.ChallengeID) {
		if err := p.Limiter.Allow(ctx, p.FinishByIP, r.Client.IP, now); err != nil {
			return Registration{}, err
		}
		return Registration{}, fail("unknown", "malformed_request", nil)
	}

	var (
		ch               Challenge
		takeErr, ipLimit error
	)
	parallel(
		func() { ch, takeErr = p.Challenges.TakeChallenge(ctx, r.ChallengeID, now) },
		func() { ipLimit = p.Limiter.Allow(ctx, p.FinishByIP, r.Client.IP, now) },
	)
	if ipLimit != nil {
		p.audit(ctx, "passkey.registration_refused", "reason", "rate_limited", "ip", r.Client.IP)
		return Registration{}, ipLimit
	}
	switch {
	case Is(takeErr, KindNotFound):
		return Registration{}, fail("unknown", "challenge_unknown_or_expired", takeErr)
	case takeErr != nil:
		return Registration{}, takeErr
	case ch.Ceremony != CeremonyRegister:
		return Registration{}, fail("unknown", "challenge_of_another_ceremony", nil, "ceremony", ch.Ceremony.String())
	}
	st, err := decodeState(ch.State)
	if err != nil {
		return Registration{}, Wrap(op, err)
	}
	mode := "signup"
	if st.mode == modeAdd {
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
	account := ch.UserID
	if st.email != "" {
		account = p.emailKey(st.email)
	}
	if err := p.Limiter.Allow(ctx, p.FinishByAccount, account, now); err != nil {
		p.audit(ctx, "passkey.registration_refused", "mode", mode, "sub", ch.UserID, "reason", "rate_limited", "ip", r.Client.IP)
		return Registration{}, err
	}
	if parseErr != nil {
		return Registration{}, fail(mode, "malformed_credential", parseErr, "sub", ch.UserID)
	}
	if now.After(ch.ExpiresAt) {
		return Registration{}, fail(mode, "challenge_expired", nil, "sub", ch.UserID)
	}
	handle, err := userHandle(ch.UserID)
	if err != nil {
		return Registration{}, Wrap(op, err)
	}
	cred, err := p.WebAuthn.CreateCredential(webauthnUser{handle: handle}, st.session, parsed)
	if err != nil {
		return Registration{}, fail(mode, "verification_failed", err, "sub", ch.UserID)
	}
	if len(cred.ID) == 0 || len(cred.ID) > maxCredentialID {
		return Registration{}, fail(mode, "credential_id_length", nil, "sub", ch.UserID)
	}
	pk := Passkey{
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
	for _, t := range cred.Transport {
		pk.Transports = append(pk.Transports, string(t))
	}
	if pk.Name == "" {
		pk.Name = DefaultPasskeyName(pk.AAGUID)
	}

	if st.mode == modeAdd {
		err := p.Credentials.AddPasskey(ctx, pk)
		if err != nil {
			return Registration{}, p.storeRefusal(ctx, op, mode, pk, r.Client, err)
		}
		p.audit(ctx, "passkey.registered", "mode", mode, "sub", pk.UserID, "passkey", pk.ID, "aaguid", aaguidString(pk.AAGUID),
			"backed_up", pk.BackupState, "sid", r.Claims.SessionID, "ip", r.Client.IP)
		return Registration{User: User{ID: pk.UserID}, Passkey: pk}, nil
	}

	user := User{ID: ch.UserID, Email: st.email, DisplayName: st.displayName, CreatedAt: now}
	if err := p.Accounts.CreateAccount(ctx, user, pk); err != nil {
		return Registration{}, p.storeRefusal(ctx, op, mode, pk, r.Client, err)
	}
	p.audit(ctx, "account.created", "sub", user.ID, "with_email", user.Email != "", "ip", r.Client.IP)
	p.audit(ctx, "passkey.registered", "mode", mode, "sub", pk.UserID, "passkey", pk.ID, "aaguid", aaguidString(pk.AAGUID),
		"backed_up", pk.BackupState, "ip", r.Client.IP)
	tr, err := p.Sessions.Start(ctx, StartRequest{UserID: user.ID, AMR: PasskeyAMR, Client: r.Client})
	if err != nil {
		return Registration{}, err
	}
	p.audit(ctx, "auth.login.succeeded", "method", "passkey", "ceremony", "signup", "sub", user.ID, "sid", tr.SessionID, "passkey", pk.ID, "ip", r.Client.IP)
	return Registration{User: user, Passkey: pk, Tokens: &tr}, nil
}

// storeRefusal turns a store's refusal of a new passkey into the client's answer.
func (p *Passkeys) storeRefusal(ctx context.Context, op Op, mode string, pk Passkey, client Client, err error) error {
	reason, detail := "", ""
	switch {
	case errors.Is(err, ErrEmailTaken):
		reason, detail = "email_taken", "an account with this email exists already; sign in instead"
	case errors.Is(err, ErrPasskeyTaken):
		reason, detail = "credential_taken", "this passkey is registered already"
	case errors.Is(err, ErrTooManyPasskeys):
		reason, detail = "too_many_passkeys", fmt.Sprintf("an account holds at most %d passkeys", MaxPasskeys)
	case Is(err, KindNotFound):
		p.audit(ctx, "passkey.registration_failed", "mode", mode, "reason", "user_gone", "sub", pk.UserID, "ip", client.IP)
		return E(op, KindUnauthenticated, "invalid access token", err)
	case Is(err, KindConflict):
		reason, detail = "user_id_taken", detailRegistrationFailed
	default:
		return err
	}
	p.audit(ctx, "passkey.registration_failed", "mode", mode, "reason", reason, "sub", pk.UserID, "passkey", pk.ID, "ip", client.IP)
	return E(op, KindConflict, detail, err)
}

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
func (p *Passkeys) BeginLogin(ctx context.Context, email string, client Client) (LoginStart, error) {
	const op = "core.Passkeys.BeginLogin"
	now := p.Now()
	if email == "" {
		if err := p.Limiter.Allow(ctx, p.BeginByIP, client.IP, now); err != nil {
			p.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
			return LoginStart{}, err
		}
		assertion, sd, err := p.WebAuthn.BeginDiscoverableLogin()
		if err != nil {
			return LoginStart{}, Wrap(op, err)
		}
		id, err := p.putChallenge(ctx, CeremonyLogin, "", ceremonyState{mode: modeLogin, session: *sd}, now)
		if err != nil {
			return LoginStart{}, err
		}
		p.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", true, "ip", client.IP)
		return LoginStart{ChallengeID: id, Options: assertion.Response}, nil
	}

	norm, err := NormalizeEmail(email)
	if err != nil {
		return LoginStart{}, err
	}
	var (
		limitErr, lookupErr error
		uid                 string
	)
	parallel(
		func() { limitErr = p.limit(ctx, now, p.BeginByIP, client.IP, p.BeginByAccount, p.emailKey(norm)) },
		func() { uid, lookupErr = p.Accounts.UserIDByEmail(ctx, norm) },
	)
	if limitErr != nil {
		p.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
		return LoginStart{}, limitErr
	}
	if lookupErr != nil && !Is(lookupErr, KindNotFound) {
		return LoginStart{}, lookupErr
	}
	decoyUID, decoys := p.decoy(norm)
	known := lookupErr == nil
	if !known {
		uid = decoyUID
	}
	list, err := p.Credentials.UserPasskeys(ctx, uid)
	if err != nil {
		return LoginStart{}, err
	}
	allow := decoys
	if len(list) > 0 {
		allow = make([]protocol.CredentialDescriptor, 0, len(list))
		for _, pk := range list {
			cred, err := pk.credential()
			if err != nil {
				return LoginStart{}, Wrap(op, err)
			}
			allow = append(allow, cred.Descriptor())
		}
	}
	assertion, sd, err := p.WebAuthn.BeginDiscoverableLogin(webauthn.WithAllowedCredentials(allow))
	if err != nil {
		return LoginStart{}, Wrap(op, err)
	}
	id, err := p.putChallenge(ctx, CeremonyLogin, uid, ceremonyState{mode: modeLogin, session: *sd}, now)
	if err != nil {
		return LoginStart{}, err
	}
	if known {
		p.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", false, "sub", uid, "ip", client.IP)
	} else {
		p.audit(ctx, "auth.login.begun", "method", "passkey", "discoverable", false, "unknown_account", true, "ip", client.IP)
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
func (p *Passkeys) FinishLogin(ctx context.Context, challengeID string, credential []byte, client Client) (TokenResponse, error) {
	const op = "core.Passkeys.FinishLogin"
	now := p.Now()
	fail := func(reason string, cause error, attrs ...any) error {
		p.audit(ctx, "auth.login.failed", append([]any{"method", "passkey", "reason", reason, "ip", client.IP, "devinfo", devInfo(cause)}, attrs...)...)
		return E(op, KindUnauthenticated, detailLoginFailed, cause)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		if limitErr := p.Limiter.Allow(ctx, p.FinishByIP, client.IP, now); limitErr != nil {
			return TokenResponse{}, limitErr
		}
		return TokenResponse{}, fail("malformed_credential", err)
	}
	if !validChallengeID(challengeID) || len(parsed.RawID) > maxCredentialID {
		if limitErr := p.Limiter.Allow(ctx, p.FinishByIP, client.IP, now); limitErr != nil {
			return TokenResponse{}, limitErr
		}
		return TokenResponse{}, fail("malformed_request", nil)
	}
	credID := base64.RawURLEncoding.EncodeToString(parsed.RawID)
	account := "cred:" + credID
	if h := parsed.Response.UserHandle; len(h) > 0 && len(h) <= 64 {
		account = base64.RawURLEncoding.EncodeToString(h)
	}

	// Stage 1.
	var (
		ch                       Challenge
		pk                       Passkey
		takeErr, getErr, limitEr error
	)
	parallel(
		func() { ch, takeErr = p.Challenges.TakeChallenge(ctx, challengeID, now) },
		func() { pk, getErr = p.Credentials.GetPasskey(ctx, credID) },
		func() { limitEr = p.limit(ctx, now, p.FinishByIP, client.IP, p.FinishByAccount, account) },
	)
	if limitEr != nil {
		p.audit(ctx, "auth.login.refused", "method", "passkey", "reason", "rate_limited", "ip", client.IP)
		return TokenResponse{}, limitEr
	}
	switch {
	case takeErr != nil && !Is(takeErr, KindNotFound):
		return TokenResponse{}, takeErr
	case getErr != nil && !Is(getErr, KindNotFound):
		return TokenResponse{}, getErr
	case takeErr != nil:
		return TokenResponse{}, fail("challenge_unknown_or_expired", takeErr, "passkey", credID)
	case ch.Ceremony != CeremonyLogin:
		return TokenResponse{}, fail("challenge_of_another_ceremony", nil, "passkey", credID, "ceremony", ch.Ceremony.String())
	case now.After(ch.ExpiresAt):
		return TokenResponse{}, fail("challenge_expired", nil, "passkey", credID)
	case getErr != nil:
		return TokenResponse{}, fail("unknown_credential", getErr, "passkey", credID)
	}
	st, err := decodeState(ch.State)
	if err != nil || st.mode != modeLogin {
		return TokenResponse{}, Wrap(op, errors.Join(err, errors.New("login challenge without login state")))
	}
	cred, err := pk.credential()
	if err != nil {
		return TokenResponse{}, Wrap(op, err)
	}
	handle, err := userHandle(pk.UserID)
	if err != nil {
		return TokenResponse{}, Wrap(op, err)
	}
	owner := webauthnUser{handle: handle, creds: []webauthn.Credential{cred}}
	var verified *webauthn.Credential
	if ch.UserID != "" {
		// Begun with an email: the credential must be that account's and one it was offered.
		if pk.UserID != ch.UserID {
			return TokenResponse{}, fail("credential_of_another_account", nil, "passkey", credID, "sub", pk.UserID)
		}
		if !slices.ContainsFunc(st.session.AllowedCredentialIDs, func(id []byte) bool { return bytes.Equal(id, parsed.RawID) }) {
			return TokenResponse{}, fail("credential_not_allowed", nil, "passkey", credID, "sub", pk.UserID)
		}
		sd := st.session
		sd.UserID, sd.AllowedCredentialIDs = handle, nil // both checked above, against the whole account
		verified, err = p.WebAuthn.ValidateLogin(owner, sd, parsed)
	} else {
		verified, err = p.WebAuthn.ValidateDiscoverableLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(rawID, cred.ID) || !bytes.Equal(userHandle, handle) {
				return nil, errors.New("the user handle does not own the credential")
			}
			return owner, nil
		}, st.session, parsed)
	}
	if err != nil {
		return TokenResponse{}, fail("verification_failed", err, "passkey", credID, "sub", pk.UserID)
	}
	if verified.Authenticator.CloneWarning {
		p.audit(ctx, "passkey.counter_regressed", "sub", pk.UserID, "passkey", credID,
			"stored", pk.SignCount, "presented", parsed.Response.AuthenticatorData.Counter, "ip", client.IP)
		return TokenResponse{}, fail("counter_regressed", nil, "passkey", credID, "sub", pk.UserID)
	}

	// Stage 2.
	var (
		tr                        TokenResponse
		user                      User
		useErr, startErr, userErr error
	)
	parallel(
		func() {
			useErr = p.Credentials.RecordUse(ctx, credID, pk.UserID, PasskeyUse{
				SignCount:    verified.Authenticator.SignCount,
				BackupState:  verified.Flags.BackupState,
				UserVerified: verified.Flags.UserVerified,
				At:           now,
			})
		},
		func() {
			tr, startErr = p.Sessions.Start(ctx, StartRequest{UserID: pk.UserID, AMR: PasskeyAMR, Client: client})
		},
		func() { user, userErr = p.Users.GetUser(ctx, pk.UserID) },
	)
	refuse := func(err error) (TokenResponse, error) {
		if startErr == nil {
			if rerr := p.Sessions.Store.RevokeSession(context.WithoutCancel(ctx), tr.SessionID, now); rerr != nil && !Is(rerr, KindNotFound) {
				p.Audit.WarnContext(ctx, "could not revoke a session whose tokens were withheld", "sid", tr.SessionID, "err", rerr)
			}
		}
		return TokenResponse{}, err
	}
	switch {
	case errors.Is(useErr, ErrCounterRegressed):
		p.audit(ctx, "passkey.counter_regressed", "sub", pk.UserID, "passkey", credID,
			"presented", verified.Authenticator.SignCount, "concurrent", true, "ip", client.IP)
		return refuse(fail("counter_regressed", useErr, "passkey", credID, "sub", pk.UserID))
	case Is(useErr, KindNotFound):
		return refuse(fail("credential_deleted", useErr, "passkey", credID, "sub", pk.UserID))
	case Is(userErr, KindNotFound):
		return refuse(fail("user_gone", userErr, "passkey", credID, "sub", pk.UserID))
	case userErr == nil && user.Disabled:
		return refuse(fail("user_disabled", nil, "passkey", credID, "sub", pk.UserID))
	}
	if err := firstOf(useErr, userErr, startErr); err != nil {
		return refuse(err)
	}
	p.audit(ctx, "auth.login.succeeded", "method", "passkey", "sub", pk.UserID, "sid", tr.SessionID, "passkey", credID,
		"discoverable", ch.UserID == "", "backed_up", verified.Flags.BackupState, "ip", client.IP)
	return tr, nil
}

// ListPasskeys returns the caller's passkeys, oldest first.
func (p *Passkeys) ListPasskeys(ctx context.Context, c AccessClaims) ([]Passkey, error) {
	return p.Credentials.UserPasskeys(ctx, c.Subject)
}

// RenamePasskey renames one of the caller's passkeys. Another user's passkey answers
// KindNotFound, exactly like one that does not exist.
func (p *Passkeys) RenamePasskey(ctx context.Context, c AccessClaims, id, name string) (Passkey, error) {
	const op = "core.Passkeys.RenamePasskey"
	name, err := cleanLabel(op, "name", name, 64)
	if err != nil {
		return Passkey{}, err
	}
	if name == "" {
		return Passkey{}, E(op, KindInvalid, "name must not be empty", nil)
	}
	if !validCredentialID(id) {
		return Passkey{}, E(op, KindNotFound, "no such passkey", nil)
	}
	pk, err := p.Credentials.RenamePasskey(ctx, c.Subject, id, name)
	if Is(err, KindNotFound) {
		return Passkey{}, E(op, KindNotFound, "no such passkey", err)
	}
	if err != nil {
		return Passkey{}, err
	}
	p.audit(ctx, "passkey.renamed", "sub", c.Subject, "passkey", id, "sid", c.SessionID)
	return pk, nil
}

// DeletePasskey removes one of the caller's passkeys, unless it is the account's last:
// KindConflict then (ARCHITECTURE.md §5), decided atomically by the store. Another user's
// passkey answers KindNotFound.
func (p *Passkeys) DeletePasskey(ctx context.Context, c AccessClaims, id string) error {
	const op = "core.Passkeys.DeletePasskey"
	if !validCredentialID(id) {
		return E(op, KindNotFound, "no such passkey", nil)
	}
	err := p.Credentials.DeletePasskey(ctx, c.Subject, id)
	switch {
	case errors.Is(err, ErrLastPasskey):
		p.audit(ctx, "passkey.delete_refused", "sub", c.Subject, "passkey", id, "reason", "last_passkey", "sid", c.SessionID)
		return E(op, KindConflict, "this is the account's last passkey; add another before deleting it", err)
	case Is(err, KindNotFound):
		return E(op, KindNotFound, "no such passkey", err)
	case err != nil:
		return err
	}
	p.audit(ctx, "passkey.deleted", "sub", c.Subject, "passkey", id, "sid", c.SessionID)
	return nil
}

// putChallenge stores a new challenge for a ceremony and returns its id.
func (p *Passkeys) putChallenge(ctx context.Context, c Ceremony, uid string, st ceremonyState, now time.Time) (string, error) {
	state, err := st.encode()
	if err != nil {
		return "", Wrap("core.Passkeys.putChallenge", err)
	}
	id := NewID()
	err = p.Challenges.PutChallenge(ctx, Challenge{ID: id, Ceremony: c, UserID: uid, State: state, ExpiresAt: now.Add(ChallengeTTL)}, now)
	if err != nil {
		return "", err
	}
	return id, nil
}

// limit counts one hit under the address rule and, when account is set, the account rule,
// concurrently.
func (p *Passkeys) limit(ctx context.Context, now time.Time, byIP Rule, ip string, byAccount Rule, account string) error {
	var ipErr, acctErr error
	fns := []func(){func() { ipErr = p.Limiter.Allow(ctx, byIP, ip, now) }}
	if account != "" {
		fns = append(fns, func() { acctErr = p.Limiter.Allow(ctx, byAccount, account, now) })
	}
	parallel(fns...)
	return firstOf(ipErr, acctErr)
}

func (p *Passkeys) audit(ctx context.Context, event string, attrs ...any) {
	p.Audit.InfoContext(ctx, event, append([]any{"audit", true}, attrs...)...)
}

// devInfo is go-webauthn's developer detail of err, for the logs only, never for clients. The
// detail of a challenge mismatch quotes the expected and received challenges, and challenges
// never go to logs (SECURITY.md), so only its summary is kept.
func devInfo(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if pe.DevInfo != "" && !strings.Contains(strings.ToLower(pe.Details), "challenge") {
			return pe.Details + ": " + pe.DevInfo
		}
		return pe.Details
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// webauthnUser is a user as go-webauthn sees one.
type webauthnUser struct {
	handle        []byte
	name, display string
	creds         []webauthn.Credential
}

func (u webauthnUser) WebAuthnID() []byte                         { return u.handle }
func (u webauthnUser) WebAuthnName() string                       { return u.name }
func (u webauthnUser) WebAuthnDisplayName() string                { return u.display }
func (u webauthnUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userHandle is the WebAuthn user handle of user uid: the 16 random bytes the id encodes, so
// that user.id in the creation options reads exactly as the user id.
func userHandle(uid string) ([]byte, error) {
	h, err := base64.RawURLEncoding.DecodeString(uid)
	if err != nil || len(h) == 0 || len(h) > 64 {
		return nil, fmt.Errorf("user id %q is not a base64url user handle", uid)
	}
	return h, nil
}

// credential is p as go-webauthn's credential record.
func (p Passkey) credential() (webauthn.Credential, error) {
	raw, err := base64.RawURLEncoding.DecodeString(p.ID)
	if err != nil {
		return webauthn.Credential{}, fmt.Errorf("passkey id %q is not base64url", p.ID)
	}
	flags := protocol.FlagUserPresent
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, 0, len(p.Transports))
	for _, t := range p.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                raw,
		PublicKey:         p.PublicKey,
		AttestationType:   p.AttestationType,
		AttestationFormat: p.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(flags),
		Authenticator:     webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: p.SignCount},
	}, nil
}

// maxCredentialID is the longest credential id WebAuthn allows (§5.1, credential id: at most
// 1023 bytes).
const maxCredentialID = 1023

// validCredentialID reports whether id can be a passkey id at all: base64url of 1 to 1023
// bytes. Anything else is not looked up.
func validCredentialID(id string) bool {
	if id == "" || len(id) > (maxCredentialID*4+2)/3 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// validChallengeID reports whether id has the shape of the ids putChallenge hands out (NewID:
// 22 base64url characters). Anything else is not looked up.
func validChallengeID(id string) bool {
	if len(id) != 22 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// parallel runs fns concurrently and waits for all of them.
func parallel(fns ...func()) {
	if len(fns) == 1 {
		fns[0]()
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(fns) - 1)
	for _, f := range fns[1:] {
		go func() { defer wg.Done(); f() }()
	}
	fns[0]()
	wg.Wait()
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
