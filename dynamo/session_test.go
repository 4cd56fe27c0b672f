package dynamo

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/coretest"
)

// testSession is a live session of uid created at now, at generation 1.
func testSession(id, uid string) core.Session {
	return core.Session{
		ID: id, UserID: uid, AuthTime: now, AMR: []string{"hwk"}, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(24 * time.Hour), IdleExpiresAt: now.Add(time.Hour), Generation: 1, RotatedAt: now,
	}
}

// Each session, user and access-state call is the one round trip docs/architecture.md (request
// walks) promise, on success and on a failed condition alike, and the reads that decide access are
// strongly consistent.
func TestSessionRoundTrips(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	sid, expired, uid, jti := randomKey(t), randomKey(t), randomKey(t), randomKey(t)
	old := testSession(expired, uid)
	old.ExpiresAt = now

	oneCallEach(t, api, []roundTrip{
		{"CreateSession", "PutItem", func() error { return store.CreateSession(ctx, testSession(sid, uid)) }},
		{"CreateSession expired", "PutItem", func() error { return store.CreateSession(ctx, old) }},
		{"GetSession", "GetItem", func() error { _, err := store.GetSession(ctx, sid, now); return err }},
		{"RotateRefresh", "UpdateItem", func() error {
			s, ok, err := store.RotateRefresh(ctx, sid, 1, now, now.Add(time.Hour), core.RefreshCount{Window: now.Truncate(time.Minute), Count: 1})
			if err == nil && (!ok || s.Generation != 2) {
				return errors.New("did not rotate to generation 2")
			}
			return err
		}},
		{"RotateRefresh stale", "UpdateItem", func() error {
			s, ok, err := store.RotateRefresh(ctx, sid, 1, now, now.Add(time.Hour), core.RefreshCount{Window: now.Truncate(time.Minute), Count: 1})
			if err == nil && (ok || s.Generation != 2 || s.ID != sid || s.UserID != uid) {
				return errors.New("did not return the current session unrotated")
			}
			return err
		}},
		{"RotateRefresh expired", "UpdateItem", func() error {
			_, _, err := store.RotateRefresh(ctx, expired, 1, now, now.Add(time.Hour), core.RefreshCount{Window: now.Truncate(time.Minute), Count: 1})
			if core.Is(err, core.KindNotFound) {
				return nil
			}
			return errors.Join(errors.New("want not found"), err)
		}},
		{"Reauthenticate", "UpdateItem", func() error {
			s, err := store.Reauthenticate(ctx, sid, uid, now, []string{"hwk"}, now)
			if err == nil && s.Generation != 4 {
				return errors.New("did not advance two generations, to 4")
			}
			return err
		}},
		{"Reauthenticate of another user", "UpdateItem", func() error {
			_, err := store.Reauthenticate(ctx, sid, randomKey(t), now, nil, now)
			if core.Is(err, core.KindNotFound) {
				return nil
			}
			return errors.Join(errors.New("want not found"), err)
		}},
		{"RevokeSession", "UpdateItem", func() error { return store.RevokeSession(ctx, sid, now) }},
		{"RevokeSession again", "UpdateItem", func() error { return store.RevokeSession(ctx, sid, now) }},
		{"RotateRefresh revoked", "UpdateItem", func() error {
			s, ok, err := store.RotateRefresh(ctx, sid, 3, now, now.Add(time.Hour), core.RefreshCount{Window: now.Truncate(time.Minute), Count: 1})
			if err == nil && (ok || !s.Revoked) {
				return errors.New("did not return the revoked session unrotated")
			}
			return err
		}},
		{"UserSessions", "Query", func() error { _, err := store.UserSessions(ctx, uid, now); return err }},
		{"CreateUser", "TransactWriteItems", func() error {
			return store.CreateUser(ctx, core.User{ID: uid, Email: uid + "@example.com", CreatedAt: now})
		}},
		{"CreateUser conflicting", "TransactWriteItems", func() error {
			err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: now})
			if core.Is(err, core.KindConflict) {
				return nil
			}
			return errors.Join(errors.New("want conflict"), err)
		}},
		{"GetUser", "GetItem", func() error { _, err := store.GetUser(ctx, uid); return err }},
		{"EndSessionsBefore", "UpdateItem", func() error { return store.EndSessionsBefore(ctx, uid, now, sid) }},
		{"EndSessionsBefore of an unknown user", "UpdateItem", func() error {
			err := store.EndSessionsBefore(ctx, randomKey(t), now, sid)
			if core.Is(err, core.KindNotFound) {
				return nil
			}
			return errors.Join(errors.New("want not found"), err)
		}},
		{"AccessState", "BatchGetItem", func() error {
			st, err := store.AccessState(ctx, sid, jti, uid, now)
			if err == nil && (!st.SessionFound || !st.UserFound || st.TokenDenied) {
				return errors.New("did not read the session and the user")
			}
			return err
		}},
	})
	for _, ka := range api.lastBatch.RequestItems {
		if !aws.ToBool(ka.ConsistentRead) || len(ka.Keys) != 3 {
			t.Errorf("AccessState's BatchGetItem: consistent %v, %d keys; want consistent, 3 keys", aws.ToBool(ka.ConsistentRead), len(ka.Keys))
		}
	}
	// A refresh reads its session and user in the same one round trip, without a jti key.
	oneCallEach(t, api, []roundTrip{{"AccessState without a jti", "BatchGetItem", func() error {
		st, err := store.AccessState(ctx, sid, "", uid, now)
		if err == nil && (!st.SessionFound || !st.UserFound) {
			return errors.New("did not read the session and the user")
		}
		return err
	}}})
	for _, ka := range api.lastBatch.RequestItems {
		if !aws.ToBool(ka.ConsistentRead) || len(ka.Keys) != 2 {
			t.Errorf("AccessState's BatchGetItem without a jti: consistent %v, %d keys; want consistent, 2 keys", aws.ToBool(ka.ConsistentRead), len(ka.Keys))
		}
	}
}

