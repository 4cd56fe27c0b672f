package dynamo

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/apikey"
	"github.com/latchkey/latchkey/core/apikey/apikeytest"
)

// The Store is the API keys' store; package dynamo itself never imports core/apikey.
var (
	_ apikey.Store  = (*Store)(nil)
	_ apikey.Lookup = (*Store)(nil)
)

func TestAPIKeyStore(t *testing.T) {
	apikeytest.TestStore(t, func(t *testing.T) apikeytest.Store { return testStore(t) })
}

// The lookup and listing items hold what docs/architecture.md (single-table items) lists,
// under the keys it names; the user item counts the keys.
func TestAPIKeyItemLayout(t *testing.T) {
	client, table := testTable(t)
	store := New(client, table)
	ctx := context.Background()
	uid := randomKey(t)
	if err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	k := apikeytest.NewKey(t, uid, now)
	k.ExpiresAt = now.Add(time.Hour)
	if err := store.CreateAPIKey(ctx, k, 5, now); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString(k.Hash)
	scopes := &types.AttributeValueMemberL{Value: []types.AttributeValue{str("orders:read"), str("orders:write")}}
	lookup := getRaw(t, client, table, apiKeyKey(k.Hash))
	wantAttrs(t, "lookup item", lookup, map[string]types.AttributeValue{
		attrPK: str("APIKEY#" + b64), attrSK: str("APIKEY"), "keyId": str(k.ID), "userId": str(uid), "name": str(k.Name),
		"prefix": str(k.Prefix), "last4": str(k.Last4), "createdAt": number(epoch(k.CreatedAt)),
		attrExpiresAt: number(epoch(k.ExpiresAt)), "ownerDisabled": &types.AttributeValueMemberBOOL{Value: false},
	})
	if l, ok := lookup["scopes"].(*types.AttributeValueMemberL); !ok || len(l.Value) != len(scopes.Value) {
		t.Errorf("lookup item scopes: %#v", lookup["scopes"])
	}
	listing := getRaw(t, client, table, apiKeyListingKey(uid, k.ID))
	wantAttrs(t, "listing item", listing, map[string]types.AttributeValue{
		attrPK: str("USER#" + uid), attrSK: str("APIKEY#" + k.ID), "hash": bin(k.Hash), "name": str(k.Name),
		"prefix": str(k.Prefix), "last4": str(k.Last4), "keyExpiresAt": number(epoch(k.ExpiresAt)),
	})
	if _, ok := listing[attrExpiresAt]; ok {
		t.Error("a listing item has the TTL attribute: TTL would take it from under the count")
	}
	wantAttrs(t, "user", getRaw(t, client, table, userKey(uid)), map[string]types.AttributeValue{
		"apiKeyCount": number(1), "apiKeySerial": number(1),
	})
	if err := store.DisableUser(ctx, uid, now); err != nil {
		t.Fatal(err)
	}
	wantAttrs(t, "lookup item of a disabled user", getRaw(t, client, table, apiKeyKey(k.Hash)), map[string]types.AttributeValue{
		"ownerDisabled": &types.AttributeValueMemberBOOL{Value: true},
	})
	wantAttrs(t, "disabled user", getRaw(t, client, table, userKey(uid)), map[string]types.AttributeValue{
		"disabled": &types.AttributeValueMemberBOOL{Value: true},
	})
}

// A key made by the use case is shown once and never stored: no attribute of any item in the
// table holds the key, or its random part.
func TestTheTableHoldsNoAPIKey(t *testing.T) {
	client, table := testTable(t)
	store := New(client, table)
	ctx := context.Background()
	uid := randomKey(t)
	if err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	keys := &apikey.Keys{Store: store, Audit: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now, Env: "test", Max: 5, ReauthMaxAge: 5 * time.Minute}
	c := core.AccessClaims{Subject: uid, AuthTime: time.Now()}
	made, err := keys.Create(ctx, c, apikey.CreateRequest{Name: "ci"}, core.Client{})
	if err != nil {
		t.Fatal(err)
	}
	secret := made.Key[len("lk_test_") : len(made.Key)-6]
	var start map[string]types.AttributeValue
	for {
		res, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), ExclusiveStartKey: start})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range res.Items {
			for name, av := range item {
				if s, ok := av.(*types.AttributeValueMemberS); ok && (strings.Contains(s.Value, secret) || strings.Contains(s.Value, made.Key)) {
					t.Fatalf("the table holds the key in %s of %v", name, item[attrPK])
				}
			}
		}
		if start = res.LastEvaluatedKey; len(start) == 0 {
			break
		}
	}
	v := &apikey.Verifier{Lookup: store, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now, Env: "test"}
	if got, err := v.Authenticate(ctx, made.Key); err != nil || got.ID != made.APIKey.ID {
		t.Fatalf("Authenticate of the new key: %+v %v", got, err)
	}
}

// Each API-key operation costs the round trips its doc comment promises; the reads are
// strongly consistent.
func TestAPIKeyRoundTrips(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	uid := randomKey(t)
	if err := store.CreateUser(ctx, core.User{ID: uid, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	k := apikeytest.NewKey(t, uid, now)
	cases := []struct {
		what string
		run  func() error
		want map[string]int
	}{
		{"CreateAPIKey", func() error { return store.CreateAPIKey(ctx, k, 5, now) }, map[string]int{"Query": 1, "TransactWriteItems": 1}},
		{"ListAPIKeys", func() error { _, err := store.ListAPIKeys(ctx, uid, now); return err }, map[string]int{"Query": 1, "BatchGetItem": 1}},
		{"ListAPIKeys of none", func() error { _, err := store.ListAPIKeys(ctx, randomKey(t), now); return err }, map[string]int{"Query": 1}},
		{"GetAPIKey", func() error { _, err := store.GetAPIKey(ctx, k.Hash, now); return err }, map[string]int{"GetItem": 1}},
		{"TouchAPIKey", func() error { return store.TouchAPIKey(ctx, k.Hash, now, now.Add(-time.Minute)) }, map[string]int{"UpdateItem": 1}},
		{"DisableUser", func() error { return store.DisableUser(ctx, uid, now) }, map[string]int{"GetItem": 1, "Query": 1, "TransactWriteItems": 1}},
		{"DeleteAPIKey", func() error { return store.DeleteAPIKey(ctx, uid, k.ID) }, map[string]int{"GetItem": 1, "TransactWriteItems": 1}},
		{"DeleteAPIKey unknown", func() error {
			if err := store.DeleteAPIKey(ctx, uid, k.ID); !core.Is(err, core.KindNotFound) {
				return err
			}
			return nil
		}, map[string]int{"GetItem": 1}},
	}
	for _, c := range cases {
		before := api.ops()
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		wantOps(t, c.what, before, api.ops(), c.want)
		if c.want["GetItem"] > 0 && !aws.ToBool(api.lastGet.ConsistentRead) {
			t.Errorf("%s: GetItem is not strongly consistent", c.what)
		}
	}
}
