package dynamo

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// The generic single-item primitives every entity is stored with. Each is one round trip and
// applies the expiry rule of docs/architecture.md (single-table items): an item is live at now if
// it has no expiresAt or its expiresAt is after now; an item that is not live is absent, whether or
// not TTL has deleted it yet.

// Condition expressions over the placeholders of expiryNames and expiryValues. They are exact
// negations of each other, so a write conditioned on one agrees with a read that applies
// isLive. Callers may extend them with AND and more placeholders.
const (
	condLive   = "attribute_exists(#pk) AND (attribute_not_exists(#exp) OR #exp > :now)"
	condAbsent = "attribute_not_exists(#pk) OR #exp <= :now"
)

// expiryNames returns a fresh ExpressionAttributeNames map for condLive and condAbsent.
func expiryNames() map[string]string {
	return map[string]string{"#pk": attrPK, "#exp": attrExpiresAt}
}

// expiryValues returns a fresh ExpressionAttributeValues map binding :now for condLive and
// condAbsent.
func expiryValues(now time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{":now": number(epoch(now))}
}

// number is n as a DynamoDB Number.
func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// isLive reports whether item is live at now: it has no expiresAt, or one after now.
func isLive(item map[string]types.AttributeValue, now time.Time) (bool, error) {
	av, ok := item[attrExpiresAt]
	if !ok {
		return true, nil
	}
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return false, errors.New("expiresAt is not a Number")
	}
	exp, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return false, errors.New("expiresAt is not whole epoch seconds")
	}
	return exp > epoch(now), nil
}

// getLive reads the item at k with a strongly consistent GetItem and unmarshals it into out,
// a pointer to an item struct. An absent item, or one that is not live at now, answers
// KindNotFound and leaves out alone.
func (s *Store) getLive(ctx context.Context, op core.Op, k itemKey, now time.Time, out any) error {
	res, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            k.attributes(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return classify(op, err, core.KindInternal)
	}
	if len(res.Item) == 0 {
		return core.E(op, core.KindNotFound, "", nil)
	}
	live, err := isLive(res.Item, now)
	if err != nil {
		return core.Wrap(op, err)
	}
	if !live {
		return core.E(op, core.KindNotFound, "", nil)
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return core.Wrap(op, err)
	}
	return nil
}

// putIfAbsent writes item, an item struct embedding its itemKey, unless a live item already
// has that key (KindConflict). An item with that key that is not live at now is absent and is
// replaced.
func (s *Store) putIfAbsent(ctx context.Context, op core.Op, item any, now time.Time) error {
	return s.putWhere(ctx, op, item, condition{expr: condAbsent, names: expiryNames(), values: expiryValues(now)})
}

// create writes item, an item struct embedding its itemKey, unless any item has that key, live
// or not (KindConflict): for items under random keys, whose writer passes no now.
func (s *Store) create(ctx context.Context, op core.Op, item any) error {
	return s.putWhere(ctx, op, item, condition{expr: "attribute_not_exists(#pk)", names: map[string]string{"#pk": attrPK}})
}

// put writes item, an item struct embedding its itemKey, replacing whatever has its key.
func (s *Store) put(ctx context.Context, op core.Op, item any) error {
	return s.putWhere(ctx, op, item, condition{})
}

// putWhere writes item with one PutItem on condition cond (the zero condition: whatever is
// there); a failed condition is KindConflict.
func (s *Store) putWhere(ctx context.Context, op core.Op, item any, cond condition) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return core.Wrap(op, err)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: av}
	if cond.expr != "" {
		in.ConditionExpression = aws.String(cond.expr)
		in.ExpressionAttributeNames, in.ExpressionAttributeValues = cond.names, cond.values
	}
	if _, err := s.api.PutItem(ctx, in); err != nil {
		return classify(op, err, core.KindConflict)
	}
	return nil
}

