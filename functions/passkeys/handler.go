package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/functions/internal/apigw"
)

type handler struct {
	rp       *passkey.RelyingParty
	verifier *core.Verifier
	log      *slog.Logger
}

// Handle routes one API Gateway request (docs/api.md, passkeys).
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "POST /v1/passkeys/register/begin":
		return h.registerBegin(ctx, req)
	case "POST /v1/passkeys/register/finish":
		return h.registerFinish(ctx, req)
	case "POST /v1/passkeys/login/begin":
		return h.loginBegin(ctx, req)
	case "POST /v1/passkeys/login/finish":
		return h.loginFinish(ctx, req)
	}
	// Everything else acts for the holder of an access token.
	claims, err := h.bearer(ctx, req)
	if err != nil {
		return apigw.Response{}, err
	}
	switch req.RouteKey {
	case "GET /v1/me":
		return h.me(ctx, claims)
	case "GET /v1/me/passkeys":
		return h.list(ctx, claims)
	case "PATCH /v1/me/passkeys/{id}":
		return h.rename(ctx, req, claims)
	case "DELETE /v1/me/passkeys/{id}":
		return h.delete(ctx, req, claims)
	}
	return apigw.NotFound(req), nil
}

// meBody is GET /v1/me's answer: who is signed in. emailVerified is false for every account
// until emails are verified.
type meBody struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"emailVerified"`
	DisplayName   string    `json:"displayName"`
	CreatedAt     time.Time `json:"createdAt"`
	PasskeyCount  int       `json:"passkeyCount"`
	// RecoveryCodesLeft counts the account's unspent recovery codes.
	RecoveryCodesLeft int `json:"recoveryCodesLeft"`
}

// me answers the caller's account: id, email, display name, creation time, passkey count.
func (h *handler) me(ctx context.Context, claims core.AccessClaims) (apigw.Response, error) {
	a, err := h.rp.Me(ctx, claims)
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, meBody{
		ID: a.ID, Email: a.Email, EmailVerified: a.EmailVerified, DisplayName: a.DisplayName,
		CreatedAt: a.CreatedAt.UTC(), PasskeyCount: a.PasskeyCount, RecoveryCodesLeft: a.RecoveryCodesLeft,
	}), nil
}

// list answers the caller's passkeys, oldest first.
func (h *handler) list(ctx context.Context, claims core.AccessClaims) (apigw.Response, error) {
	list, err := h.rp.ListPasskeys(ctx, claims)
	if err != nil {
		return apigw.Response{}, err
	}
	out := make([]passkeyBody, 0, len(list))
	ids := make([]string, 0, len(list))
	for _, p := range list {
		out = append(out, newPasskeyBody(p))
		ids = append(ids, p.ID)
	}
	// signal is what the WebAuthn Signal API's signalAllAcceptedCredentials takes, so the
	// page can tell the browser to drop passkeys this account no longer has.
	signal := signalBody{RPID: h.rp.WebAuthn.Config.RPID, UserID: claims.Subject, AllAcceptedCredentialIDs: ids}
	return apigw.JSON(http.StatusOK, map[string]any{"passkeys": out, "signal": signal}), nil
}

// rename renames one of the caller's passkeys.
func (h *handler) rename(ctx context.Context, req *apigw.Request, claims core.AccessClaims) (apigw.Response, error) {
	var body struct {
		Name string `json:"name"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	p, err := h.rp.RenamePasskey(ctx, claims, req.PathParameters["id"], body.Name)
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, newPasskeyBody(p)), nil
}

// delete removes one of the caller's passkeys, never the last.
func (h *handler) delete(ctx context.Context, req *apigw.Request, claims core.AccessClaims) (apigw.Response, error) {
	if err := h.rp.DeletePasskey(ctx, claims, req.PathParameters["id"]); err != nil {
		return apigw.Response{}, err
	}
	return apigw.NoContent(), nil
}

// beginBody answers a begin: the challenge's handle and the options for the browser, which
// marshal as the WebAuthn Level 3 JSON (PublicKeyCredentialCreationOptionsJSON,
// PublicKeyCredentialRequestOptionsJSON).
type beginBody struct {
	ChallengeID string `json:"challengeId"`
	PublicKey   any    `json:"publicKey"`
}