// stingyBatchAPI answers BatchGetItem for at most serve keys per call and hands the rest back
// as UnprocessedKeys, as DynamoDB does under throttling.
type stingyBatchAPI struct {
	*countingAPI
	serve int
	asked [][]map[string]types.AttributeValue // the keys of each call
	plain []bool                              // whether each call was strongly consistent
}

func (s *stingyBatchAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	served, left := map[string]types.KeysAndAttributes{}, map[string]types.KeysAndAttributes{}
	for table, ka := range in.RequestItems {
		s.asked = append(s.asked, ka.Keys)
		s.plain = append(s.plain, aws.ToBool(ka.ConsistentRead))
		n := min(s.serve, len(ka.Keys))
		served[table] = types.KeysAndAttributes{Keys: ka.Keys[:n], ConsistentRead: ka.ConsistentRead}
		if n < len(ka.Keys) {
			// Hand back only the keys, dropping ConsistentRead: the store must not rely on it.
			left[table] = types.KeysAndAttributes{Keys: ka.Keys[n:]}
		}
	}
	if s.serve == 0 {
		s.countingAPI.count("BatchGetItem")
		return &dynamodb.BatchGetItemOutput{UnprocessedKeys: left}, nil
	}
	out, err := s.countingAPI.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: served}, optFns...)
	if err != nil {
		return nil, err
	}
	out.UnprocessedKeys = left
	return out, nil
}

