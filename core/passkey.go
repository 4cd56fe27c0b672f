package core

import (
	"context"
	"errors"
	"time"
)

// Passkey is a WebAuthn credential record (WebAuthn §4, "credential record") registered to one
// user. Its ID is the credential id, base64url without padding; it belongs to exactly one user
// for ever.
type Passkey struct {
	ID                string
	UserID            string
	Name              string
	PublicKey         []byte // the COSE_Key from the attested credential data
	SignCount         uint32
	AAGUID            []byte // 16 bytes; all zero when the authenticator does not say
	Transports        []string
	AttestationFormat string
	AttestationType   string
	UserVerified      bool // uvInitialized: the user was verified when it was created or since
	BackupEligible    bool // BE: it may be synced; fixed for the life of the credential
	BackupState       bool // BS: it is synced (backed up), as of its last use
	CreatedAt         time.Time
	LastUsedAt        time.Time // zero until the first sign-in
}

// PasskeyUse is what a successful sign-in changes on a passkey (WebAuthn §7.2 steps 21–23).
type PasskeyUse struct {
	SignCount    uint32
	BackupState  bool
	UserVerified bool
	At           time.Time
}

// MaxPasskeys is how many passkeys one account may hold.
const MaxPasskeys = 20

// Causes the stores put under KindConflict, so that the use case can tell the client which
// uniqueness or state rule failed.
var (
	ErrPasskeyTaken     = errors.New("the credential id is registered already")
	ErrEmailTaken       = errors.New("the email belongs to another account")
	ErrLastPasskey      = errors.New("the passkey is the account's last one")
	ErrTooManyPasskeys  = errors.New("the account holds the most passkeys allowed")
	ErrCounterRegressed = errors.New("the signature counter did not advance")
)

// CredentialStore keeps passkeys. Every write that depends on an account's passkeys is one
// conditional write or transaction, never a read followed by a write.
type CredentialStore interface {
	// AddPasskey stores p for the existing user p.UserID and counts it on that user, in one
	// transaction. KindConflict wrapping ErrPasskeyTaken if any user holds a credential with
	// p.ID, wrapping ErrTooManyPasskeys if the user holds MaxPasskeys; KindNotFound if the user
	// does not exist. Nothing is written on error.
	AddPasskey(ctx context.Context, p Passkey) error
	// GetPasskey returns credential id with a strongly consistent read; KindNotFound if absent.
	GetPasskey(ctx context.Context, id string) (Passkey, error)
	// UserPasskeys lists the passkeys of user uid, oldest first, at most MaxPasskeys of them.
	// The listing comes from an index and may lag a write by a moment.
	UserPasskeys(ctx context.Context, uid string) ([]Passkey, error)
	// RecordUse applies a successful sign-in to credential id of user uid in one conditional
	// write that never lowers the signature counter: it succeeds only if u.SignCount is above
	// the stored count, or both are zero (an authenticator without a counter). KindConflict
	// wrapping ErrCounterRegressed otherwise; KindNotFound if the credential is absent or not
	// uid's.
	RecordUse(ctx context.Context, id, uid string, u PasskeyUse) error
	// RenamePasskey sets the name of credential id of user uid and returns the passkey;
	// KindNotFound if it is absent or not uid's.
	RenamePasskey(ctx context.Context, uid, id, name string) (Passkey, error)
	// DeletePasskey removes credential id of user uid, in one transaction with the user's
	// passkey count, unless it is the user's last passkey: KindConflict wrapping ErrLastPasskey
	// then, however many deletes race. KindNotFound if it is absent or not uid's.
	DeletePasskey(ctx context.Context, uid, id string) error
}

// AccountStore creates passkey accounts and finds them by email.
type AccountStore interface {
	// CreateAccount stores user u, the sentinel reserving u.Email when it is set, and the
	// user's first passkey p, all in one transaction: KindConflict wrapping ErrEmailTaken or
	// ErrPasskeyTaken (or plain KindConflict if the user id is taken), and nothing written.
	CreateAccount(ctx context.Context, u User, p Passkey) error
	// UserIDByEmail returns the id of the user holding the normalized email, with a strongly
	// consistent read; KindNotFound if no account has it.
	UserIDByEmail(ctx context.Context, email string) (string, error)
}
