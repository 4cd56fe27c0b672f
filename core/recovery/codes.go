package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/message"
)

// A recovery code is 16 characters of Crockford's base32 (80 bits from the CSPRNG), shown in
// four groups of four: readable aloud, and typed back with any case, spaces or dashes, and
// the letters Crockford's alphabet folds (O for 0, I and L for 1).
const (
	codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	codeLength   = 16
)

// newRecoveryCode returns a fresh recovery code in its normalized form.
func newRecoveryCode() string {
	var b [codeLength]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	out := make([]byte, codeLength)
	for i, v := range b {
		out[i] = codeAlphabet[v&31] // 256 is a multiple of 32: uniform
	}
	return string(out)
}

// groupCode shows a normalized code as XXXX-XXXX-XXXX-XXXX.
func groupCode(c string) string {
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
}

// normalizeRecoveryCode returns the normalized form of a typed recovery code, and false if it
// cannot be one.
func normalizeRecoveryCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > 127 || !strings.ContainsRune(codeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
		if b.Len() > codeLength {
			return "", false
		}
	}
	if b.Len() != codeLength {
		return "", false
	}
	return b.String(), true
}

// recoveryCodeHash is the keyed hash a recovery code is stored and looked up by.
func (d *Desk) recoveryCodeHash(code string) []byte {
	m := hmac.New(sha256.New, d.key(core.KeyRecoveryCode))
	m.Write([]byte(code))
	return m.Sum(nil)
}

// NewRecoveryCodes replaces the recovery codes of the holder of c with RecoveryCodes fresh
// ones and returns them, grouped for reading; they are shown this once and stored only as
// keyed hashes. A change of how the account is protected: the caller must have authenticated
// within ReauthMaxAge (KindReauthenticate otherwise).
func (d *Desk) NewRecoveryCodes(ctx context.Context, c core.AccessClaims, client core.Client) ([]string, error) {
	now := d.Now()
	if err := core.RequireRecent(c, now, d.ReauthMaxAge); err != nil {
		d.audit(ctx, "recovery_codes.refused", "sub", c.Subject, "sid", c.SessionID, "reason", "reauthentication_required", "ip", client.IP)
		return nil, err
	}
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		code := newRecoveryCode()
		codes[i], hashes[i] = groupCode(code), d.recoveryCodeHash(code)
	}
	if err := d.Codes.ReplaceRecoveryCodes(ctx, c.Subject, core.NewID(), hashes); err != nil {
		if core.Is(err, core.KindNotFound) {
			return nil, core.E("recovery.Desk.NewRecoveryCodes", core.KindUnauthenticated, "invalid access token", err)
		}
		return nil, err
	}
	d.audit(ctx, "recovery_codes.generated", "sub", c.Subject, "sid", c.SessionID, "count", len(codes), "ip", client.IP)
	return codes, nil
}

// VerifyRecoveryCode spends a recovery code and starts the recovery of the account it names,
// available at once (docs/api.md, recovery/codes/verify). Every failure is the same
// invalid_code: a code that cannot be one is refused before any read. The owner is told by
// email, with a cancel code, when the account has an address.
func (d *Desk) VerifyRecoveryCode(ctx context.Context, code string, client core.Client) (Verified, error) {
	const op core.Op = "recovery.Desk.VerifyRecoveryCode"
	now := d.Now()
	wrong := func(cause error) error {
		return problem(op, core.KindInvalid, "invalid_code", "the recovery code is not valid", cause)
	}
	normalized, ok := normalizeRecoveryCode(code)
	if !ok {
		return Verified{}, wrong(nil)
	}
	if err := d.Limiter.Allow(ctx, d.CodeByIP, client.IP, now); err != nil {
		return Verified{}, err
	}
	secret, cancel := core.NewTicket(""), core.NewTicket("")
	// Available at once: the whole second it started in, as the store keeps it.
	at := now.Truncate(time.Second)
	rec, err := d.Codes.SpendRecoveryCode(ctx, d.recoveryCodeHash(normalized), core.PendingRecovery{
		Method: "code", StartedAt: now, AvailableAt: at, ExpiresAt: now.Add(CodeRecoveryWindow),
		TicketHash: secret.Hash(d.key(core.KeyRecoveryTicket)), CancelHash: cancel.Hash(d.key(core.KeyRecoveryCancel)),
	})
	if core.Is(err, core.KindNotFound) {
		d.audit(ctx, "recovery.code_refused", "ip", client.IP)
		return Verified{}, wrong(err)
	}
	if err != nil {
		return Verified{}, err
	}
	ticket := core.Ticket{ID: rec.UserID, Secret: secret.Secret}
	cancel.ID = rec.UserID
	d.audit(ctx, "recovery.started", "method", "code", "sub", rec.UserID, "ip", client.IP)
	d.notify(ctx, rec.UserID, message.RecoveryStarted, message.Data{Method: "code", AvailableAt: at, CancelCode: cancel.String()})
	return Verified{RecoveryTicket: ticket.String(), AvailableAt: at}, nil
}

// notify emails the owner of account uid, if it has an address, best effort: the change it
// reports has happened, and a failure to tell is audited.
func (d *Desk) notify(ctx context.Context, uid, kind string, data message.Data) {
	u, err := d.Accounts.GetUser(ctx, uid)
	if err == nil && u.Email != "" {
		err = d.send(ctx, kind, u.Email, data)
	}
	if err != nil {
		d.audit(ctx, "email.send_failed", "message", kind, "sub", uid, "err", err.Error())
	}
}

// Cancel ends a pending recovery with the cancel code its start mailed to the owner (docs/api.md,
// recovery/cancel). A code that is not the pending recovery's answers invalid_code.
func (d *Desk) Cancel(ctx context.Context, cancelCode string, client core.Client) error {
	const op core.Op = "recovery.Desk.Cancel"
	now := d.Now()
	wrong := func(cause error) error {
		return problem(op, core.KindInvalid, "invalid_code", "the cancel code is not valid, or the recovery has ended", cause)
	}
	t, err := core.ParseTicket(op, "cancelCode", strings.TrimSpace(cancelCode))
	if err != nil {
		return wrong(nil)
	}
	if err := d.Limiter.Allow(ctx, d.CodeByIP, client.IP, now); err != nil {
		return err
	}
	err = d.Recoveries.CancelRecovery(ctx, t.ID, t.Hash(d.key(core.KeyRecoveryCancel)), now)
	if core.Is(err, core.KindNotFound) {
		return wrong(err)
	}
	if err != nil {
		return err
	}
	d.audit(ctx, "recovery.cancelled", "sub", t.ID, "by", "cancel_code", "ip", client.IP)
	d.notify(ctx, t.ID, message.RecoveryCancelled, message.Data{})
	return nil
}

// Pending is the holder of c's pending recovery, or nil when there is none.
func (d *Desk) Pending(ctx context.Context, c core.AccessClaims) (*core.PendingRecovery, error) {
	r, err := d.Recoveries.GetRecovery(ctx, c.Subject, d.Now())
	if core.Is(err, core.KindNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CancelOwn ends the pending recovery of the holder of c, if there is one. Any session may:
// cancelling only takes a way in away.
func (d *Desk) CancelOwn(ctx context.Context, c core.AccessClaims, client core.Client) error {
	err := d.Recoveries.CancelRecovery(ctx, c.Subject, nil, d.Now())
	if core.Is(err, core.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	d.audit(ctx, "recovery.cancelled", "sub", c.Subject, "sid", c.SessionID, "by", "owner", "ip", client.IP)
	return nil
}
