package dynamo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/recovery"
	"github.com/latchkey/latchkey/core/recovery/recoverytest"
)

// The Store is the recovery desk's store; package dynamo itself never imports core/recovery.
var (
	_ recovery.FlowStore     = (*Store)(nil)
	_ recovery.RecoveryStore = (*Store)(nil)
	_ recovery.CodeStore     = (*Store)(nil)
	_ recovery.Accounts      = (*Store)(nil)
)

func TestFlowStore(t *testing.T) {
	recoverytest.TestFlowStore(t, func(t *testing.T) recoverytest.FlowStore { return testStore(t) })
}

func TestRecoveryStore(t *testing.T) {
	recoverytest.TestRecoveryStore(t, func(t *testing.T) recoverytest.RecoveryStore { return testStore(t) })
}

func TestCodeStore(t *testing.T) {
	recoverytest.TestCodeStore(t, func(t *testing.T) recoverytest.CodeStore { return testStore(t) })
}

func TestTicketStore(t *testing.T) {
	recoverytest.TestTicketStore(t, func(t *testing.T) recoverytest.TicketStore { return testStore(t) })
}

// getRaw reads the item at k as the table holds it.
func getRaw(t *testing.T, client *dynamodb.Client, table string, k itemKey) map[string]types.AttributeValue {
	t.Helper()
	res, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: k.attributes(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Item
}

// wantAttrs fails the test unless item holds each attribute of want, as that attribute value.
func wantAttrs(t *testing.T, what string, item map[string]types.AttributeValue, want map[string]types.AttributeValue) {
	t.Helper()
	for attr, w := range want {
		got, ok := item[attr]
		switch w := w.(type) {
		case *types.AttributeValueMemberS:
			g, _ := got.(*types.AttributeValueMemberS)
			ok = ok && g != nil && g.Value == w.Value
		case *types.AttributeValueMemberN:
			g, _ := got.(*types.AttributeValueMemberN)
			ok = ok && g != nil && g.Value == w.Value
		case *types.AttributeValueMemberB:
			g, _ := got.(*types.AttributeValueMemberB)
			ok = ok && g != nil && bytes.Equal(g.Value, w.Value)
		case *types.AttributeValueMemberBOOL:
			g, _ := got.(*types.AttributeValueMemberBOOL)
			ok = ok && g != nil && g.Value == w.Value
		}
		if !ok {
			t.Errorf("%s: %s = %#v, want %#v", what, attr, got, w)
		}
	}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func bin(b []byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: b} }

// The flow, recovery and recovery-code items hold what docs/architecture.md (single-table items)
// lists, under the keys it names, with the hashes as Binary and the times as epoch seconds.
func TestRecoveryItemLayout(t *testing.T) {
	client, table := testTable(t)
	store := New(client, table)
	ctx := context.Background()

	f := recoverytest.NewFlow(t, core.FlowRecovery, now, 5)
	if err := store.PutFlow(ctx, f, now); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, "flow", getRaw(t, client, table, flowKey(f.ID)), map[string]types.AttributeValue{
		attrPK: str("FLOW#" + f.ID), attrSK: str("FLOW"), "purpose": str("recovery"), "email": str(f.Email),
		"userId": str(f.UserID), "codeHash": bin(f.CodeHash), "triesLeft": number(5),
		"verified": &types.AttributeValueMemberBOOL{Value: false}, "createdAt": number(epoch(f.CreatedAt)),
		attrExpiresAt: number(epoch(f.ExpiresAt)),
	})
	s := recoverytest.NewFlow(t, core.FlowSignUp, now, 5)
	ticket := recoverytest.Hash(t)
	if err := store.PutFlow(ctx, s, now); err != nil {
		t.Fatal(err)
	}
	if err := store.VerifySignUp(ctx, s.ID, ticket, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	item := getRaw(t, client, table, flowKey(s.ID))
	wantAttrs(t, "verified sign-up flow", item, map[string]types.AttributeValue{
		"purpose": str("signup"), "verified": &types.AttributeValueMemberBOOL{Value: true},
		"ticketHash": bin(ticket), attrExpiresAt: number(epoch(now.Add(time.Hour))),
	})
	if _, ok := item["userId"]; ok {
		t.Error("a sign-up flow has a userId")
	}

	uid := randomKey(t)
	r := recoverytest.NewRecovery(t, uid, now)
	if err := store.StartRecovery(ctx, r, "", now); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, "recovery", getRaw(t, client, table, recoveryKey(uid)), map[string]types.AttributeValue{
		attrPK: str("USER#" + uid), attrSK: str("RECOVERY"), "method": str("email"),
		"startedAt": number(epoch(r.StartedAt)), "availableAt": number(epoch(r.AvailableAt)),
		attrExpiresAt: number(epoch(r.ExpiresAt)), "ticketHash": bin(r.TicketHash), "cancelHash": bin(r.CancelHash),
	})

	if err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	h := recoverytest.Hash(t)
	if err := store.ReplaceRecoveryCodes(ctx, uid, "set1", [][]byte{h}); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString(h)
	code := getRaw(t, client, table, recoveryCodeKey(h))
	wantAttrs(t, "recovery code", code, map[string]types.AttributeValue{
		attrPK: str("RCODE#" + b64), attrSK: str("RCODE"), attrGSI1PK: str("USER#" + uid),
		attrGSI1SK: str("RCODE#set1#" + b64), "userId": str(uid), "set": str("set1"),
	})
	if _, ok := code[attrExpiresAt]; ok {
		t.Error("a recovery code has an expiresAt")
	}
	wantAttrs(t, "user", getRaw(t, client, table, userKey(uid)), map[string]types.AttributeValue{
		"recoveryCodeSet": str("set1"), "recoveryCodesLeft": number(1),
	})
}

