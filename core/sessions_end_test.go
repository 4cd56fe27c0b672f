package core_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// laggingIndex is a store whose listing has not caught up with the sessions created in the
// last second, as gsi1 may lag a write.
type laggingIndex struct {
	*coretest.Memory
	now func() time.Time
}

func (l laggingIndex) UserSessions(ctx context.Context, uid string, now time.Time) ([]core.Session, error) {
	list, err := l.Memory.UserSessions(ctx, uid, now)
	var seen []core.Session
	for _, s := range list {
		if s.CreatedAt.Before(l.now().Add(-time.Second)) {
			seen = append(seen, s)
		}
	}
	return seen, err
}

// works fails the test unless tr's access token passes a Bearer check and its refresh token
// refreshes, and returns the refreshed tokens.
func (f *fixture) works(t *testing.T, what string, tr core.TokenResponse) core.TokenResponse {
	t.Helper()
	ctx := context.Background()
	if _, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken); err != nil {
		t.Fatalf("%s: access token refused: %v", what, err)
	}
	next, err := f.s.Refresh(ctx, tr.RefreshToken, cli)
	if err != nil {
		t.Fatalf("%s: refresh refused: %v", what, err)
	}
	return next
}

// ended fails the test unless tr's access token is refused and its refresh token fails, which
// also revokes the session.
func (f *fixture) ended(t *testing.T, what string, tr core.TokenResponse) {
	t.Helper()
	ctx := context.Background()
	_, err := f.s.Verifier.Authenticate(ctx, tr.AccessToken)
	wantKind(t, err, core.KindUnauthenticated, what+": access token")
	_, err = f.s.Refresh(ctx, tr.RefreshToken, cli)
	wantKind(t, err, core.KindUnauthenticated, what+": refresh")
	if s, _ := f.mem.GetSession(ctx, tr.SessionID, f.clock.Now()); !s.Revoked {
		t.Fatalf("%s: the refused refresh did not revoke the session", what)
	}
}

// TestLogOutOtherDevicesIsExact: "log out other devices" ends every other session of the user
// with one write to the user, however many sessions there are and whether or not the listing
// has caught up with them: the oldest, one the index has not seen yet, and one created in the
// same second just before the cut-off all end, while the current session and one created in
// the same second just after the cut-off go on (creation and cut-off are kept to the
// millisecond).
func TestLogOutOtherDevicesIsExact(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.s.Store = laggingIndex{f.mem, f.clock.Now}
	oldest := f.start(t)
	f.clock.Advance(time.Second)
	many := make([]core.TokenResponse, coretest.ManySessions)
	for i := range many {
		many[i] = f.start(t)
	}
	f.clock.Advance(2*time.Second + 100*time.Millisecond)
	cur := f.start(t)
	f.clock.Advance(100 * time.Millisecond)
	unseen := f.start(t) // created 100 ms before the cut-off: not in the listing yet
	f.clock.Advance(100 * time.Millisecond)
	c, err := f.s.Verifier.Authenticate(ctx, cur.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.EndOthers(ctx, c); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(100 * time.Millisecond)
	after := f.start(t) // the same second as the cut-off, 100 ms after it

	for _, v := range []struct {
		what string
		tr   core.TokenResponse
	}{{"the oldest session", oldest}, {"a session in the middle", many[len(many)/2]}, {"the newest other session", many[len(many)-1]}, {"a session the index had not seen", unseen}} {
		f.ended(t, v.what, v.tr)
	}
	cur = f.works(t, "the current session", cur)
	f.works(t, "the current session, refreshed", cur)
	after = f.works(t, "a session created just after the cut-off", after)

	f.clock.Advance(2 * time.Second) // the index catches up
	list, err := f.s.List(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// Both were created in the same second, which the listing orders by id.
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	if len(ids) != 2 || !slices.Contains(ids, after.SessionID) || !slices.Contains(ids, cur.SessionID) {
		t.Fatalf("the listing after log-out-others has %d sessions, want the one created after and the current one", len(list))
	}

	// Logging out the other devices again, from the newer session, ends the one kept before.
	ca, err := f.s.Verifier.Authenticate(ctx, after.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	if err := f.s.EndOthers(ctx, ca); err != nil {
		t.Fatal(err)
	}
	f.ended(t, "the session kept by the first log-out-others", cur)
	f.works(t, "the session that asked the second time", after)
}

// TestListingLeavesOutEndedSessions: the listing applies the user's cut-off, though the index
// still holds the sessions it ended.
func TestListingLeavesOutEndedSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	other, cur := f.start(t), f.start(t)
	c, _ := f.s.Verifier.Authenticate(ctx, cur.AccessToken)
	f.clock.Advance(time.Millisecond)
	if err := f.s.EndOthers(ctx, c); err != nil {
		t.Fatal(err)
	}
	if all, _ := f.mem.UserSessions(ctx, f.user.ID, f.clock.Now()); len(all) != 2 {
		t.Fatalf("the store lists %d sessions, want both still indexed", len(all))
	}
	list, err := f.s.List(ctx, c)
	if err != nil || len(list) != 1 || list[0].ID != cur.SessionID {
		t.Fatalf("List = %v, %v; want only the current session, not %s", list, err, other.SessionID)
	}
}