// takeLive deletes the item at k and unmarshals what it held into out, in one conditional
// DeleteItem with ReturnValues ALL_OLD, so that of any number of concurrent takers exactly one
// gets the item. An absent item, an already taken one, or one that is not live at now answers
// KindNotFound; an expired item is left for TTL to delete and is never returned.
func (s *Store) takeLive(ctx context.Context, op core.Op, k itemKey, now time.Time, out any) error {
	return s.takeLiveWhere(ctx, op, k, now, condition{}, out)
}

// condition is a condition expression with its own placeholders: a write's whole condition
// (putWhere), or one joined to condLive with AND (takeLiveWhere). The zero condition is none.
type condition struct {
	expr   string
	names  map[string]string
	values map[string]types.AttributeValue
}

// takeLiveWhere is takeLive on condition that the item also satisfies also: an item that does
// not is left in place and answers KindNotFound, like an absent one.
func (s *Store) takeLiveWhere(ctx context.Context, op core.Op, k itemKey, now time.Time, also condition, out any) error {
	expr, names, values := condLive, expiryNames(), expiryValues(now)
	if also.expr != "" {
		expr += " AND " + also.expr
		maps.Copy(names, also.names)
		maps.Copy(values, also.values)
	}
	res, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       k.attributes(),
		ConditionExpression:       aws.String(expr),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	if err := attributevalue.UnmarshalMap(res.Attributes, out); err != nil {
		return core.Wrap(op, err)
	}
	return nil
}

// queryUserItems reads the items of user uid whose gsi1 sort key starts with prefix, oldest
// first or newest first, following pages until max items have been read, and hands each to
// each. gsi1 is eventually consistent: listings only, never decisions.
func (s *Store) queryUserItems(ctx context.Context, op core.Op, uid, prefix string, newestFirst bool, max int, each func(map[string]types.AttributeValue) error) error {
	return s.queryGSI1(ctx, op, userQuery{uid: uid, prefix: prefix, newestFirst: newestFirst, max: max}, each)
}

// userQuery is one listing of a user's items in gsi1.
type userQuery struct {
	uid, prefix string
	newestFirst bool
	// max stops the listing once that many items have been read; 0 reads every page to the end.
	max int
	// filter, when set, is a FilterExpression over the placeholders of names and values:
	// DynamoDB still reads the items it drops, but does not send them.
	filter string
	names  map[string]string
	values map[string]types.AttributeValue
}

// queryGSI1 runs q, following pages as q.max says, and hands each item to each.
func (s *Store) queryGSI1(ctx context.Context, op core.Op, q userQuery, each func(map[string]types.AttributeValue) error) error {
	names := map[string]string{"#gpk": attrGSI1PK, "#gsk": attrGSI1SK}
	values := map[string]types.AttributeValue{
		":user":   &types.AttributeValueMemberS{Value: userPartition(q.uid)},
		":prefix": &types.AttributeValueMemberS{Value: q.prefix},
	}
	maps.Copy(names, q.names)
	maps.Copy(values, q.values)
	var start map[string]types.AttributeValue
	for read := 0; q.max == 0 || read < q.max; {
		in := &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String(indexGSI1),
			KeyConditionExpression:    aws.String("#gpk = :user AND begins_with(#gsk, :prefix)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
			ScanIndexForward:          aws.Bool(!q.newestFirst),
			ExclusiveStartKey:         start,
		}
		if q.max > 0 {
			in.Limit = aws.Int32(int32(q.max - read))
		}
		if q.filter != "" {
			in.FilterExpression = aws.String(q.filter)
		}
		res, err := s.api.Query(ctx, in)
		if err != nil {
			return classify(op, err, core.KindInternal)
		}
		read += len(res.Items)
		for _, item := range res.Items {
			if err := each(item); err != nil {
				return core.Wrap(op, err)
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return nil
		}
		start = res.LastEvaluatedKey
	}
	return nil
}