// Replacing a user's recovery codes deletes the earlier set's items afterwards (DynamoDB Local's
// index is up to date at once), and leaves other users' codes alone.
func TestReplaceRecoveryCodesDeletesTheEarlierSet(t *testing.T) {
	client, table := testTable(t)
	store := New(client, table)
	ctx := context.Background()
	uid, other := randomKey(t), randomKey(t)
	for _, id := range []string{uid, other} {
		if err := store.CreateUser(ctx, core.User{ID: id, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	old, theirs, fresh := [][]byte{recoverytest.Hash(t), recoverytest.Hash(t)}, [][]byte{recoverytest.Hash(t)}, [][]byte{recoverytest.Hash(t)}
	if err := store.ReplaceRecoveryCodes(ctx, uid, "old", old); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceRecoveryCodes(ctx, other, "theirs", theirs); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceRecoveryCodes(ctx, uid, "new", fresh); err != nil {
		t.Fatal(err)
	}
	for _, h := range old {
		if item := getRaw(t, client, table, recoveryCodeKey(h)); len(item) != 0 {
			t.Errorf("a code of the replaced set is still stored: %v", item)
		}
	}
	for _, h := range append(fresh, theirs...) {
		if item := getRaw(t, client, table, recoveryCodeKey(h)); len(item) == 0 {
			t.Error("a live code was deleted")
		}
	}
}

// Each recovery operation costs the round trips its doc comment promises, on success and on a
// failed condition alike; reads that decide are strongly consistent.
func TestRecoveryRoundTrips(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	signUp := recoverytest.NewFlow(t, core.FlowSignUp, now, 5)
	flow := recoverytest.NewFlow(t, core.FlowRecovery, now, 5)
	uid := randomKey(t)
	r := recoverytest.NewRecovery(t, uid, now)
	ticket := recoverytest.Hash(t)
	want := func(kind core.Kind, err error) error {
		if core.Is(err, kind) {
			return nil
		}
		return errors.Join(errors.New("want "+kind.String()), err)
	}

	oneCallEach(t, api, []roundTrip{
		{"PutFlow", "PutItem", func() error { return store.PutFlow(ctx, signUp, now) }},
		{"PutFlow taken", "PutItem", func() error { return want(core.KindConflict, store.PutFlow(ctx, signUp, now)) }},
		{"SpendTry", "UpdateItem", func() error { _, err := store.SpendTry(ctx, signUp.ID, now); return err }},
		{"SpendTry expired", "UpdateItem", func() error {
			_, err := store.SpendTry(ctx, signUp.ID, signUp.ExpiresAt)
			return want(core.KindNotFound, err)
		}},
		{"VerifySignUp", "UpdateItem", func() error { return store.VerifySignUp(ctx, signUp.ID, ticket, now.Add(time.Hour), now) }},
		{"VerifySignUp again", "UpdateItem", func() error {
			return want(core.KindNotFound, store.VerifySignUp(ctx, signUp.ID, ticket, now.Add(time.Hour), now))
		}},
		{"GetFlow", "GetItem", func() error { _, err := store.GetFlow(ctx, signUp.ID, now); return err }},
		{"PutFlow recovery", "PutItem", func() error { return store.PutFlow(ctx, flow, now) }},
		{"StartRecovery with a flow", "TransactWriteItems", func() error { return store.StartRecovery(ctx, r, flow.ID, now) }},
		{"StartRecovery with a consumed flow", "TransactWriteItems", func() error {
			return want(core.KindNotFound, store.StartRecovery(ctx, r, flow.ID, now))
		}},
		{"StartRecovery", "PutItem", func() error { return store.StartRecovery(ctx, r, "", now) }},
		{"GetRecovery", "GetItem", func() error { _, err := store.GetRecovery(ctx, uid, now); return err }},
		{"CancelRecovery wrong", "DeleteItem", func() error {
			return want(core.KindNotFound, store.CancelRecovery(ctx, uid, ticket, now))
		}},
		{"CancelRecovery", "DeleteItem", func() error { return store.CancelRecovery(ctx, uid, r.CancelHash, now) }},
		{"CreateAccount redeeming", "TransactWriteItems", func() error {
			u := core.User{ID: uid, Email: signUp.Email, CreatedAt: now}
			return store.CreateAccount(ctx, u, testPasskey(t, uid), core.Redemption{ID: signUp.ID, TicketHash: ticket, At: now})
		}},
		{"StartRecovery again", "PutItem", func() error { return store.StartRecovery(ctx, r, "", now) }},
		{"AddRecoveredPasskey early", "TransactWriteItems", func() error {
			err := store.AddRecoveredPasskey(ctx, testPasskey(t, uid), core.Redemption{ID: uid, TicketHash: r.TicketHash, At: now}, "")
			if errors.Is(err, core.ErrTicketSpent) {
				return nil
			}
			return errors.Join(errors.New("want spent"), err)
		}},
		{"AddRecoveredPasskey", "TransactWriteItems", func() error {
			return store.AddRecoveredPasskey(ctx, testPasskey(t, uid), core.Redemption{ID: uid, TicketHash: r.TicketHash, At: r.AvailableAt}, "")
		}},
	})

	// A first set: the transaction and the listing that finds no earlier set to delete.
	codes := [][]byte{recoverytest.Hash(t), recoverytest.Hash(t)}
	before := api.ops()
	if err := store.ReplaceRecoveryCodes(ctx, uid, "one", codes); err != nil {
		t.Fatal(err)
	}
	wantOps(t, "ReplaceRecoveryCodes, first set", before, api.ops(), map[string]int{"TransactWriteItems": 1, "Query": 1})
	// A spend: the strongly consistent read of the code, then the transaction.
	before = api.ops()
	if _, err := store.SpendRecoveryCode(ctx, codes[0], r); err != nil {
		t.Fatal(err)
	}
	wantOps(t, "SpendRecoveryCode", before, api.ops(), map[string]int{"GetItem": 1, "TransactWriteItems": 1})
	if !aws.ToBool(api.lastGet.ConsistentRead) {
		t.Error("SpendRecoveryCode: GetItem is not strongly consistent")
	}
	before = api.ops()
	if _, err := store.SpendRecoveryCode(ctx, codes[0], r); !core.Is(err, core.KindNotFound) {
		t.Fatalf("SpendRecoveryCode of a spent code: %v", err)
	}
	wantOps(t, "SpendRecoveryCode spent", before, api.ops(), map[string]int{"GetItem": 1})
	// Replacing it: the transaction, the listing, the user's live set, and one delete per dead code.
	before = api.ops()
	if err := store.ReplaceRecoveryCodes(ctx, uid, "two", [][]byte{recoverytest.Hash(t)}); err != nil {
		t.Fatal(err)
	}
	wantOps(t, "ReplaceRecoveryCodes, second set", before, api.ops(), map[string]int{"TransactWriteItems": 1, "Query": 1, "GetItem": 1, "DeleteItem": 1})
	before = api.ops()
	if _, err := store.SpendRecoveryCode(ctx, codes[1], r); !core.Is(err, core.KindNotFound) {
		t.Fatalf("SpendRecoveryCode of a replaced set's code: %v", err)
	}
	wantOps(t, "SpendRecoveryCode replaced", before, api.ops(), map[string]int{"GetItem": 1})
}

// wantOps fails the test unless the calls made between before and after are exactly want.
func wantOps(t *testing.T, what string, before, after, want map[string]int) {
	t.Helper()
	for op, n := range after {
		if got := n - before[op]; got != want[op] {
			t.Errorf("%s made %d %s calls, want %d", what, got, op, want[op])
		}
	}
	for op, n := range want {
		if _, ok := after[op]; !ok && n > 0 {
			t.Errorf("%s made no %s call, want %d", what, op, n)
		}
	}
}

// noQueryAPI fails every Query, as an outage of the index would.
type noQueryAPI struct{ API }

func (noQueryAPI) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, errors.New("the index is down")
}

// When the best-effort deletion of an earlier set fails, the replace still succeeds and the
// earlier set's codes, still stored, are refused: a spend checks the set, not whether the code
// is there.
func TestDeadCodesLeftBehindAreRefused(t *testing.T) {
	client, table := testTable(t)
	store := New(noQueryAPI{client}, table)
	ctx := context.Background()
	uid := randomKey(t)
	if err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	old, fresh := [][]byte{recoverytest.Hash(t)}, [][]byte{recoverytest.Hash(t)}
	if err := store.ReplaceRecoveryCodes(ctx, uid, "old", old); err != nil {
		t.Fatal(err)
	}
	if err := store.ReplaceRecoveryCodes(ctx, uid, "new", fresh); err != nil {
		t.Fatalf("ReplaceRecoveryCodes with the clean-up failing: %v", err)
	}
	if item := getRaw(t, client, table, recoveryCodeKey(old[0])); len(item) == 0 {
		t.Fatal("the earlier set's code is gone: the test needs it left behind")
	}
	r := recoverytest.NewRecovery(t, "", now)
	if _, err := store.SpendRecoveryCode(ctx, old[0], r); !core.Is(err, core.KindNotFound) {
		t.Fatalf("SpendRecoveryCode of a dead code left behind: %v, want not found", err)
	}
	if _, err := store.GetRecovery(ctx, uid, now); !core.Is(err, core.KindNotFound) {
		t.Fatalf("the refused spend started a recovery: %v", err)
	}
	if _, err := store.SpendRecoveryCode(ctx, fresh[0], r); err != nil {
		t.Fatalf("SpendRecoveryCode of the live set: %v", err)
	}
}
