package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/passkey"
	"github.com/latchkey/latchkey/core/passkey/passkeytest"
)

// The Store is a passkey store; package dynamo itself never imports core/passkey (go-webauthn
// would reach every binary).
var (
	_ passkey.CredentialStore = (*Store)(nil)
	_ passkey.AccountStore    = (*Store)(nil)
	_ passkey.ChallengeStore  = (*Store)(nil)
	_ passkey.TicketStore     = (*Store)(nil)
)

func TestPasskeyStore(t *testing.T) {
	passkeytest.TestPasskeyStore(t, func(t *testing.T) passkeytest.PasskeyStore { return testStore(t) })
}

func TestRedemptions(t *testing.T) {
	passkeytest.TestRedemptions(t, func(t *testing.T) passkeytest.RedemptionStore { return testStore(t) })
}

// testPasskey is a passkey of uid with a fresh id.
func testPasskey(t *testing.T, uid string) core.Passkey {
	return core.Passkey{
		ID: base64.RawURLEncoding.EncodeToString([]byte(randomKey(t))), UserID: uid, Name: "Phone",
		PublicKey: []byte{1, 2, 3}, SignCount: 1, CreatedAt: now,
	}
}

// Each passkey operation is the one round trip its doc comment promises, on success and on a
// failed condition alike; reads that decide are strongly consistent.
func TestPasskeyRoundTrips(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	uid, email := randomKey(t), randomKey(t)+"@example.com"
	first, second := testPasskey(t, uid), testPasskey(t, uid)

	oneCallEach(t, api, []roundTrip{
		{"CreateAccount", "TransactWriteItems", func() error {
			return store.CreateAccount(ctx, core.User{ID: uid, Email: email, CreatedAt: now}, first, core.Redemption{})
		}},
		{"CreateAccount conflicting", "TransactWriteItems", func() error {
			err := store.CreateAccount(ctx, core.User{ID: randomKey(t), Email: email, CreatedAt: now}, testPasskey(t, "x"), core.Redemption{})
			if errors.Is(err, core.ErrEmailTaken) {
				return nil
			}
			return errors.Join(errors.New("want email taken"), err)
		}},
		{"UserIDByEmail", "GetItem", func() error {
			got, err := store.UserIDByEmail(ctx, email)
			if err == nil && got != uid {
				return errors.New("wrong user")
			}
			return err
		}},
		{"AddPasskey", "TransactWriteItems", func() error { return store.AddPasskey(ctx, second) }},
		{"AddPasskey taken", "TransactWriteItems", func() error {
			if err := store.AddPasskey(ctx, second); !errors.Is(err, core.ErrPasskeyTaken) {
				return errors.Join(errors.New("want taken"), err)
			}
			return nil
		}},
		{"AddPasskey for nobody", "TransactWriteItems", func() error {
			if err := store.AddPasskey(ctx, testPasskey(t, randomKey(t))); !core.Is(err, core.KindNotFound) {
				return errors.Join(errors.New("want not found"), err)
			}
			return nil
		}},
		{"GetPasskey", "GetItem", func() error { _, err := store.GetPasskey(ctx, first.ID); return err }},
		{"UserPasskeys", "Query", func() error {
			list, err := store.UserPasskeys(ctx, uid)
			if err == nil && len(list) != 2 {
				return errors.New("want two passkeys")
			}
			return err
		}},
		{"RecordUse", "UpdateItem", func() error {
			return store.RecordUse(ctx, first.ID, uid, core.PasskeyUse{SignCount: 2, At: now})
		}},
		{"RecordUse regressed", "UpdateItem", func() error {
			if err := store.RecordUse(ctx, first.ID, uid, core.PasskeyUse{SignCount: 2, At: now}); !errors.Is(err, core.ErrCounterRegressed) {
				return errors.Join(errors.New("want regressed"), err)
			}
			return nil
		}},
		{"RecordUse of another user", "UpdateItem", func() error {
			if err := store.RecordUse(ctx, first.ID, randomKey(t), core.PasskeyUse{SignCount: 9, At: now}); !core.Is(err, core.KindNotFound) {
				return errors.Join(errors.New("want not found"), err)
			}
			return nil
		}},
		{"RenamePasskey", "UpdateItem", func() error { _, err := store.RenamePasskey(ctx, uid, first.ID, "Laptop"); return err }},
		{"DeletePasskey", "TransactWriteItems", func() error { return store.DeletePasskey(ctx, uid, second.ID) }},
		{"DeletePasskey last", "TransactWriteItems", func() error {
			if err := store.DeletePasskey(ctx, uid, first.ID); !errors.Is(err, core.ErrLastPasskey) {
				return errors.Join(errors.New("want last"), err)
			}
			return nil
		}},
	})
}

// The delete that finds the count already lowered by a concurrent delete is refused even when
// DynamoDB first cancels it for a transaction conflict: the retry meets the condition.
func TestDeletePasskeyRetriesTransactionConflicts(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	uid := randomKey(t)
	seed := New(client, table)
	first, second := testPasskey(t, uid), testPasskey(t, uid)
	if err := seed.CreateAccount(ctx, core.User{ID: uid, CreatedAt: now}, first, core.Redemption{}); err != nil {
		t.Fatal(err)
	}
	if err := seed.AddPasskey(ctx, second); err != nil {
		t.Fatal(err)
	}
	once := &conflictingTxAPI{countingAPI: &countingAPI{API: client}, fail: 1}
	if err := New(once, table).DeletePasskey(ctx, uid, second.ID); err != nil {
		t.Fatalf("DeletePasskey after one conflict: %v", err)
	}
	if n := once.ops()["TransactWriteItems"]; n != 2 {
		t.Fatalf("%d TransactWriteItems calls, want 2", n)
	}
	always := &conflictingTxAPI{countingAPI: &countingAPI{API: client}, fail: txAttempts}
	if err := New(always, table).AddPasskey(ctx, testPasskey(t, uid)); !core.Is(err, core.KindUnavailable) {
		t.Fatalf("AddPasskey under persistent conflicts: %v, want unavailable", err)
	}
}

// A credential item holds what docs/architecture.md (single-table items) lists, under the keys it
// names.
func TestCredentialItemLayout(t *testing.T) {
	client, table := testTable(t)
	ctx := context.Background()
	uid := randomKey(t)
	p := testPasskey(t, uid)
	if err := New(client, table).CreateAccount(ctx, core.User{ID: uid, CreatedAt: now}, p, core.Redemption{}); err != nil {
		t.Fatal(err)
	}
	res, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: credentialKey(p.ID).attributes(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for attr, want := range map[string]string{
		attrPK: "CRED#" + p.ID, attrSK: "CRED", attrGSI1PK: "USER#" + uid, attrGSI1SK: credentialSortKey(now, p.ID), attrUserID: uid,
	} {
		if got, _ := res.Item[attr].(*types.AttributeValueMemberS); got == nil || got.Value != want {
			t.Errorf("%s = %v, want %q", attr, res.Item[attr], want)
		}
	}
	if _, ok := res.Item[attrExpiresAt]; ok {
		t.Error("a credential item has an expiresAt")
	}
	user, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: userKey(uid).attributes(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := user.Item[attrPasskeyCount].(*types.AttributeValueMemberN); n == nil || n.Value != "1" {
		t.Errorf("passkeyCount = %v, want 1", user.Item[attrPasskeyCount])
	}
}
