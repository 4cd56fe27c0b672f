package dynamo

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// Hit adds one to the counter for key in the window of the given length that contains now and
// returns the new count (core.Counters). The counter item's TTL is the window's end plus one
// window. The window must be a whole number of seconds, at least one; anything else is a bug
// of the caller (KindInternal).
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	const op core.Op = "dynamo.Store.Hit"
	if window < time.Second || window%time.Second != 0 {
		return 0, core.Wrap(op, errors.New("counter window must be whole seconds"))
	}
	start := core.WindowStart(now, window)
	return s.hit(ctx, op, rateKey(key, window, start), start.Add(2*window), now)
}

// hitAttempts bounds how often hit restarts a stale counter before giving up. One restart is
// all a correct table ever needs.
const hitAttempts = 3

// hit atomically adds one to the counter item at k and returns the count after the addition,
// creating the item with TTL exp if it is absent. Usually one UpdateItem round trip.
//
// A counter item at k that is not live at now (left by a writer with another idea of the
// window) must not leak into the count: the UpdateItem is conditioned on the item being absent
// or live, and when it is stale a conditional PutItem restarts it at 1. Of several writers
// finding it stale, one restarts it and the others add to the restarted counter.
func (s *Store) hit(ctx context.Context, op core.Op, k itemKey, exp, now time.Time) (int64, error) {
	for range hitAttempts {
		hits, err := s.addHit(ctx, k, exp, now)
		if err == nil {
			return hits, nil
		}
		if !conditionFailed(err) {
			return 0, classify(op, err, core.KindInternal)
		}
		err = s.restartCounter(ctx, k, exp, now)
		if err == nil {
			return 1, nil
		}
		if !conditionFailed(err) {
			return 0, classify(op, err, core.KindInternal)
		}
	}
	return 0, core.Wrap(op, errors.New("counter kept going stale"))
}

// addHit is ADD hits :one on the item at k, unless the item exists and is not live at now.
func (s *Store) addHit(ctx context.Context, k itemKey, exp, now time.Time) (int64, error) {
	names := map[string]string{"#pk": attrPK, "#exp": attrExpiresAt, "#hits": attrHits}
	values := expiryValues(now)
	values[":one"] = number(1)
	values[":exp"] = number(epoch(exp))
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       k.attributes(),
		UpdateExpression:          aws.String("ADD #hits :one SET #exp = if_not_exists(#exp, :exp)"),
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #exp > :now"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, err
	}
	n, ok := res.Attributes[attrHits].(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("UpdateItem returned no hits")
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

// restartCounter replaces the item at k with a counter at 1, if the item there is not live at
// now.
func (s *Store) restartCounter(ctx context.Context, k itemKey, exp, now time.Time) error {
	av, err := attributevalue.MarshalMap(counterItem{itemKey: k, Hits: 1, ExpiresAt: epoch(exp)})
	if err != nil {
		return err
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      av,
		ConditionExpression:       aws.String("#exp <= :now"),
		ExpressionAttributeNames:  map[string]string{"#exp": attrExpiresAt},
		ExpressionAttributeValues: expiryValues(now),
	})
	return err
}
