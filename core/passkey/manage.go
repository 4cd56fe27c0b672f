package passkey

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
)

// Account is who the holder of an access token is, as GET /v1/me shows it.
type Account struct {
	ID          string
	Email       string // normalized; "" when the account has none
	DisplayName string
	CreatedAt   time.Time
	// EmailVerified says the owner proved control of Email with a code (sign-up with a
	// signupToken).
	EmailVerified     bool
	PasskeyCount      int
	RecoveryCodesLeft int
}

// Me returns the caller's account and how many passkeys it holds, read concurrently. An
// account that is gone answers KindUnauthenticated, like the token of any ended session.
func (rp *RelyingParty) Me(ctx context.Context, c core.AccessClaims) (Account, error) {
	const op = "passkey.RelyingParty.Me"
	var (
		user             core.User
		list             []core.Passkey
		userErr, listErr error
	)
	parallel.Do(
		func() { user, userErr = rp.Accounts.GetUser(ctx, c.Subject) },
		func() { list, listErr = rp.Credentials.UserPasskeys(ctx, c.Subject) },
	)
	if core.Is(userErr, core.KindNotFound) {
		return Account{}, core.E(op, core.KindUnauthenticated, "invalid access token", userErr)
	}
	if err := parallel.First(userErr, listErr); err != nil {
		return Account{}, err
	}
	return Account{
		ID: user.ID, Email: user.Email, EmailVerified: user.EmailVerified, DisplayName: user.DisplayName,
		CreatedAt: user.CreatedAt, PasskeyCount: len(list), RecoveryCodesLeft: user.RecoveryCodesLeft,
	}, nil
}

// ListPasskeys returns the caller's passkeys, oldest first.
func (rp *RelyingParty) ListPasskeys(ctx context.Context, c core.AccessClaims) ([]core.Passkey, error) {
	return rp.Credentials.UserPasskeys(ctx, c.Subject)
}

// RenamePasskey renames one of the caller's passkeys. Another user's passkey answers
// KindNotFound, exactly like one that does not exist.
func (rp *RelyingParty) RenamePasskey(ctx context.Context, c core.AccessClaims, id, name string) (core.Passkey, error) {
	const op = "passkey.RelyingParty.RenamePasskey"
	name, err := core.CleanLabel(op, "name", name, 64)
	if err != nil {
		return core.Passkey{}, err
	}
	if name == "" {
		return core.Passkey{}, core.E(op, core.KindInvalid, "name must not be empty", nil)
	}
	if !validCredentialID(id) {
		return core.Passkey{}, core.E(op, core.KindNotFound, "no such passkey", nil)
	}
	pk, err := rp.Credentials.RenamePasskey(ctx, c.Subject, id, name)
	if core.Is(err, core.KindNotFound) {
		return core.Passkey{}, core.E(op, core.KindNotFound, "no such passkey", err)
	}
	if err != nil {
		return core.Passkey{}, err
	}
	rp.audit(ctx, "passkey.renamed", "sub", c.Subject, "passkey", id, "sid", c.SessionID)
	return pk, nil
}

// DeletePasskey removes one of the caller's passkeys, unless it is the account's last:
// KindConflict then (docs/security.md, passkeys), decided atomically by the store. Another
// user's passkey answers KindNotFound. The caller must have authenticated within ReauthMaxAge
// (KindReauthenticate otherwise). The sessions that were opened with the passkey end with it,
// the caller's own included when it was opened with this one.
func (rp *RelyingParty) DeletePasskey(ctx context.Context, c core.AccessClaims, id string) error {
	const op = "passkey.RelyingParty.DeletePasskey"
	if err := core.RequireRecent(c, rp.Now(), rp.ReauthMaxAge); err != nil {
		rp.audit(ctx, "passkey.delete_refused", "sub", c.Subject, "passkey", id, "reason", "reauthentication_required", "sid", c.SessionID)
		return err
	}
	if !validCredentialID(id) {
		return core.E(op, core.KindNotFound, "no such passkey", nil)
	}
	err := rp.Credentials.DeletePasskey(ctx, c.Subject, id)
	switch {
	case errors.Is(err, core.ErrLastPasskey):
		rp.audit(ctx, "passkey.delete_refused", "sub", c.Subject, "passkey", id, "reason", "last_passkey", "sid", c.SessionID)
		return core.E(op, core.KindConflict, "this is the account's last passkey; add another before deleting it", err)
	case core.Is(err, core.KindNotFound):
		return core.E(op, core.KindNotFound, "no such passkey", err)
	case err != nil:
		return err
	}
	rp.audit(ctx, "passkey.deleted", "sub", c.Subject, "passkey", id, "sid", c.SessionID)
	if err := rp.Sessions.EndOpenedWith(context.WithoutCancel(ctx), c.Subject, id); err != nil {
		rp.Audit.ErrorContext(ctx, "passkey deleted but the sessions opened with it could not all be ended",
			"audit", true, "sub", c.Subject, "passkey", id, "err", err)
		return core.Wrap(op, err)
	}
	return nil
}
