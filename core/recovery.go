package core

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"time"
)

// FlowPurpose is what an email flow proves the control of an address for.
type FlowPurpose uint8

// The purposes of an email flow.
const (
	FlowSignUp   FlowPurpose = iota + 1 // a new account with a verified email
	FlowRecovery                        // a way back into the account holding the address
)

func (p FlowPurpose) String() string {
	switch p {
	case FlowSignUp:
		return "signup"
	case FlowRecovery:
		return "recovery"
	}
	return "unknown"
}

// EmailFlow is one email verification: a code sent to an address, bound to a flow id that
// only the client that asked holds. The code is kept only as a keyed hash. Every verification
// attempt spends one of TriesLeft first, in one conditional write, so parallel guesses never
// get more tries than there are. A verified sign-up flow holds the keyed hash of the
// single-use signup ticket it was exchanged for, until the account is created.
type EmailFlow struct {
	ID         string
	Purpose    FlowPurpose
	Email      string // normalized
	UserID     string // the account a recovery flow is for; "" for sign-up, and for an unknown address
	CodeHash   []byte
	TriesLeft  int
	Verified   bool
	TicketHash []byte // set once verified
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// PendingRecovery is an account's recovery in progress: the holder of its ticket may enrol one
// new passkey for the account from AvailableAt until ExpiresAt. An email recovery becomes
// available only after the configured delay, during which the owner can cancel it (signed in,
// or with the cancel code mailed at once); a recovery code's recovery is available at once.
// An account has at most one pending recovery: a new one replaces it.
type PendingRecovery struct {
	UserID      string
	Method      string // "email" or "code"
	StartedAt   time.Time
	AvailableAt time.Time
	ExpiresAt   time.Time
	TicketHash  []byte
	CancelHash  []byte
}

// Ticket is a single-use bearer string naming one stored thing (a flow, an account) and a
// secret whose keyed hash the stored thing keeps: signup tickets, recovery tickets and cancel
// codes. Its text is "<id>.<secret>", the secret 256 random bits in base64url.
type Ticket struct {
	ID     string
	Secret string
}

// String is the ticket's text, as handed to the client. Never log it.
func (t Ticket) String() string { return t.ID + "." + t.Secret }

// LogValue keeps the secret out of logs.
func (t Ticket) LogValue() slog.Value { return slog.StringValue(t.ID) }

// NewTicket returns a fresh ticket for the stored thing id.
func NewTicket(id string) Ticket {
	return Ticket{ID: id, Secret: NewSecret()}
}

// ParseTicket splits the text of a ticket; KindInvalid unless it has the shape NewTicket
// makes (an id as IsID checks, a 43-character base64url secret).
func ParseTicket(op Op, field, s string) (Ticket, error) {
	id, secret, ok := strings.Cut(s, ".")
	if !ok || !IsID(id) || !IsSecret(secret) {
		return Ticket{}, E(op, KindInvalid, field+" is not valid", nil)
	}
	return Ticket{ID: id, Secret: secret}, nil
}

// Hash is the keyed hash a store keeps of t, under key (derived for one kind of ticket with
// DeriveKey, so that a ticket of one kind never matches another's hash). It covers the secret
// only: the id merely says where the hash is kept, and a ticket with another id finds another
// hash there.
func (t Ticket) Hash(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(t.Secret))
	return m.Sum(nil)
}

// HashMatches reports in constant time whether t's keyed hash under key is want.
func (t Ticket) HashMatches(key, want []byte) bool {
	return len(want) == sha256.Size && hmac.Equal(t.Hash(key), want)
}

// The labels of the keys derived from the HMAC secret for each kind of ticket and code. The
// email function issues and the passkeys function redeems, so both derive them here.
const (
	KeySignUpTicket   = "latchkey signup ticket v1"
	KeyRecoveryTicket = "latchkey recovery ticket v1"
	KeyRecoveryCancel = "latchkey recovery cancel v1"
	KeyEmailCode      = "latchkey email code v1"
	KeyRecoveryCode   = "latchkey recovery code v1"
)

// ErrTicketSpent is the cause of a store's refusal to redeem a ticket that was used already,
// cancelled, or has expired.
var ErrTicketSpent = errors.New("the ticket was used already, cancelled, or has expired")

// Redemption is the spending of a ticket in the write it authorizes: the stored thing ID
// (a sign-up flow, or the account whose pending recovery it is), the keyed hash its ticket
// must have, and the time the redemption is judged at. The zero Redemption redeems nothing.
type Redemption struct {
	ID         string
	TicketHash []byte
	At         time.Time
}

// MaxRecoveryCodesPerSet is the most codes one set may have: a store writes a set in one
// transaction of at most 100 items, one of which is the user.
const MaxRecoveryCodesPerSet = 99

// CheckRecoveryCodeSet refuses what no store can write as one set of recovery codes: an
// unnamed set, more than MaxRecoveryCodesPerSet codes, an empty hash or one hash twice (a
// transaction touches an item once). Each is a bug of the caller, so the error has no kind;
// the stores wrap it as internal.
func CheckRecoveryCodeSet(set string, hashes [][]byte) error {
	if set == "" {
		return errors.New("a recovery code set needs a name")
	}
	if len(hashes) > MaxRecoveryCodesPerSet {
		return errors.New("too many recovery codes in one set")
	}
	seen := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		if len(h) == 0 || seen[string(h)] {
			return errors.New("a recovery code hash is empty or repeated")
		}
		seen[string(h)] = true
	}
	return nil
}
