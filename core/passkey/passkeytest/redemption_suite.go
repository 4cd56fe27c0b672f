package passkeytest

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
	"github.com/latchkey/latchkey/core/passkey"
)

// RedemptionStore is what TestRedemptions needs: the passkey ports, the ticket reads, the
// writes of the email desk that make sign-up flows and recoveries to redeem (recovery.FlowStore
// and recovery.RecoveryStore, named here by method so that this package does not depend on
// the desk), and the session ports, whose semantics show which sessions a recovery ended.
type RedemptionStore interface {
	PasskeyStore
	passkey.TicketStore
	coretest.SessionsStore
	PutFlow(ctx context.Context, f core.EmailFlow, now time.Time) error
	VerifySignUp(ctx context.Context, id string, ticketHash []byte, expiresAt, now time.Time) error
	StartRecovery(ctx context.Context, r core.PendingRecovery, flowID string, now time.Time) error
}

// ticketHash returns 32 random bytes, the size of a ticket's keyed hash.
func ticketHash(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRedemptions is the contract of the ticket redemptions of the passkey ports:
// AccountStore.CreateAccount with a sign-up flow's Redemption and
// CredentialStore.AddRecoveredPasskey. newStore returns the store under test; it may return the
// same store to every subtest, as the subtests use fresh ids and emails.
func TestRedemptions(t *testing.T, newStore func(t *testing.T) RedemptionStore) {
	ctx := context.Background()
	T0 := coretest.T0
	conflict := func(t *testing.T, err error, cause error, what string) {
		t.Helper()
		coretest.WantKind(t, err, core.KindConflict, what)
		if !errors.Is(err, cause) {
			t.Fatalf("%s: %v, want the cause %v", what, err, cause)
		}
	}
	// flow stores a sign-up flow put at T0, verified with a fresh ticket until T0 + 1 h when
	// verify is set, and returns it and the ticket's hash.
	flow := func(t *testing.T, store RedemptionStore, verify bool) (core.EmailFlow, []byte) {
		t.Helper()
		id := coretest.RandomID(t)
		f := core.EmailFlow{
			ID: id, Purpose: core.FlowSignUp, Email: id + "@example.com", CodeHash: ticketHash(t), TriesLeft: 5,
			CreatedAt: T0, ExpiresAt: T0.Add(15 * time.Minute),
		}
		if err := store.PutFlow(ctx, f, T0); err != nil {
			t.Fatalf("PutFlow: %v", err)
		}
		h := ticketHash(t)
		if verify {
			if err := store.VerifySignUp(ctx, f.ID, h, T0.Add(time.Hour), T0); err != nil {
				t.Fatalf("VerifySignUp: %v", err)
			}
			f.Verified, f.TicketHash, f.ExpiresAt = true, h, T0.Add(time.Hour)
		}
		return f, h
	}
	// signUp is a new user of email and their first passkey.
	signUp := func(t *testing.T, email string) (core.User, core.Passkey) {
		u := coretest.NewUser(t)
		u.Email = email
		return u, newPasskey(t, u.ID, T0)
	}
	// nothing fails the test if any of the refused sign-up of u with p was written.
	nothing := func(t *testing.T, store RedemptionStore, u core.User, p core.Passkey) {
		t.Helper()
		_, err := store.GetUser(ctx, u.ID)
		coretest.WantKind(t, err, core.KindNotFound, "GetUser of a refused sign-up")
		_, err = store.GetPasskey(ctx, p.ID)
		coretest.WantKind(t, err, core.KindNotFound, "GetPasskey of a refused sign-up")
		_, err = store.UserIDByEmail(ctx, u.Email)
		coretest.WantKind(t, err, core.KindNotFound, "UserIDByEmail of a refused sign-up")
	}
	// account creates a user with one passkey and no redemption.
	account := func(t *testing.T, store RedemptionStore) (core.User, core.Passkey) {
		t.Helper()
		u, p := signUp(t, coretest.RandomID(t)+"@example.com")
		if err := store.CreateAccount(ctx, u, p, core.Redemption{}); err != nil {
			t.Fatalf("CreateAccount: %v", err)
		}
		return u, p
	}
	// recoveryOf starts a recovery of uid at T0, available a minute later and open for a day.
	recoveryOf := func(t *testing.T, store RedemptionStore, uid string) core.PendingRecovery {
		t.Helper()
		r := core.PendingRecovery{
			UserID: uid, Method: "email", StartedAt: T0, AvailableAt: T0.Add(time.Minute),
			ExpiresAt: T0.Add(24 * time.Hour), TicketHash: ticketHash(t), CancelHash: ticketHash(t),
		}
		if err := store.StartRecovery(ctx, r, "", T0); err != nil {
			t.Fatalf("StartRecovery: %v", err)
		}
		return r
	}
	redemption := func(r core.PendingRecovery, at time.Time) core.Redemption {
		return core.Redemption{ID: r.UserID, TicketHash: r.TicketHash, At: at}
	}
	pending := func(t *testing.T, store RedemptionStore, uid string) {
		t.Helper()
		if _, err := store.GetRecovery(ctx, uid, T0.Add(time.Hour)); err != nil {
			t.Fatalf("the refused redemption spent the recovery: %v", err)
		}
	}
	absent := func(t *testing.T, store RedemptionStore, id, what string) {
		t.Helper()
		_, err := store.GetPasskey(ctx, id)
		coretest.WantKind(t, err, core.KindNotFound, what)
	}
	cutOff := func(t *testing.T, store RedemptionStore, uid string) core.User {
		t.Helper()
		st, err := store.AccessState(ctx, "", "", uid, T0)
		if err != nil || !st.UserFound {
			t.Fatalf("AccessState of the user: found %v, %v", st.UserFound, err)
		}
		return st.User
	}

	t.Run("a verified sign-up flow's ticket makes one account, once", func(t *testing.T) {
		store := newStore(t)
		f, h := flow(t, store, true)
		u, p := signUp(t, f.Email)
		if err := store.CreateAccount(ctx, u, p, core.Redemption{ID: f.ID, TicketHash: h, At: T0.Add(time.Minute)}); err != nil {
			t.Fatalf("CreateAccount with the ticket: %v", err)
		}
		if _, err := store.GetPasskey(ctx, p.ID); err != nil {
			t.Fatalf("GetPasskey: %v", err)
		}
		if uid, err := store.UserIDByEmail(ctx, f.Email); err != nil || uid != u.ID {
			t.Fatalf("UserIDByEmail = %q, %v; want %q", uid, err, u.ID)
		}
		_, err := store.GetFlow(ctx, f.ID, T0.Add(time.Minute))
		coretest.WantKind(t, err, core.KindNotFound, "GetFlow of the redeemed flow")
		// The same ticket again: with the flow's email (taken too, and the spent ticket is what
		// is reported) and with another.
		for _, email := range []string{f.Email, coretest.RandomID(t) + "@example.com"} {
			v, q := signUp(t, email)
			conflict(t, store.CreateAccount(ctx, v, q, core.Redemption{ID: f.ID, TicketHash: h, At: T0.Add(2 * time.Minute)}), core.ErrTicketSpent, "CreateAccount with a spent ticket")
			_, err := store.GetUser(ctx, v.ID)
			coretest.WantKind(t, err, core.KindNotFound, "GetUser of the refused account")
			absent(t, store, q.ID, "GetPasskey of the refused account")
		}
	})

	t.Run("a ticket that does not redeem its flow is refused and nothing is written", func(t *testing.T) {
		store := newStore(t)
		f, h := flow(t, store, true)
		unverified, uh := flow(t, store, false)
		for _, c := range []struct {
			what string
			r    core.Redemption
		}{
			{"a wrong ticket", core.Redemption{ID: f.ID, TicketHash: ticketHash(t), At: T0}},
			{"an expired flow", core.Redemption{ID: f.ID, TicketHash: h, At: f.ExpiresAt}},
			{"an unverified flow", core.Redemption{ID: unverified.ID, TicketHash: uh, At: T0}},
			{"an unknown flow", core.Redemption{ID: coretest.RandomID(t), TicketHash: h, At: T0}},
			{"no ticket hash", core.Redemption{ID: f.ID, At: T0}},
		} {
			u, p := signUp(t, coretest.RandomID(t)+"@example.com")
			conflict(t, store.CreateAccount(ctx, u, p, c.r), core.ErrTicketSpent, "CreateAccount with "+c.what)
			nothing(t, store, u, p)
		}
		for _, g := range []core.EmailFlow{f, unverified} {
			if _, err := store.GetFlow(ctx, g.ID, T0); err != nil {
				t.Fatalf("a refused redemption deleted the flow: %v", err)
			}
		}
	})

	t.Run("a sign-up refused for another reason leaves the ticket unspent", func(t *testing.T) {
		store := newStore(t)
		f, h := flow(t, store, true)
		taken, _ := account(t, store)
		u, p := signUp(t, taken.Email)
		r := core.Redemption{ID: f.ID, TicketHash: h, At: T0}
		conflict(t, store.CreateAccount(ctx, u, p, r), core.ErrEmailTaken, "CreateAccount with a taken email")
		absent(t, store, p.ID, "GetPasskey of the refused account")
		v, q := signUp(t, f.Email)
		if err := store.CreateAccount(ctx, v, q, r); err != nil {
			t.Fatalf("CreateAccount with the unspent ticket: %v", err)
		}
	})

	t.Run("of parallel sign-ups with one ticket exactly one account is made", func(t *testing.T) {
		store := newStore(t)
		f, h := flow(t, store, true)
		users := make([]core.User, coretest.EmailRacers)
		keys := make([]core.Passkey, coretest.EmailRacers)
		for i := range users { // each its own email: only the ticket is contended
			users[i], keys[i] = signUp(t, coretest.RandomID(t)+"@example.com")
		}
		r := core.Redemption{ID: f.ID, TicketHash: h, At: T0}
		errs := make([]error, coretest.EmailRacers)
		coretest.Race(coretest.EmailRacers, func(i int) { errs[i] = store.CreateAccount(ctx, users[i], keys[i], r) })
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("sign-ups %d and %d both redeemed the ticket", winner, i)
			case err == nil:
				winner = i
			default:
				conflict(t, err, core.ErrTicketSpent, "a losing CreateAccount")
				nothing(t, store, users[i], keys[i])
			}
		}
		if winner < 0 {
			t.Fatal("no CreateAccount won")
		}
	})

	t.Run("a recovery ticket enrols one passkey, once, from when it is available", func(t *testing.T) {
		store := newStore(t)
		u, first := account(t, store)
		r := recoveryOf(t, store, u.ID)
		p := newPasskey(t, u.ID, T0.Add(time.Minute))
		if err := store.AddRecoveredPasskey(ctx, p, redemption(r, r.AvailableAt), ""); err != nil {
			t.Fatalf("AddRecoveredPasskey at AvailableAt: %v", err)
		}
		got, err := store.GetPasskey(ctx, p.ID)
		if err != nil {
			t.Fatalf("GetPasskey: %v", err)
		}
		samePasskey(t, got, wholeSecondsPasskey(p))
		_, err = store.GetRecovery(ctx, u.ID, r.AvailableAt)
		coretest.WantKind(t, err, core.KindNotFound, "GetRecovery of the redeemed recovery")
		again := newPasskey(t, u.ID, T0.Add(time.Minute))
		conflict(t, store.AddRecoveredPasskey(ctx, again, redemption(r, r.AvailableAt.Add(time.Second)), ""), core.ErrTicketSpent, "AddRecoveredPasskey with a spent ticket")
		absent(t, store, again.ID, "GetPasskey of the refused passkey")
		// The new passkey is counted: the first may go now.
		if err := store.DeletePasskey(ctx, u.ID, first.ID); err != nil {
			t.Fatalf("DeletePasskey of the first after the recovery: %v", err)
		}
	})

	t.Run("a recovery not redeemable then is refused and nothing is written", func(t *testing.T) {
		store := newStore(t)
		u, _ := account(t, store)
		r := recoveryOf(t, store, u.ID)
		without, _ := account(t, store)
		for _, c := range []struct {
			what string
			uid  string
			r    core.Redemption
		}{
			{"a second before it is available", u.ID, redemption(r, r.AvailableAt.Add(-time.Second))},
			{"at its expiry", u.ID, redemption(r, r.ExpiresAt)},
			{"a wrong ticket", u.ID, core.Redemption{ID: u.ID, TicketHash: ticketHash(t), At: r.AvailableAt}},
			{"no ticket hash", u.ID, core.Redemption{ID: u.ID, At: r.AvailableAt}},
			{"no pending recovery", without.ID, core.Redemption{ID: without.ID, TicketHash: r.TicketHash, At: r.AvailableAt}},
		} {
			p := newPasskey(t, c.uid, T0)
			conflict(t, store.AddRecoveredPasskey(ctx, p, c.r, ""), core.ErrTicketSpent, "AddRecoveredPasskey with "+c.what)
			absent(t, store, p.ID, "GetPasskey after AddRecoveredPasskey with "+c.what)
			if got := cutOff(t, store, c.uid); !got.SessionsEndedAt.IsZero() {
				t.Fatalf("AddRecoveredPasskey with %s ended sessions at %v", c.what, got.SessionsEndedAt)
			}
		}
		pending(t, store, u.ID)
	})

	t.Run("a taken credential id or a full account refuses the recovery and keeps it", func(t *testing.T) {
		store := newStore(t)
		u, first := account(t, store)
		r := recoveryOf(t, store, u.ID)
		taken := newPasskey(t, u.ID, T0)
		taken.ID = first.ID
		conflict(t, store.AddRecoveredPasskey(ctx, taken, redemption(r, r.AvailableAt), ""), core.ErrPasskeyTaken, "AddRecoveredPasskey of a taken id")
		pending(t, store, u.ID)

		full, _ := account(t, store)
		for i := 1; i < core.MaxPasskeys; i++ {
			if err := store.AddPasskey(ctx, newPasskey(t, full.ID, T0)); err != nil {
				t.Fatalf("AddPasskey: %v", err)
			}
		}
		fr := recoveryOf(t, store, full.ID)
		extra := newPasskey(t, full.ID, T0)
		conflict(t, store.AddRecoveredPasskey(ctx, extra, redemption(fr, fr.AvailableAt), ""), core.ErrTooManyPasskeys, "AddRecoveredPasskey beyond the limit")
		absent(t, store, extra.ID, "GetPasskey beyond the limit")
		pending(t, store, full.ID)
		if got := cutOff(t, store, full.ID); !got.SessionsEndedAt.IsZero() {
			t.Fatalf("the refused recovery ended sessions at %v", got.SessionsEndedAt)
		}
	})

	t.Run("the recovery of a user that does not exist is not found", func(t *testing.T) {
		store := newStore(t)
		r := recoveryOf(t, store, coretest.RandomID(t))
		p := newPasskey(t, r.UserID, T0)
		coretest.WantKind(t, store.AddRecoveredPasskey(ctx, p, redemption(r, r.AvailableAt), ""), core.KindNotFound, "AddRecoveredPasskey for an unknown user")
		absent(t, store, p.ID, "GetPasskey for an unknown user")
		pending(t, store, r.UserID)
	})

	t.Run("a recovery ends every session created at or before it but the kept one", func(t *testing.T) {
		store := newStore(t)
		clock := coretest.NewClock(T0)
		sessions := coretest.NewSessions(store, coretest.NewSigner(1), clock.Now, &coretest.Logs{})
		u, _ := account(t, store)
		cli := core.Client{IP: "198.51.100.7", UserAgent: "test"}
		open := func() core.TokenResponse {
			t.Helper()
			tr, err := sessions.Start(ctx, core.StartRequest{UserID: u.ID, AMR: []string{"hwk"}, Client: cli})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			return tr
		}
		works := func(what string, tr core.TokenResponse) {
			t.Helper()
			if _, err := sessions.Verifier.Authenticate(ctx, tr.AccessToken); err != nil {
				t.Fatalf("%s: access token refused: %v", what, err)
			}
			if _, err := sessions.Refresh(ctx, tr.RefreshToken, cli); err != nil {
				t.Fatalf("%s: refresh refused: %v", what, err)
			}
		}
		ended := func(what string, tr core.TokenResponse) {
			t.Helper()
			_, err := sessions.Verifier.Authenticate(ctx, tr.AccessToken)
			coretest.WantKind(t, err, core.KindUnauthenticated, what+": access token")
			_, err = sessions.Refresh(ctx, tr.RefreshToken, cli)
			coretest.WantKind(t, err, core.KindUnauthenticated, what+": refresh")
		}
		r := recoveryOf(t, store, u.ID)
		oldest, kept := open(), open()
		clock.Advance(time.Minute + 500*time.Millisecond)
		sameSecond := open() // 100 ms before the redemption
		clock.Advance(100 * time.Millisecond)
		at := clock.Now()
		if err := store.AddRecoveredPasskey(ctx, newPasskey(t, u.ID, at), redemption(r, at), kept.SessionID); err != nil {
			t.Fatalf("AddRecoveredPasskey: %v", err)
		}
		clock.Advance(100 * time.Millisecond)
		after := open() // the same second, 100 ms after the redemption

		got := cutOff(t, store, u.ID)
		if !got.SessionsEndedAt.Equal(coretest.Milli(at)) || got.KeptSessionID != kept.SessionID {
			t.Fatalf("the user's cut-off is %v keeping %q, want %v keeping %q", got.SessionsEndedAt, got.KeptSessionID, coretest.Milli(at), kept.SessionID)
		}
		ended("the oldest session", oldest)
		ended("a session of the same second, before the redemption", sameSecond)
		works("the kept session", kept)
		works("a session opened after the redemption", after)
	})

	t.Run("of parallel redemptions of one recovery exactly one passkey is added", func(t *testing.T) {
		store := newStore(t)
		u, _ := account(t, store)
		r := recoveryOf(t, store, u.ID)
		keys := make([]core.Passkey, coretest.EmailRacers)
		for i := range keys {
			keys[i] = newPasskey(t, u.ID, T0)
		}
		errs := make([]error, coretest.EmailRacers)
		coretest.Race(coretest.EmailRacers, func(i int) {
			errs[i] = store.AddRecoveredPasskey(ctx, keys[i], redemption(r, r.AvailableAt), "")
		})
		won := 0
		for i, err := range errs {
			if err == nil {
				won++
				continue
			}
			conflict(t, err, core.ErrTicketSpent, "a losing AddRecoveredPasskey")
			absent(t, store, keys[i].ID, "GetPasskey of a losing AddRecoveredPasskey")
		}
		if won != 1 {
			t.Fatalf("%d redemptions of one recovery won, want 1", won)
		}
	})
}