// registerBegin starts a sign-up, or with a Bearer token adds a passkey to its holder.
func (h *handler) registerBegin(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	if hasBearer(req) {
		claims, err := h.bearer(ctx, req)
		if err != nil {
			return apigw.Response{}, err
		}
		start, err := h.rp.BeginAddPasskey(ctx, claims, apigw.Client(req))
		if err != nil {
			return apigw.Response{}, err
		}
		return apigw.JSON(http.StatusOK, beginBody{start.ChallengeID, start.Options}), nil
	}
	var body struct {
		SignUpToken   string `json:"signupToken"`
		RecoveryToken string `json:"recoveryToken"`
		Email         string `json:"email"`
		DisplayName   string `json:"displayName"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	var (
		start passkey.RegistrationStart
		err   error
	)
	switch {
	case body.RecoveryToken != "" && (body.SignUpToken != "" || body.Email != "" || body.DisplayName != ""):
		return apigw.Response{}, core.E("passkeys.registerBegin", core.KindInvalid, "a recoveryToken comes alone", nil)
	case body.RecoveryToken != "":
		start, err = h.rp.BeginRecovery(ctx, body.RecoveryToken, apigw.Client(req))
	default:
		start, err = h.rp.BeginSignUp(ctx, passkey.SignUp{Ticket: body.SignUpToken, Email: body.Email, DisplayName: body.DisplayName}, apigw.Client(req))
	}
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, beginBody{start.ChallengeID, start.Options}), nil
}

// finishBody is the body of both finishes: the challenge's handle and the credential as the
// browser serialized it (RegistrationResponseJSON, AuthenticationResponseJSON), kept as bytes
// for go-webauthn to parse.
type finishBody struct {
	ChallengeID string          `json:"challengeId"`
	Credential  json.RawMessage `json:"credential"`
	Name        string          `json:"name"`
}

// registerFinish stores the new passkey: 201 with the user and the passkey, and on sign-up
// the first tokens of the new account.
func (h *handler) registerFinish(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var claims *core.AccessClaims
	if hasBearer(req) {
		c, err := h.bearer(ctx, req)
		if err != nil {
			return apigw.Response{}, err
		}
		claims = &c
	}
	var body finishBody
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	if body.ChallengeID == "" || len(body.Credential) == 0 {
		return apigw.Response{}, core.E("passkeys.registerFinish", core.KindInvalid, "challengeId and credential are required", nil)
	}
	reg, err := h.rp.FinishRegistration(ctx, passkey.RegistrationFinish{
		ChallengeID: body.ChallengeID, Credential: body.Credential, Name: body.Name, Claims: claims, Client: apigw.Client(req),
	})
	if err != nil {
		return apigw.Response{}, err
	}
	out := registeredBody{User: userBody{ID: reg.User.ID}, Passkey: newPasskeyBody(reg.Passkey)}
	if reg.Tokens != nil {
		t := apigw.NewTokenBody(*reg.Tokens)
		out.TokenBody = &t
	}
	return apigw.Tokens(http.StatusCreated, out), nil
}

// loginBegin starts a discoverable sign-in, the same for every caller (an email member is
// accepted and ignored), or with a Bearer token the re-authentication of its holder.
func (h *handler) loginBegin(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	if hasBearer(req) {
		claims, err := h.bearer(ctx, req)
		if err != nil {
			return apigw.Response{}, err
		}
		start, err := h.rp.BeginReauthentication(ctx, claims, apigw.Client(req))
		if err != nil {
			return apigw.Response{}, err
		}
		return apigw.JSON(http.StatusOK, beginBody{start.ChallengeID, start.Options}), nil
	}
	var body struct {
		Email string `json:"email"` // accepted for older clients, and ignored
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	start, err := h.rp.BeginLogin(ctx, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, beginBody{start.ChallengeID, start.Options}), nil
}

// loginFinish verifies an assertion and answers the token response: a new session, or with a
// Bearer token the same session re-authenticated. A body that does not even decode is a failed
// sign-in like any other: the same 401.
func (h *handler) loginFinish(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var claims *core.AccessClaims
	if hasBearer(req) {
		c, err := h.bearer(ctx, req)
		if err != nil {
			return apigw.Response{}, err
		}
		claims = &c
	}
	var body finishBody
	if err := apigw.DecodeJSON(req, &body); err != nil && core.Is(err, core.KindTooLarge) {
		return apigw.Response{}, err
	}
	tr, err := h.rp.FinishLogin(ctx, passkey.LoginFinish{ChallengeID: body.ChallengeID, Credential: body.Credential, Claims: claims, Client: apigw.Client(req)})
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.Tokens(http.StatusOK, apigw.NewTokenBody(tr)), nil
}

// bearer verifies the request's access token.
func (h *handler) bearer(ctx context.Context, req *apigw.Request) (core.AccessClaims, error) {
	return apigw.Account(ctx, req, h.verifier)
}

// hasBearer reports whether the request carries an Authorization header at all; one that is
// there must then be a good Bearer token.
func hasBearer(req *apigw.Request) bool { return apigw.Header(req, "authorization") != "" }

// signalBody is the argument of PublicKeyCredential.signalAllAcceptedCredentials: the user id
// is the WebAuthn user handle, base64url, as the ids are.
type signalBody struct {
	RPID                     string   `json:"rpId"`
	UserID                   string   `json:"userId"`
	AllAcceptedCredentialIDs []string `json:"allAcceptedCredentialIds"`
}

type userBody struct {
	ID string `json:"id"`
}

// registeredBody is register/finish's answer; the token fields are there on sign-up only.
type registeredBody struct {
	User    userBody    `json:"user"`
	Passkey passkeyBody `json:"passkey"`
	*apigw.TokenBody
}

// passkeyBody is one passkey as the API shows it. backedUp is the BS flag of its last use:
// whether the passkey is synced.
type passkeyBody struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastUsedAt     *time.Time `json:"lastUsedAt"`
	AAGUID         string     `json:"aaguid"`
	BackedUp       bool       `json:"backedUp"`
	BackupEligible bool       `json:"backupEligible"`
	Transports     []string   `json:"transports"`
}

func newPasskeyBody(p core.Passkey) passkeyBody {
	b := passkeyBody{
		ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt.UTC(), AAGUID: passkey.AAGUIDString(p.AAGUID),
		BackedUp: p.BackupState, BackupEligible: p.BackupEligible, Transports: p.Transports,
	}
	if b.Transports == nil {
		b.Transports = []string{}
	}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt.UTC()
		b.LastUsedAt = &t
	}
	return b
}
