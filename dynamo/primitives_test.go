package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/latchkey/latchkey/core"
)

var now = time.Date(2100, time.March, 1, 12, 0, 0, 0, time.UTC)

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// roundTrip is one store call and the one API operation it must cost.
type roundTrip struct {
	name string
	op   string
	call func() error
}

// oneCallEach runs steps in order and checks that each makes exactly one API call, of its
// operation, and that a GetItem among them reads strongly consistently.
func oneCallEach(t *testing.T, api *countingAPI, steps []roundTrip) {
	t.Helper()
	for _, step := range steps {
		before := api.ops()
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for op, n := range api.ops() {
			n -= before[op]
			switch {
			case op == step.op && n != 1:
				t.Errorf("%s made %d %s calls, want 1", step.name, n, op)
			case op != step.op && n != 0:
				t.Errorf("%s made %d %s calls, want none", step.name, n, op)
			}
		}
		if step.op == "GetItem" && !aws.ToBool(api.lastGet.ConsistentRead) {
			t.Errorf("%s: GetItem is not strongly consistent", step.name)
		}
	}
}

// countingAPI counts the calls made through it, in total and per operation, and keeps the
// last GetItem and BatchGetItem inputs.
type countingAPI struct {
	API
	calls     atomic.Int64
	mu        sync.Mutex
	byOp      map[string]int
	lastGet   *dynamodb.GetItemInput
	lastBatch *dynamodb.BatchGetItemInput
}

// count records one call of operation op.
func (c *countingAPI) count(op string) {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byOp == nil {
		c.byOp = make(map[string]int)
	}
	c.byOp[op]++
}

// ops returns a copy of the per-operation counts so far.
func (c *countingAPI) ops() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byOp)
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.count("GetItem")
	c.mu.Lock()
	c.lastGet = in
	c.mu.Unlock()
	return c.API.GetItem(ctx, in, optFns...)
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.API.PutItem(ctx, in, optFns...)
}

func (c *countingAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	c.count("DeleteItem")
	return c.API.DeleteItem(ctx, in, optFns...)
}

func (c *countingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count("UpdateItem")
	return c.API.UpdateItem(ctx, in, optFns...)
}

func (c *countingAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.count("BatchGetItem")
	c.mu.Lock()
	c.lastBatch = in
	c.mu.Unlock()
	return c.API.BatchGetItem(ctx, in, optFns...)
}

func (c *countingAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.count("TransactWriteItems")
	return c.API.TransactWriteItems(ctx, in, optFns...)
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query")
	return c.API.Query(ctx, in, optFns...)
}

