package dynamo

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// API keys are two items each: the lookup item APIKEY#<sha256> that the authorizer reads, and
// a listing item USER#<uid>/APIKEY#<id> in the owner's partition that holds the hash, so that
// the owner's keys list with a strongly consistent Query of the base table. The user item
// counts them (apiKeyCount, the cap's condition) and numbers their changes (apiKeySerial).
// Create and delete are one transaction each over the two items and the user. The Store
// satisfies apikey.Store and apikey.Lookup structurally.

// maxAPIKeys is the most keys a cap may allow: a create deletes up to that many expired keys
// (two items each) in its transaction, beside its own three items, within the 100-item limit.
const maxAPIKeys = 48

// CreateAPIKey stores k (apikey.Store): a strongly consistent Query of the owner's listing
// items finds the keys that have expired at now, then one TransactWriteItems updates the user
// (apiKeyCount up by one less the expired keys, apiKeySerial up by one, on condition that the
// user exists, is not disabled and holds fewer than max keys besides the expired ones), puts
// the lookup and listing items if absent, and deletes each expired key's two items (the
// listing item on condition that it is still there). A create that meets another's cleanup is
// sent again, with a fresh listing, a bounded number of times.
func (s *Store) CreateAPIKey(ctx context.Context, k core.APIKey, max int, now time.Time) error {
	const op core.Op = "dynamo.Store.CreateAPIKey"
	if max < 1 || max > maxAPIKeys || len(k.Hash) == 0 || k.ID == "" || k.UserID == "" {
		return core.E(op, core.KindInternal, "", errors.New("an API key needs a hash, an id, an owner and a cap from 1 to 48"))
	}
	lookup, listing := newAPIKeyItems(k)
	lookupAV, err := attributevalue.MarshalMap(lookup)
	if err != nil {
		return core.Wrap(op, err)
	}
	listingAV, err := attributevalue.MarshalMap(listing)
	if err != nil {
		return core.Wrap(op, err)
	}
	var lastErr error
	for attempt := range txAttempts {
		if attempt > 0 {
			if werr := pause(ctx, attempt); werr != nil {
				return classify(op, werr, core.KindInternal)
			}
		}
		listed, err := s.listAPIKeys(ctx, op, k.UserID)
		if err != nil {
			return err
		}
		var expired []apiKeyListingItem
		for _, it := range listed {
			if !it.liveAt(now) {
				expired = append(expired, it)
			}
		}
		absent := aws.String("attribute_not_exists(#pk)")
		items := []types.TransactWriteItem{
			{Update: &types.Update{
				TableName:        aws.String(s.table),
				Key:              userKey(k.UserID).attributes(),
				UpdateExpression: aws.String("ADD #count :delta, #serial :one"),
				ConditionExpression: aws.String("attribute_exists(#pk) AND (attribute_not_exists(#dis) OR #dis = :false) AND " +
					"(attribute_not_exists(#count) OR #count < :limit)"),
				ExpressionAttributeNames: map[string]string{
					"#pk": attrPK, "#dis": attrDisabled, "#count": attrAPIKeyCount, "#serial": attrAPIKeySerial,
				},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":delta": number(int64(1 - len(expired))), ":one": number(1), ":limit": number(int64(max + len(expired))),
					":false": &types.AttributeValueMemberBOOL{Value: false},
				},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}},
			{Put: &types.Put{TableName: aws.String(s.table), Item: lookupAV, ConditionExpression: absent, ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
			{Put: &types.Put{TableName: aws.String(s.table), Item: listingAV, ConditionExpression: absent, ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
		}
		for _, it := range expired {
			items = append(items,
				types.TransactWriteItem{Delete: &types.Delete{
					TableName: aws.String(s.table), Key: it.itemKey.attributes(),
					ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK},
				}},
				types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: apiKeyKey(it.Hash).attributes()}})
		}
		failed, err := s.transact(ctx, op, items)
		if failed < 0 {
			return err
		}
		lastErr = err
		for i := 3; i < len(items); i += 2 {
			if conditionFailedAt(err, i) {
				failed = -1 // another create cleaned up an expired key meanwhile: list again
			}
		}
		switch {
		case failed < 0:
			continue
		case failed > 0:
			return core.E(op, core.KindConflict, "", errors.New("the API key's id or hash is taken"))
		}
		var user userItem
		if old := failedItem(err, 0); len(old) == 0 {
			return core.E(op, core.KindNotFound, "", err)
		} else if err := attributevalue.UnmarshalMap(old, &user); err != nil {
			return core.Wrap(op, err)
		}
		if user.Disabled {
			return core.E(op, core.KindConflict, "", core.ErrOwnerDisabled)
		}
		return core.E(op, core.KindConflict, "", core.ErrTooManyAPIKeys)
	}
	return core.E(op, core.KindUnavailable, detailUnavailable, lastErr)
}

