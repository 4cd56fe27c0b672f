package coretest

import (
	"context"

	"github.com/latchkey/latchkey/core"
)

// UserSeeder creates a bare user, as the tests and the local dev-token tool need to. No use
// case does: accounts are born with their first passkey (passkey.AccountStore.CreateAccount),
// so this is not a port of core. Both stores implement it.
type UserSeeder interface {
	// CreateUser stores u and, when u.Email is set, its uniqueness sentinel in one
	// transaction; KindConflict if the id or the email is taken.
	CreateUser(ctx context.Context, u core.User) error
}

var _ UserSeeder = (*Memory)(nil)
