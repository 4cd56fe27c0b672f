package core

import "time"

// Ceremony says which WebAuthn ceremony a challenge belongs to. A challenge issued for one
// ceremony never completes the other (docs/security.md, passkeys).
type Ceremony uint8

// The two ceremonies.
const (
	CeremonyRegister Ceremony = iota + 1
	CeremonyLogin
)

func (c Ceremony) String() string {
	switch c {
	case CeremonyRegister:
		return "register"
	case CeremonyLogin:
		return "login"
	}
	return "unknown"
}

// Challenge is the server-side half of a WebAuthn ceremony. State is opaque to the store: the
// passkeys use case owns its encoding.
type Challenge struct {
	ID        string
	Ceremony  Ceremony
	UserID    string // the user the ceremony is for, "" for discoverable login
	State     []byte
	ExpiresAt time.Time
}
