package recovery

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// The ports the recovery desk consumes. Package dynamo implements the storage ports on the
// single table, structurally (it never imports this package); coretest.Memory implements
// them in memory. The contract suites in recoverytest run against both.

// FlowStore keeps email flows. A flow's tries are spent by a conditional write before its
// code is compared, so no number of parallel guesses gets more tries than the flow has.
type FlowStore interface {
	// PutFlow stores f unless a live flow has its id: KindConflict then. KindUnavailable if
	// the store cannot be reached.
	PutFlow(ctx context.Context, f core.EmailFlow, now time.Time) error
	// SpendTry takes one try of flow id in one conditional write, which succeeds only if the
	// flow is live at now, not verified and has a try left, and returns the flow as it is
	// after the write (TriesLeft one lower). KindNotFound otherwise: absent, expired,
	// verified or out of tries. KindUnavailable if the store cannot be reached.
	SpendTry(ctx context.Context, id string, now time.Time) (core.EmailFlow, error)
	// VerifySignUp marks sign-up flow id verified, keeping ticketHash and the new expiry
	// expiresAt, in one conditional write that succeeds only if the flow is live at now and
	// not verified; KindNotFound otherwise. KindUnavailable if the store cannot be reached.
	VerifySignUp(ctx context.Context, id string, ticketHash []byte, expiresAt, now time.Time) error
}

// RecoveryStore keeps the pending recoveries, at most one per account.
type RecoveryStore interface {
	// StartRecovery makes r the pending recovery of r.UserID, replacing any, and when flowID
	// is set consumes that email flow (deleted, on condition that it is live at now and not
	// verified), in one transaction: KindNotFound and nothing written if the flow is no
	// longer live. KindUnavailable if the store cannot be reached.
	StartRecovery(ctx context.Context, r core.PendingRecovery, flowID string, now time.Time) error
	// GetRecovery returns the pending recovery of uid with a strongly consistent read;
	// KindNotFound if there is none live at now (ExpiresAt after now). KindUnavailable if the
	// store cannot be reached.
	GetRecovery(ctx context.Context, uid string, now time.Time) (core.PendingRecovery, error)
	// CancelRecovery deletes the pending recovery of uid in one conditional write: when
	// cancelHash is nil if it is live at now, otherwise only if it is live and its CancelHash
	// equals cancelHash. KindNotFound if there is no such recovery. KindUnavailable if the
	// store cannot be reached.
	CancelRecovery(ctx context.Context, uid string, cancelHash []byte, now time.Time) error
}

// CodeStore keeps recovery codes, looked up by their keyed hash.
type CodeStore interface {
	// ReplaceRecoveryCodes makes hashes the recovery codes of user uid, as the set named set,
	// in one transaction: the user's RecoveryCodeSet becomes set and RecoveryCodesLeft
	// len(hashes), and each code is stored naming uid and set. Codes of an earlier set are
	// dead at once (a spend checks the set) and are deleted afterwards, best effort.
	// KindNotFound if the user does not exist; KindUnavailable if the store cannot be reached.
	ReplaceRecoveryCodes(ctx context.Context, uid, set string, hashes [][]byte) error
	// SpendRecoveryCode spends the recovery code whose keyed hash is hash and starts the
	// recovery r of the code's account, in one transaction: the code is deleted and the
	// user's RecoveryCodesLeft lowered by one, on condition that the code's set is still the
	// user's, and r, with UserID set to the code's account, replaces any pending recovery.
	// It returns r as stored. KindNotFound if no code of a live set has that hash (absent,
	// spent, or replaced); KindUnavailable if the store cannot be reached.
	SpendRecoveryCode(ctx context.Context, hash []byte, r core.PendingRecovery) (core.PendingRecovery, error)
}

// Accounts reads the accounts an email flow or a recovery is about.
type Accounts interface {
	// UserIDByEmail returns the id of the user holding the normalized email, with a strongly
	// consistent read; KindNotFound if no account has it, KindUnavailable if the store cannot
	// be reached.
	UserIDByEmail(ctx context.Context, email string) (string, error)
	// GetUser returns user id with a strongly consistent read; KindNotFound if absent,
	// KindUnavailable if the store cannot be reached.
	GetUser(ctx context.Context, id string) (core.User, error)
}

// Mailer sends one email; core/mail wraps Amazon SES v2.
type Mailer interface {
	// Send hands m to the mail service. KindUnavailable if it cannot be reached or throttles;
	// KindInternal if it refuses the message (an unverified sender, say).
	Send(ctx context.Context, m core.Message) error
}
