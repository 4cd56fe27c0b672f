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

// maxListed bounds how many session items UserSessions reads for one user, live or not. The
// listing is newest first, so what the bound cuts off is the oldest sessions.
const maxListed = 1000

// CreateSession stores sess unless a session with its id is live at sess.CreatedAt
// (core.SessionStore; the port passes no now, and a session is created at its CreatedAt). A
// session with that id past its ExpiresAt counts as absent and is replaced. Times are kept to
// the second, rounded down.
func (s *Store) CreateSession(ctx context.Context, sess core.Session) error {
	const op core.Op = "dynamo.Store.CreateSession"
	return s.putIfAbsent(ctx, op, newSessionItem(sess), sess.CreatedAt)
}

// GetSession returns session id with one strongly consistent GetItem (core.SessionStore);
// KindNotFound if it is absent or past ExpiresAt at now. Revoked and idle-expired sessions are
// returned.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (core.Session, error) {
	const op core.Op = "dynamo.Store.GetSession"
	var item sessionItem
	if err := s.getLive(ctx, op, sessionKey(id), now, &item); err != nil {
		return core.Session{}, err
	}
	return item.session(), nil
}

// RotateRefresh advances session id from generation from to from+1 (core.SessionStore;
// RFC 9700 §4.14.2) with one conditional UpdateItem. Whether the condition holds or not, that
// one round trip answers: ReturnValues ALL_NEW gives the session after a rotation, and
// ReturnValuesOnConditionCheckFailure ALL_OLD gives the session as found when the condition
// failed (revoked, idle-expired, or at another generation), so that the caller can tell a
// lost-response retry from a replay without a second read. Of any number of concurrent
// rotations from one generation, exactly one succeeds.
func (s *Store) RotateRefresh(ctx context.Context, id string, from uint64, now, idleUntil time.Time) (core.Session, bool, error) {
	const op core.Op = "dynamo.Store.RotateRefresh"
	names := expiryNames()
	names["#idle"] = attrIdleExpiresAt
	names["#rev"] = attrRevoked
	names["#gen"] = attrGeneration
	names["#rot"] = attrRotatedAt
	names["#last"] = attrLastUsedAt
	values := expiryValues(now)
	values[":false"] = &types.AttributeValueMemberBOOL{Value: false}
	values[":from"] = unsigned(from)
	values[":to"] = unsigned(from + 1)
	values[":idle"] = number(epoch(idleUntil))
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 sessionKey(id).attributes(),
		UpdateExpression:                    aws.String("SET #gen = :to, #rot = :now, #last = :now, #idle = :idle"),
		ConditionExpression:                 aws.String("attribute_exists(#pk) AND #exp > :now AND #rev = :false AND #idle > :now AND #gen = :from"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		sess, err := unmarshalSession(res.Attributes)
		if err != nil {
			return core.Session{}, false, core.Wrap(op, err)
		}
		return sess, true, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return core.Session{}, false, classify(op, err, core.KindInternal)
	}
	if len(failed.Item) == 0 {
		return core.Session{}, false, core.E(op, core.KindNotFound, "", nil)
	}
	live, lerr := isLive(failed.Item, now)
	if lerr != nil {
		return core.Session{}, false, core.Wrap(op, lerr)
	}
	if !live {
		return core.Session{}, false, core.E(op, core.KindNotFound, "", nil)
	}
	sess, uerr := unmarshalSession(failed.Item)
	if uerr != nil {
		return core.Session{}, false, core.Wrap(op, uerr)
	}
	return sess, false, nil
}

// RevokeSession marks session id revoked with one conditional UpdateItem (core.SessionStore).
// Revoking twice is not an error; KindNotFound if absent or past ExpiresAt at now.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	const op core.Op = "dynamo.Store.RevokeSession"
	names := expiryNames()
	names["#rev"] = attrRevoked
	values := expiryValues(now)
	values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       sessionKey(id).attributes(),
		UpdateExpression:          aws.String("SET #rev = :true"),
		ConditionExpression:       aws.String(condLive),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	return nil
}

// UserSessions lists the sessions of user uid that are live at now, newest first
// (core.SessionStore). It queries gsi1, which is eventually consistent, so it may lag a write
// by a moment; it is for display and for "log out other devices", never for access decisions.
// It reads at most maxListed sessions.
func (s *Store) UserSessions(ctx context.Context, uid string, now time.Time) ([]core.Session, error) {
	const op core.Op = "dynamo.Store.UserSessions"
	list := []core.Session{}
	err := s.queryUserItems(ctx, op, uid, sessionsPrefix, true, maxListed, func(item map[string]types.AttributeValue) error {
		sess, err := unmarshalSession(item)
		if err != nil {
			return err
		}
		if sess.Live(now) {
			list = append(list, sess)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// unmarshalSession is the session an item read from the table holds.
func unmarshalSession(av map[string]types.AttributeValue) (core.Session, error) {
	var item sessionItem
	if err := attributevalue.UnmarshalMap(av, &item); err != nil {
		return core.Session{}, err
	}
	return item.session(), nil
}

// unsigned is n as a DynamoDB Number.
func unsigned(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}