// Keys DynamoDB leaves unprocessed are asked for again, alone and still strongly consistent;
// keys that stay unprocessed are an outage, not a "not found".
func TestAccessStateRetriesUnprocessedKeys(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	sid, jti, uid := randomKey(t), randomKey(t), randomKey(t)
	seed := New(client, table)
	if err := seed.CreateSession(ctx, testSession(sid, uid)); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if err := seed.DenyToken(ctx, jti, now.Add(time.Minute)); err != nil {
		t.Fatalf("DenyToken: %v", err)
	}
	if err := seed.CreateUser(ctx, core.User{ID: uid, CreatedAt: now, Disabled: true}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	api := &stingyBatchAPI{countingAPI: &countingAPI{API: client}, serve: 1}
	st, err := New(api, table).AccessState(ctx, sid, jti, uid, now)
	if err != nil {
		t.Fatalf("AccessState: %v", err)
	}
	if !st.SessionFound || st.Session.ID != sid || !st.TokenDenied || !st.UserFound || !st.User.Disabled {
		t.Fatalf("AccessState = %+v, want the session, the denial and the disabled user", st)
	}
	if n := api.ops()["BatchGetItem"]; n != 3 {
		t.Fatalf("%d BatchGetItem calls serving one key each, want 3", n)
	}
	for i, keys := range api.asked {
		if len(keys) != 3-i || !api.plain[i] {
			t.Errorf("call %d asked for %d keys (consistent %v), want %d, consistent", i+1, len(keys), api.plain[i], 3-i)
		}
	}

	never := &stingyBatchAPI{countingAPI: &countingAPI{API: client}, serve: 0}
	_, err = New(never, table).AccessState(ctx, sid, jti, uid, now)
	if !core.Is(err, core.KindUnavailable) {
		t.Fatalf("AccessState with keys never processed: %v, want unavailable", err)
	}
	if n := never.ops()["BatchGetItem"]; n != batchAttempts {
		t.Fatalf("%d BatchGetItem calls, want %d", n, batchAttempts)
	}
}

// conflictingTxAPI cancels the first fail TransactWriteItems calls as DynamoDB does when
// another transaction holds the same items.
type conflictingTxAPI struct {
	*countingAPI
	fail int
}

func (c *conflictingTxAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if c.ops()["TransactWriteItems"] < c.fail {
		c.count("TransactWriteItems")
		reasons := make([]types.CancellationReason, len(in.TransactItems))
		for i := range reasons {
			reasons[i].Code = aws.String("None")
		}
		reasons[len(reasons)-1].Code = aws.String("TransactionConflict")
		return nil, &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	return c.countingAPI.TransactWriteItems(ctx, in, optFns...)
}

// A transaction cancelled only because another one was in flight decided nothing: CreateUser
// sends it again rather than calling the email taken, and reports an outage if that persists.
func TestCreateUserRetriesTransactionConflicts(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()

	once := &conflictingTxAPI{countingAPI: &countingAPI{API: client}, fail: 1}
	u := core.User{ID: randomKey(t), Email: randomKey(t) + "@example.com", CreatedAt: now}
	if err := New(once, table).CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser after one conflict: %v", err)
	}
	if n := once.ops()["TransactWriteItems"]; n != 2 {
		t.Fatalf("%d TransactWriteItems calls, want 2", n)
	}

	always := &conflictingTxAPI{countingAPI: &countingAPI{API: client}, fail: txAttempts}
	v := core.User{ID: randomKey(t), Email: randomKey(t) + "@example.com", CreatedAt: now}
	err := New(always, table).CreateUser(ctx, v)
	if !core.Is(err, core.KindUnavailable) {
		t.Fatalf("CreateUser under persistent conflicts: %v, want unavailable", err)
	}
	if n := always.ops()["TransactWriteItems"]; n != txAttempts {
		t.Fatalf("%d TransactWriteItems calls, want %d", n, txAttempts)
	}
	if _, err := New(client, table).GetUser(ctx, v.ID); !core.Is(err, core.KindNotFound) {
		t.Fatalf("GetUser after a failed create: %v, want not found", err)
	}
}

// The conflict says, in the logged cause, whether the id or the email was taken.
func TestCreateUserNamesWhatIsTaken(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	u := core.User{ID: randomKey(t), Email: randomKey(t) + "@example.com", CreatedAt: now}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for _, tc := range []struct {
		user core.User
		want string
	}{
		{core.User{ID: u.ID, Email: randomKey(t) + "@example.com"}, "the user id is taken"},
		{core.User{ID: u.ID, Email: u.Email}, "the user id is taken"},
		{core.User{ID: randomKey(t), Email: u.Email}, "the email is taken"},
	} {
		err := store.CreateUser(ctx, tc.user)
		if !core.Is(err, core.KindConflict) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CreateUser(%+v): %v, want conflict saying %q", tc.user, err, tc.want)
		}
	}
}

