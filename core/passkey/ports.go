package passkey

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/core"
)

// The ports the relying party consumes. Package dynamo implements the storage ports on the
// single table, structurally; coretest.Memory implements them in memory. The contract suites
// in passkeytest run against both.

// CredentialStore keeps passkeys. Every write that depends on an account's passkeys is one
// conditional write or transaction, never a read followed by a write.
type CredentialStore interface {
	// AddPasskey stores p for the existing user p.UserID and counts it on that user, in one
	// transaction. KindConflict wrapping core.ErrPasskeyTaken if any user holds a credential
	// with p.ID, wrapping core.ErrTooManyPasskeys if the user holds core.MaxPasskeys;
	// KindNotFound if the user does not exist; KindUnavailable if the store cannot be reached.
	// Nothing is written on error.
	AddPasskey(ctx context.Context, p core.Passkey) error
	// GetPasskey returns credential id with a strongly consistent read; KindNotFound if
	// absent, KindUnavailable if the store cannot be reached.
	GetPasskey(ctx context.Context, id string) (core.Passkey, error)
	// UserPasskeys lists the passkeys of user uid, oldest first, at most core.MaxPasskeys of
	// them; none is not an error. The listing comes from an index and may lag a write by a
	// moment. KindUnavailable if the store cannot be reached.
	UserPasskeys(ctx context.Context, uid string) ([]core.Passkey, error)
	// RecordUse applies a successful sign-in to credential id of user uid in one conditional
	// write that never lowers the signature counter: it succeeds only if u.SignCount is above
	// the stored count, or both are zero (an authenticator without a counter). KindConflict
	// wrapping core.ErrCounterRegressed otherwise; KindNotFound if the credential is absent or
	// not uid's; KindUnavailable if the store cannot be reached.
	RecordUse(ctx context.Context, id, uid string, u core.PasskeyUse) error
	// RenamePasskey sets the name of credential id of user uid and returns the passkey;
	// KindNotFound if it is absent or not uid's; KindUnavailable if the store cannot be
	// reached.
	RenamePasskey(ctx context.Context, uid, id, name string) (core.Passkey, error)
	// DeletePasskey removes credential id of user uid, in one transaction with the user's
	// passkey count, unless it is the user's last passkey: KindConflict wrapping
	// core.ErrLastPasskey then, however many deletes race. KindNotFound if it is absent or not
	// uid's; KindUnavailable if the store cannot be reached.
	DeletePasskey(ctx context.Context, uid, id string) error
	// AddRecoveredPasskey stores p for the existing user p.UserID as AddPasskey does and, in
	// the same transaction, redeems the user's pending recovery (r.ID is the user: its
	// TicketHash must be r.TicketHash, AvailableAt at or before r.At and ExpiresAt after it;
	// it is deleted) and ends every session of the user created at or before r.At except
	// session keep (SessionsEndedAt = r.At, KeptSessionID = keep). KindConflict wrapping
	// core.ErrTicketSpent if the recovery is not there so, wrapping core.ErrPasskeyTaken or
	// core.ErrTooManyPasskeys as AddPasskey; KindNotFound if the user does not exist;
	// KindUnavailable if the store cannot be reached. Nothing is written on error.
	AddRecoveredPasskey(ctx context.Context, p core.Passkey, r core.Redemption, keep string) error
}

// AccountStore creates passkey accounts, finds them by email and reads them.
type AccountStore interface {
	// CreateAccount stores user u, the sentinel reserving u.Email when it is set, and the
	// user's first passkey p, and redeems the verified sign-up flow signUp.ID unless signUp
	// is zero (deleted, on condition that it is verified, its TicketHash is
	// signUp.TicketHash and it is live at signUp.At), all in one transaction: KindConflict
	// wrapping core.ErrEmailTaken, core.ErrPasskeyTaken or core.ErrTicketSpent (or plain
	// KindConflict if the user id is taken), and nothing written; KindUnavailable if the
	// store cannot be reached.
	CreateAccount(ctx context.Context, u core.User, p core.Passkey, signUp core.Redemption) error
	// UserIDByEmail returns the id of the user holding the normalized email, with a strongly
	// consistent read; KindNotFound if no account has it, KindUnavailable if the store cannot
	// be reached.
	UserIDByEmail(ctx context.Context, email string) (string, error)
	// GetUser returns user id with a strongly consistent read; KindNotFound if absent,
	// KindUnavailable if the store cannot be reached.
	GetUser(ctx context.Context, id string) (core.User, error)
}

// TicketStore reads what a sign-up or recovery ticket names, for register/begin to check it
// before a ceremony starts; register/finish redeems it in the write that creates the passkey.
type TicketStore interface {
	// GetFlow returns email flow id with a strongly consistent read; KindNotFound if absent
	// or not live at now, KindUnavailable if the store cannot be reached.
	GetFlow(ctx context.Context, id string, now time.Time) (core.EmailFlow, error)
	// GetRecovery returns the pending recovery of uid with a strongly consistent read;
	// KindNotFound if there is none live at now, KindUnavailable if the store cannot be
	// reached.
	GetRecovery(ctx context.Context, uid string, now time.Time) (core.PendingRecovery, error)
}

// ChallengeStore keeps challenges server side until one ceremony consumes them.
type ChallengeStore interface {
	// PutChallenge stores c unless a live challenge already has its id (KindConflict). A
	// challenge with that id whose ExpiresAt has passed at now counts as absent and is
	// replaced. KindUnavailable if the store cannot be reached.
	PutChallenge(ctx context.Context, c core.Challenge, now time.Time) error
	// TakeChallenge removes and returns the challenge id in one atomic step, so at most one
	// caller ever gets it. A challenge that is absent, already taken or expired at now answers
	// KindNotFound; an expired one is not returned even though the table may still hold it.
	// KindUnavailable if the store cannot be reached.
	TakeChallenge(ctx context.Context, id string, now time.Time) (core.Challenge, error)
}

// Sessions opens the session a successful ceremony signs in to; *core.Sessions implements it.
type Sessions interface {
	// Start opens a new session for user r.UserID and issues its first tokens. KindUnavailable
	// if the store or the HSM cannot be reached; nothing of a session that failed to start is
	// left live.
	Start(ctx context.Context, r core.StartRequest) (core.TokenResponse, error)
	// Withdraw ends session sid, which Start just opened but whose tokens the caller is not
	// handing out (a check that ran beside Start failed). KindNotFound if there is no such
	// session; KindUnavailable if the store cannot be reached.
	Withdraw(ctx context.Context, sid string) error
	// Reauthenticate records a fresh authentication r of the holder of c on c's own session:
	// a new auth_time, rotated tokens. KindNotFound or KindUnauthenticated if that session
	// has ended or is another user's; KindUnavailable if the store or the HSM cannot be
	// reached, and then the session is unchanged.
	Reauthenticate(ctx context.Context, c core.AccessClaims, r core.StartRequest) (core.TokenResponse, error)
	// EndOpenedWith ends every live session of user uid that was opened with passkey id.
	// KindUnavailable if the store cannot be reached.
	EndOpenedWith(ctx context.Context, uid, passkeyID string) error
}

// Mailer sends one email; core/mail wraps Amazon SES v2.
type Mailer interface {
	// Send hands m to the mail service. KindUnavailable if it cannot be reached or throttles;
	// KindInternal if it refuses the message.
	Send(ctx context.Context, m core.Message) error
}