// ListAPIKeys returns user uid's keys live at now, oldest first (apikey.Store): one strongly
// consistent Query of the listing items, then, if there are any, one strongly consistent
// BatchGetItem of their lookup items for LastUsedAt. A key deleted between the two is left out.
func (s *Store) ListAPIKeys(ctx context.Context, uid string, now time.Time) ([]core.APIKey, error) {
	const op core.Op = "dynamo.Store.ListAPIKeys"
	listed, err := s.listAPIKeys(ctx, op, uid)
	if err != nil {
		return nil, err
	}
	var live []apiKeyListingItem
	var keys []map[string]types.AttributeValue
	for _, it := range listed {
		if it.liveAt(now) {
			live = append(live, it)
			keys = append(keys, apiKeyKey(it.Hash).attributes())
		}
	}
	found, err := s.batchGet(ctx, op, keys)
	if err != nil {
		return nil, err
	}
	out := []core.APIKey{}
	for _, it := range live {
		av, ok := found[apiKeyKey(it.Hash).PK]
		if !ok {
			continue
		}
		var item apiKeyItem
		if err := attributevalue.UnmarshalMap(av, &item); err != nil {
			return nil, core.Wrap(op, err)
		}
		k := item.apiKey(nil)
		out = append(out, k)
	}
	return out, nil
}

// DeleteAPIKey deletes user uid's key id (apikey.Store): a strongly consistent GetItem of the
// listing item for the key's hash, then one TransactWriteItems of the delete of the listing
// item (on condition that it is there), the delete of the lookup item and the user's
// apiKeyCount down by one and apiKeySerial up by one. KindNotFound if uid has no key id.
func (s *Store) DeleteAPIKey(ctx context.Context, uid, id string) error {
	const op core.Op = "dynamo.Store.DeleteAPIKey"
	if uid == "" || id == "" {
		return core.E(op, core.KindNotFound, "", nil)
	}
	var listing apiKeyListingItem
	if err := s.getLive(ctx, op, apiKeyListingKey(uid, id), time.Time{}, &listing); err != nil {
		return err
	}
	failed, err := s.transact(ctx, op, []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: aws.String(s.table), Key: listing.itemKey.attributes(),
			ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		{Delete: &types.Delete{TableName: aws.String(s.table), Key: apiKeyKey(listing.Hash).attributes()}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       userKey(uid).attributes(),
			UpdateExpression:          aws.String("ADD #count :minus, #serial :one"),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#count": attrAPIKeyCount, "#serial": attrAPIKeySerial},
			ExpressionAttributeValues: map[string]types.AttributeValue{":minus": number(-1), ":one": number(1)},
		}},
	})
	if failed >= 0 {
		return core.E(op, core.KindNotFound, "", err)
	}
	return err
}

// GetAPIKey returns the key stored under hash with one strongly consistent GetItem of its
// lookup item (apikey.Lookup); KindNotFound if absent or expired at now.
func (s *Store) GetAPIKey(ctx context.Context, hash []byte, now time.Time) (core.APIKey, error) {
	const op core.Op = "dynamo.Store.GetAPIKey"
	if len(hash) == 0 {
		return core.APIKey{}, core.E(op, core.KindNotFound, "", nil)
	}
	var item apiKeyItem
	if err := s.getLive(ctx, op, apiKeyKey(hash), now, &item); err != nil {
		return core.APIKey{}, err
	}
	return item.apiKey(hash), nil
}