// Listing follows DynamoDB's pages to the end, newest first across pages.
func TestUserSessionsFollowsPages(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	uid := randomKey(t)
	seed := New(client, table)
	var want []string
	for i := range 5 {
		s := testSession(randomKey(t), uid)
		s.CreatedAt = now.Add(time.Duration(i) * time.Second)
		if err := seed.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		want = append([]string{s.ID}, want...)
	}
	api := &smallPagesAPI{countingAPI: &countingAPI{API: client}}
	list, err := New(api, table).UserSessions(ctx, uid, now)
	if err != nil {
		t.Fatalf("UserSessions: %v", err)
	}
	var got []string
	for _, s := range list {
		got = append(got, s.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("UserSessions = %v, want %v", got, want)
	}
	if n := api.ops()["Query"]; n != 3 {
		t.Fatalf("%d Query calls for 5 sessions in pages of 2, want 3", n)
	}
}

// smallPagesAPI makes DynamoDB answer queries two items at a time.
type smallPagesAPI struct{ *countingAPI }

func (s *smallPagesAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if in.Limit == nil || aws.ToInt32(in.Limit) > 2 {
		in.Limit = aws.Int32(2)
	}
	return s.countingAPI.Query(ctx, in, optFns...)
}

// pagedQueryAPI answers a query with pages of 300 expired sessions, and the last page with one
// live session: the oldest, as a newest-first listing meets it.
type pagedQueryAPI struct {
	failingAPI
	pages  int
	inputs []*dynamodb.QueryInput
}

func (p *pagedQueryAPI) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	p.inputs = append(p.inputs, in)
	if len(p.inputs) == p.pages {
		live := testSession("oldest", "uid")
		av, err := attributevalue.MarshalMap(newSessionItem(live))
		return &dynamodb.QueryOutput{Items: []map[string]types.AttributeValue{av}}, err
	}
	items := make([]map[string]types.AttributeValue, 300)
	for i := range items {
		items[i] = map[string]types.AttributeValue{
			attrPK:        &types.AttributeValueMemberS{Value: "SESS#x" + strconv.Itoa(i)},
			attrExpiresAt: number(epoch(now)),
		}
	}
	return &dynamodb.QueryOutput{Items: items, LastEvaluatedKey: maps.Clone(items[len(items)-1])}, nil
}

// However many sessions a user has piled up, the listing reads every page, unbounded, so the
// oldest live session is still listed behind 1,500 ended ones; and it asks DynamoDB to leave
// out sessions past their expiry, idle expiry or revoked.
func TestUserSessionsReadsEveryPage(t *testing.T) {
	api := &pagedQueryAPI{pages: 6}
	list, err := New(api, "t").UserSessions(context.Background(), "uid", now)
	if err != nil || len(list) != 1 || list[0].ID != "oldest" {
		t.Fatalf("UserSessions: %+v, %v; want the one live session", list, err)
	}
	if len(api.inputs) != api.pages {
		t.Fatalf("%d queries, want %d", len(api.inputs), api.pages)
	}
	for i, in := range api.inputs {
		if in.Limit != nil {
			t.Errorf("query %d has Limit %d, want none", i+1, aws.ToInt32(in.Limit))
		}
		if f := aws.ToString(in.FilterExpression); f != "#exp > :now AND #idle > :now AND #rev = :false" {
			t.Errorf("query %d has filter %q", i+1, f)
		}
	}
}

// A revoked session leaves gsi1: RevokeSession removes its index keys in the same write, so
// the index holds only sessions that were never ended.
func TestRevokedSessionsLeaveTheIndex(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	store := New(client, table)
	s := testSession(randomKey(t), randomKey(t))
	if err := store.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	raw := func() map[string]types.AttributeValue {
		res, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: sessionKey(s.ID).attributes(), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		return res.Item
	}
	if item := raw(); item[attrGSI1PK] == nil || item[attrGSI1SK] == nil {
		t.Fatalf("a new session item has no gsi1 keys: %v", item)
	}
	if err := store.RevokeSession(ctx, s.ID, now); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	item := raw()
	if _, ok := item[attrGSI1PK]; ok {
		t.Fatalf("a revoked session keeps gsi1pk: %v", item)
	}
	if _, ok := item[attrGSI1SK]; ok {
		t.Fatalf("a revoked session keeps gsi1sk: %v", item)
	}
	if got, err := store.GetSession(ctx, s.ID, now); err != nil || !got.Revoked || got.UserID != s.UserID {
		t.Fatalf("GetSession of the revoked session: %+v, %v", got, err)
	}
}

