// Package recoverytest holds the contract suites of the recovery desk's storage ports
// (recovery.FlowStore, recovery.RecoveryStore, recovery.CodeStore) and of the ticket reads of
// passkey.TicketStore. They run against coretest.Memory here and against DynamoDB Local in
// package dynamo, so the fake cannot drift from the real store.
package recoverytest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/recovery"
)

var (
	_ recovery.FlowStore     = (*coretest.Memory)(nil)
	_ recovery.RecoveryStore = (*coretest.Memory)(nil)
	_ recovery.CodeStore     = (*coretest.Memory)(nil)
	_ recovery.Accounts      = (*coretest.Memory)(nil)
)

// Racers is how many goroutines race for one flow, recovery or code.
const Racers = 20

// Hash returns 32 random bytes, the size of the keyed hashes the stores keep.
func Hash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// NewFlow returns an unverified email flow of purpose with a fresh id and code hash, created
// at created (with a fraction of a second, which the stores drop) and open for 15 minutes and
// tries tries. A recovery flow names a fresh user id.
func NewFlow(t *testing.T, purpose core.FlowPurpose, created time.Time, tries int) core.EmailFlow {
	t.Helper()
	id := coretest.RandomID(t)
	f := core.EmailFlow{
		ID: id, Purpose: purpose, Email: id + "@example.com", CodeHash: Hash(t), TriesLeft: tries,
		CreatedAt: created.Add(300 * time.Millisecond), ExpiresAt: created.Add(15*time.Minute + 700*time.Millisecond),
	}
	if purpose == core.FlowRecovery {
		f.UserID = coretest.RandomID(t)
	}
	return f
}

// NewRecovery returns a pending email recovery of user uid started at started (with a fraction
// of a second), available an hour later and open for a day, with fresh ticket and cancel
// hashes.
func NewRecovery(t *testing.T, uid string, started time.Time) core.PendingRecovery {
	t.Helper()
	started = started.Add(400 * time.Millisecond)
	return core.PendingRecovery{
		UserID: uid, Method: "email", StartedAt: started, AvailableAt: started.Add(time.Hour),
		ExpiresAt: started.Add(24 * time.Hour), TicketHash: Hash(t), CancelHash: Hash(t),
	}
}

// StoredFlow is f as the stores keep it: times to the second.
func StoredFlow(f core.EmailFlow) core.EmailFlow {
	f.CreatedAt, f.ExpiresAt = coretest.Second(f.CreatedAt), coretest.Second(f.ExpiresAt)
	return f
}

// StoredRecovery is r as the stores keep it: times to the second.
func StoredRecovery(r core.PendingRecovery) core.PendingRecovery {
	r.StartedAt, r.AvailableAt, r.ExpiresAt = coretest.Second(r.StartedAt), coretest.Second(r.AvailableAt), coretest.Second(r.ExpiresAt)
	return r
}

// SameFlow fails the test unless got and want agree on every field.
func SameFlow(t *testing.T, got, want core.EmailFlow) {
	t.Helper()
	if got.ID != want.ID || got.Purpose != want.Purpose || got.Email != want.Email || got.UserID != want.UserID ||
		!bytes.Equal(got.CodeHash, want.CodeHash) || got.TriesLeft != want.TriesLeft || got.Verified != want.Verified ||
		!bytes.Equal(got.TicketHash, want.TicketHash) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("got flow\n%+v\nwant\n%+v", got, want)
	}
}

// SameRecovery fails the test unless got and want agree on every field.
func SameRecovery(t *testing.T, got, want core.PendingRecovery) {
	t.Helper()
	if got.UserID != want.UserID || got.Method != want.Method || !got.StartedAt.Equal(want.StartedAt) ||
		!got.AvailableAt.Equal(want.AvailableAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		!bytes.Equal(got.TicketHash, want.TicketHash) || !bytes.Equal(got.CancelHash, want.CancelHash) {
		t.Fatalf("got recovery\n%+v\nwant\n%+v", got, want)
	}
}
