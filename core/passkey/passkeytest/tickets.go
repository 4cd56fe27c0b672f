package passkeytest

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// The keys NewRelyingParty checks sign-up and recovery tickets with, derived from
// coretest.HMACKey as the functions derive them from their secret.
var (
	SignUpKey   = core.DeriveKey(coretest.HMACKey, core.KeySignUpTicket)
	RecoveryKey = core.DeriveKey(coretest.HMACKey, core.KeyRecoveryTicket)
)

// flowWriter is what SignUpTicket needs of a store: the email flows' writes.
type flowWriter interface {
	PutFlow(ctx context.Context, f core.EmailFlow, now time.Time) error
	VerifySignUp(ctx context.Context, id string, ticketHash []byte, expiresAt, now time.Time) error
}

// SignUpTicket stores a verified sign-up flow for email (normalized), as package recovery
// leaves one after a right code, with its ticket hashed under key (SignUpKey for
// NewRelyingParty), and returns the ticket, the signupToken a client would hold.
func SignUpTicket(t testing.TB, store flowWriter, key []byte, email string, now time.Time) string {
	t.Helper()
	ctx := context.Background()
	email, err := core.NormalizeEmail(email)
	if err != nil {
		t.Fatal(err)
	}
	f := core.EmailFlow{ID: core.NewID(), Purpose: core.FlowSignUp, Email: email, CodeHash: make([]byte, 32), TriesLeft: 5,
		CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := store.PutFlow(ctx, f, now); err != nil {
		t.Fatalf("PutFlow: %v", err)
	}
	ticket := core.NewTicket(f.ID)
	if err := store.VerifySignUp(ctx, f.ID, ticket.Hash(key), now.Add(15*time.Minute), now); err != nil {
		t.Fatalf("VerifySignUp: %v", err)
	}
	return ticket.String()
}

// recoveryStarter is what RecoveryTicket needs of a store.
type recoveryStarter interface {
	StartRecovery(ctx context.Context, r core.PendingRecovery, flowID string, now time.Time) error
}

// RecoveryTicket stores a pending recovery of account uid that becomes available at
// availableAt, with its ticket hashed under key (RecoveryKey for NewRelyingParty), and
// returns the ticket, the recoveryToken a client would hold.
func RecoveryTicket(t testing.TB, store recoveryStarter, key []byte, uid string, now, availableAt time.Time) string {
	t.Helper()
	ticket := core.NewTicket(uid)
	r := core.PendingRecovery{UserID: uid, Method: "email", StartedAt: now, AvailableAt: availableAt,
		ExpiresAt: availableAt.Add(24 * time.Hour), TicketHash: ticket.Hash(key), CancelHash: make([]byte, 32)}
	if err := store.StartRecovery(context.Background(), r, "", now); err != nil {
		t.Fatalf("StartRecovery: %v", err)
	}
	return ticket.String()
}