// TestLogOutOtherDevicesEndsEverySession runs core.Sessions on DynamoDB Local for a user with
// more sessions than a bounded page of 1,000: the listing has every one of them, and "log out
// other devices" is one UpdateItem of the user, after which the oldest session, a session in
// the middle and one created in the same second just before the cut-off are refused — their
// access tokens and their refresh tokens — while the current session and one created in the
// same second just after the cut-off go on.
func TestLogOutOtherDevicesEndsEverySession(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	api := &countingAPI{API: client}
	store := New(api, table)
	clock := coretest.NewClock(coretest.T0)
	s := coretest.NewSessions(store, coretest.NewSigner(1), clock.Now, &coretest.Logs{})
	u := core.User{ID: core.NewID(), CreatedAt: coretest.T0}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	req := core.StartRequest{UserID: u.ID, AMR: []string{"hwk"}, Client: core.Client{IP: "192.0.2.1"}}
	start := func() core.TokenResponse {
		t.Helper()
		tr, err := s.Start(ctx, req)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return tr
	}
	refused := func(what string, tr core.TokenResponse) {
		t.Helper()
		if _, err := s.Verifier.Authenticate(ctx, tr.AccessToken); !core.Is(err, core.KindUnauthenticated) {
			t.Fatalf("%s: access token: %v, want refused", what, err)
		}
		if _, err := s.Refresh(ctx, tr.RefreshToken, req.Client); !core.Is(err, core.KindUnauthenticated) {
			t.Fatalf("%s: refresh: %v, want refused", what, err)
		}
	}
	works := func(what string, tr core.TokenResponse) {
		t.Helper()
		if _, err := s.Verifier.Authenticate(ctx, tr.AccessToken); err != nil {
			t.Fatalf("%s: access token: %v", what, err)
		}
		if _, err := s.Refresh(ctx, tr.RefreshToken, req.Client); err != nil {
			t.Fatalf("%s: refresh: %v", what, err)
		}
	}

	oldest := start() // session #1
	clock.Advance(time.Second)
	many := make([]core.TokenResponse, coretest.ManySessions)
	coretest.Each(len(many), func(i int) error {
		var err error
		many[i], err = s.Start(ctx, req)
		return err
	}, t)
	clock.Advance(time.Second + 100*time.Millisecond)
	cur := start()
	clock.Advance(100 * time.Millisecond)
	before := start()
	clock.Advance(100 * time.Millisecond)
	c, err := s.Verifier.Authenticate(ctx, cur.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, c)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := len(many) + 3; len(list) != want || list[len(list)-1].ID != oldest.SessionID {
		t.Fatalf("List has %d sessions, want all %d with the oldest last", len(list), want)
	}

	calls := api.ops()
	if err := s.EndOthers(ctx, c); err != nil {
		t.Fatalf("EndOthers: %v", err)
	}
	for op, n := range api.ops() {
		if n -= calls[op]; (op == "UpdateItem" && n != 1) || (op != "UpdateItem" && n != 0) {
			t.Errorf("EndOthers made %d %s calls; want one UpdateItem and nothing else", n, op)
		}
	}
	clock.Advance(100 * time.Millisecond)
	after := start()

	refused("session #1, the oldest", oldest)
	refused("a session in the middle", many[len(many)/2])
	refused("a session created 100 ms before the cut-off", before)
	works("the current session", cur)
	works("a session created 100 ms after the cut-off", after)
	// Both were created in the same second, which the listing orders by id.
	if list, err = s.List(ctx, c); err != nil || len(list) != 2 || !slices.ContainsFunc(list, func(s core.Session) bool { return s.ID == after.SessionID }) ||
		!slices.ContainsFunc(list, func(s core.Session) bool { return s.ID == cur.SessionID }) {
		t.Fatalf("List after log-out-others: %d sessions, %v; want the one created after and the current one", len(list), err)
	}
}