// Every port method is one round trip, and the denylist read is strongly consistent
// (docs/security.md, sessions and refresh: the revocation path reads the base table consistently).
func TestOneRoundTripEach(t *testing.T) {
	client, table := testTable(t)
	api := &countingAPI{API: client}
	store := New(api, table)
	ctx := context.Background()
	id, jti, key := randomKey(t), randomKey(t), randomKey(t)

	for _, step := range []struct {
		name string
		call func() error
	}{
		{"PutChallenge", func() error {
			return store.PutChallenge(ctx, core.Challenge{ID: id, Ceremony: core.CeremonyLogin, State: []byte("s"), ExpiresAt: now.Add(time.Minute)}, now)
		}},
		{"PutChallenge conflicting", func() error {
			err := store.PutChallenge(ctx, core.Challenge{ID: id, Ceremony: core.CeremonyLogin, ExpiresAt: now.Add(time.Minute)}, now)
			if core.Is(err, core.KindConflict) {
				return nil
			}
			return err
		}},
		{"TakeChallenge", func() error { _, err := store.TakeChallenge(ctx, id, now); return err }},
		{"TakeChallenge again", func() error {
			_, err := store.TakeChallenge(ctx, id, now)
			if core.Is(err, core.KindNotFound) {
				return nil
			}
			return err
		}},
		{"DenyToken", func() error { return store.DenyToken(ctx, jti, now.Add(time.Minute)) }},
		{"GetSession", func() error {
			_, err := store.GetSession(ctx, jti, now)
			if core.Is(err, core.KindNotFound) {
				return nil
			}
			return err
		}},
		{"Hit new", func() error { _, err := store.Hit(ctx, key, time.Minute, now); return err }},
		{"Hit existing", func() error { _, err := store.Hit(ctx, key, time.Minute, now); return err }},
	} {
		before := api.calls.Load()
		if err := step.call(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if n := api.calls.Load() - before; n != 1 {
			t.Errorf("%s made %d calls, want 1", step.name, n)
		}
	}
	if api.lastGet == nil || api.lastGet.ConsistentRead == nil || !*api.lastGet.ConsistentRead {
		t.Error("GetSession's GetItem is not strongly consistent")
	}
}

// A counter item that is not live at now must not leak into the count, even at the very key
// the current window uses (a writer with a skewed idea of the window could leave one there),
// and of many writers that find it stale exactly one restarts it.
func TestHitRestartsAStaleCounter(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	start := core.WindowStart(now, time.Minute)

	for _, writers := range []int{1, 50} {
		key := randomKey(t)
		stale := counterItem{itemKey: rateKey(key, time.Minute, start), Hits: 40, ExpiresAt: epoch(now)}
		if err := store.put(ctx, "test", stale); err != nil {
			t.Fatalf("put stale counter: %v", err)
		}
		got := make([]int64, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() { got[i], errs[i] = store.Hit(ctx, key, time.Minute, now) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("Hit: %v", err)
			}
		}
		slices.Sort(got)
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("%d writers on a stale counter got %v, want 1..%d", writers, got, writers)
			}
		}
	}
}

// Items without expiresAt (users, credentials) never expire: the primitives treat them as live.
func TestItemsWithoutExpiryAreLive(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	type plainItem struct {
		itemKey
		Name string `dynamodbav:"name"`
	}
	k := itemKey{PK: "TEST#" + randomKey(t), SK: "TEST"}
	if err := store.putIfAbsent(ctx, "test", plainItem{itemKey: k, Name: "a"}, now); err != nil {
		t.Fatalf("putIfAbsent: %v", err)
	}
	if err := store.putIfAbsent(ctx, "test", plainItem{itemKey: k, Name: "b"}, now.AddDate(100, 0, 0)); !core.Is(err, core.KindConflict) {
		t.Fatalf("second putIfAbsent: got %v, want conflict", err)
	}
	var got plainItem
	if err := store.getLive(ctx, "test", k, now.AddDate(100, 0, 0), &got); err != nil || got.Name != "a" {
		t.Fatalf("getLive: got %+v, %v; want name a", got, err)
	}
	var taken plainItem
	if err := store.takeLive(ctx, "test", k, now.AddDate(100, 0, 0), &taken); err != nil || taken.Name != "a" {
		t.Fatalf("takeLive: got %+v, %v; want name a", taken, err)
	}
	if err := store.getLive(ctx, "test", k, now, &got); !core.Is(err, core.KindNotFound) {
		t.Fatalf("getLive after take: got %v, want not found", err)
	}
}

// An expired item is absent to getLive and takeLive but stays in the table until TTL deletes
// it; takeLive must not delete it (nor return it).
func TestExpiredItemsAreAbsentButKept(t *testing.T) {
	store := testStore(t)
	ctx := context.Background()
	k := jtiKey(randomKey(t))
	if err := store.put(ctx, "test", jtiItem{itemKey: k, ExpiresAt: epoch(now)}); err != nil {
		t.Fatalf("put: %v", err)
	}
	var item jtiItem
	if err := store.getLive(ctx, "test", k, now, &item); !core.Is(err, core.KindNotFound) {
		t.Fatalf("getLive at expiry: got %v, want not found", err)
	}
	if err := store.takeLive(ctx, "test", k, now, &item); !core.Is(err, core.KindNotFound) {
		t.Fatalf("takeLive at expiry: got %v, want not found", err)
	}
	if err := store.getLive(ctx, "test", k, now.Add(-time.Second), &item); err != nil || item.ExpiresAt != epoch(now) {
		t.Fatalf("getLive before expiry: got %+v, %v; want the item still stored", item, err)
	}
}
