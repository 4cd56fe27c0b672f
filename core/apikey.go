package core

import (
	"errors"
	"time"
)

// APIKey is a long-lived credential a user makes for scripts and services: a bearer string
// shown once at creation and stored only as its SHA-256 (Hash), so a copy of the table yields
// no usable key. The key's own 256 random bits make a slow hash pointless. Prefix and Last4
// are enough of the key for its owner to recognise it in a listing, and nothing to use.
type APIKey struct {
	ID            string // core.NewID: how the owner names the key (listing, delete)
	UserID        string // the owner
	Name          string
	Scopes        []string // a subset of the scopes users hold, sorted
	Hash          []byte   // SHA-256 of the whole key: the lookup key
	Prefix        string   // "lk_<env>_" and the first 4 random characters
	Last4         string   // the key's last 4 characters
	CreatedAt     time.Time
	ExpiresAt     time.Time // zero: never expires
	LastUsedAt    time.Time // zero until first used; written at most once a minute
	OwnerDisabled bool      // the owner's account is disabled: the key is refused
}

// Live reports whether k can be used at now: not expired and its owner not disabled.
func (k APIKey) Live(now time.Time) bool {
	return !k.OwnerDisabled && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt))
}

// Causes the stores put under KindConflict when they refuse a new API key.
var (
	ErrTooManyAPIKeys = errors.New("the account holds the most API keys allowed")
	ErrOwnerDisabled  = errors.New("the account is disabled")
)
