package core

import (
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