// TouchAPIKey sets lastUsedAt of the key stored under hash to at (apikey.Lookup), with one
// UpdateItem on condition that the key exists and lastUsedAt is absent or before staleBefore;
// KindConflict if not.
func (s *Store) TouchAPIKey(ctx context.Context, hash []byte, at, staleBefore time.Time) error {
	const op core.Op = "dynamo.Store.TouchAPIKey"
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       apiKeyKey(hash).attributes(),
		UpdateExpression:          aws.String("SET #used = :at"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND (attribute_not_exists(#used) OR #used < :stale)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#used": attrLastUsedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": number(epoch(at)), ":stale": number(epoch(staleBefore))},
	})
	if err != nil {
		return classify(op, err, core.KindConflict)
	}
	return nil
}

// DisableUser disables user uid and stops every one of their API keys at once: one strongly
// consistent GetItem of the user for its apiKeySerial, one strongly consistent Query of the
// user's listing items, then one TransactWriteItems that sets the user's disabled, on
// condition that apiKeySerial is still the one read (no key was created or deleted since the
// listing), and every listed live key's ownerDisabled. A create or delete meanwhile makes it
// list again, a bounded number of times (KindUnavailable if they keep coming); the user item
// refuses new keys once disabled, so a disabled user never holds a live key. KindNotFound if
// the user does not exist.
//
// No use case calls it: like CreateUser it is an operator's and the tests' seam (an operators'
// API would be its caller), not a port.
func (s *Store) DisableUser(ctx context.Context, uid string, now time.Time) error {
	const op core.Op = "dynamo.Store.DisableUser"
	var lastErr error
	for attempt := range txAttempts {
		if attempt > 0 {
			if werr := pause(ctx, attempt); werr != nil {
				return classify(op, werr, core.KindInternal)
			}
		}
		var user userItem
		if err := s.getLive(ctx, op, userKey(uid), time.Time{}, &user); err != nil {
			return err
		}
		listed, err := s.listAPIKeys(ctx, op, uid)
		if err != nil {
			return err
		}
		cond, values := "attribute_exists(#pk) AND attribute_not_exists(#serial)", map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
		}
		if user.APIKeySerial != 0 {
			cond = "attribute_exists(#pk) AND #serial = :serial"
			values[":serial"] = number(user.APIKeySerial)
		}
		items := []types.TransactWriteItem{{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       userKey(uid).attributes(),
			UpdateExpression:          aws.String("SET #dis = :true"),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#dis": attrDisabled, "#serial": attrAPIKeySerial},
			ExpressionAttributeValues: values,
		}}}
		for _, it := range listed {
			if !it.liveAt(now) {
				continue // refused anyway, and TTL may have taken its lookup item
			}
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:                 aws.String(s.table),
				Key:                       apiKeyKey(it.Hash).attributes(),
				UpdateExpression:          aws.String("SET #od = :true"),
				ConditionExpression:       aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#od": attrOwnerDisabled},
				ExpressionAttributeValues: map[string]types.AttributeValue{":true": &types.AttributeValueMemberBOOL{Value: true}},
			}})
		}
		failed, err := s.transact(ctx, op, items)
		if failed < 0 {
			return err
		}
		lastErr = err
	}
	return core.E(op, core.KindUnavailable, detailUnavailable, lastErr)
}

// listAPIKeys reads every listing item of user uid with a strongly consistent Query of the
// user's partition on the base table, oldest key first (ids are random, so the order is by
// creation time, then id).
func (s *Store) listAPIKeys(ctx context.Context, op core.Op, uid string) ([]apiKeyListingItem, error) {
	var out []apiKeyListingItem
	var start map[string]types.AttributeValue
	for {
		res, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:              aws.String(s.table),
			KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
			ExpressionAttributeNames: map[string]string{
				"#pk": attrPK, "#sk": attrSK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: userKey(uid).PK}, ":prefix": &types.AttributeValueMemberS{Value: apiKeysPrefix},
			},
			ConsistentRead:    aws.Bool(true),
			ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, classify(op, err, core.KindInternal)
		}
		for _, av := range res.Items {
			var it apiKeyListingItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, core.Wrap(op, err)
			}
			out = append(out, it)
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		start = res.LastEvaluatedKey
	}
	slices.SortFunc(out, func(a, b apiKeyListingItem) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.SK, b.SK))
	})
	return out, nil
}

// batchGet reads keys with strongly consistent BatchGetItem calls (at most 100 keys each),
// asking again for keys DynamoDB left unprocessed a bounded number of times, and returns the
// items found by pk. KindUnavailable if keys stay unprocessed.
func (s *Store) batchGet(ctx context.Context, op core.Op, keys []map[string]types.AttributeValue) (map[string]map[string]types.AttributeValue, error) {
	found := make(map[string]map[string]types.AttributeValue, len(keys))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 100)]
		keys = keys[len(batch):]
		for attempt := 0; len(batch) > 0; attempt++ {
			if attempt == batchAttempts {
				return nil, core.E(op, core.KindUnavailable, detailUnavailable, errors.New("BatchGetItem left keys unprocessed"))
			}
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return nil, classify(op, err, core.KindInternal)
				}
			}
			res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: batch, ConsistentRead: aws.Bool(true)}},
			})
			if err != nil {
				return nil, classify(op, err, core.KindInternal)
			}
			for _, item := range res.Responses[s.table] {
				if pk, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
					found[pk.Value] = item
				}
			}
			batch = res.UnprocessedKeys[s.table].Keys
		}
	}
	return found, nil
}
