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
// rotations from one generation, exactly one succeeds. The same write records the per-session
// refresh limit's count (refreshWindow, refreshCount).
func (s *Store) RotateRefresh(ctx context.Context, id string, from uint64, now, idleUntil time.Time, count core.RefreshCount) (core.Session, bool, error) {
	const op core.Op = "dynamo.Store.RotateRefresh"
	names := sessionWriteNames()
	values := sessionWriteValues(now)
	values[":from"] = unsigned(from)
	values[":to"] = unsigned(from + 1)
	values[":idle"] = number(epoch(idleUntil))
	update := "SET #gen = :to, #rot = :now, #last = :now, #idle = :idle"
	if count.Count != 0 {
		names["#rw"] = attrRefreshWindow
		names["#rc"] = attrRefreshCount
		values[":rw"] = number(epoch(count.Window))
		values[":rc"] = number(count.Count)
		update += ", #rw = :rw, #rc = :rc"
	}
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 sessionKey(id).attributes(),
		UpdateExpression:                    aws.String(update),
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

// Reauthenticate records a new authentication on session id of user uid with one conditional
// UpdateItem (core.SessionStore): authTime, amr (removed when empty), lastUsedAt and
// rotatedAt are set and the generation goes up by one, provided the session exists, is uid's,
// is not revoked and neither expiresAt nor idleExpiresAt has passed. ReturnValues ALL_NEW gives
// the session after the write; a failed condition is KindNotFound.
func (s *Store) Reauthenticate(ctx context.Context, id, uid string, authTime time.Time, amr []string, now time.Time) (core.Session, error) {
	const op core.Op = "dynamo.Store.Reauthenticate"
	names := sessionWriteNames()
	names["#uid"] = attrUserID
	names["#auth"] = attrAuthTime
	names["#amr"] = attrAMR
	values := sessionWriteValues(now)
	values[":uid"] = &types.AttributeValueMemberS{Value: uid}
	values[":auth"] = number(epoch(authTime))
	values[":two"] = number(2) // past the grace window's reach: see core.SessionStore
	update := "SET #auth = :auth, #rot = :now, #last = :now, #gen = #gen + :two"
	if len(amr) > 0 {
		av, err := attributevalue.Marshal(amr)
		if err != nil {
			return core.Session{}, core.Wrap(op, err)
		}
		values[":amr"] = av
		update += ", #amr = :amr"
	} else {
		update += " REMOVE #amr"
	}
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       sessionKey(id).attributes(),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #exp > :now AND #rev = :false AND #idle > :now AND #uid = :uid"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return core.Session{}, classify(op, err, core.KindNotFound)
	}
	sess, err := unmarshalSession(res.Attributes)
	if err != nil {
		return core.Session{}, core.Wrap(op, err)
	}
	return sess, nil
}

// RevokeSession marks session id revoked with one conditional UpdateItem (core.SessionStore),
// and removes its gsi1 keys in the same write: the index is sparse, so an ended session leaves
// the user's listing and never crowds out the live ones however many have ended. Revoking twice
// is not an error; KindNotFound if absent or past ExpiresAt at now.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	const op core.Op = "dynamo.Store.RevokeSession"
	names := expiryNames()
	names["#rev"] = attrRevoked
	names["#gpk"] = attrGSI1PK
	names["#gsk"] = attrGSI1SK
	values := expiryValues(now)
	values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       sessionKey(id).attributes(),
		UpdateExpression:          aws.String("SET #rev = :true REMOVE #gpk, #gsk"),
		ConditionExpression:       aws.String(condLive),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	return nil
}

// UserSessions lists every session of user uid that is live at now, newest first
// (core.SessionStore), however many there are: it follows gsi1's pages to the end. Revoked
// sessions are not in the index (RevokeSession removes their keys); sessions past their
// absolute or idle expiry still are until TTL deletes them, and a FilterExpression keeps
// DynamoDB from sending them (Session.Live decides again here, as it does for revoked items
// the index may still hold). gsi1 is eventually consistent, so the listing may lag a write by a
// moment; it is for display and for ending sessions, never for access decisions.
func (s *Store) UserSessions(ctx context.Context, uid string, now time.Time) ([]core.Session, error) {
	const op core.Op = "dynamo.Store.UserSessions"
	q := userQuery{
		uid: uid, prefix: sessionsPrefix, newestFirst: true,
		filter: "#exp > :now AND #idle > :now AND #rev = :false",
		names:  map[string]string{"#exp": attrExpiresAt, "#idle": attrIdleExpiresAt, "#rev": attrRevoked},
		values: map[string]types.AttributeValue{":now": number(epoch(now)), ":false": &types.AttributeValueMemberBOOL{Value: false}},
	}
	list := []core.Session{}
	err := s.queryGSI1(ctx, op, q, func(item map[string]types.AttributeValue) error {
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

// sessionWriteNames returns expiryNames with the session attributes that the rotation's and
// the re-authentication's conditional writes both name: idle expiry, revoked, generation,
// rotatedAt and lastUsedAt.
func sessionWriteNames() map[string]string {
	names := expiryNames()
	names["#idle"] = attrIdleExpiresAt
	names["#rev"] = attrRevoked
	names["#gen"] = attrGeneration
	names["#rot"] = attrRotatedAt
	names["#last"] = attrLastUsedAt
	return names
}

// sessionWriteValues returns expiryValues with the :false those writes' conditions compare
// revoked to.
func sessionWriteValues(now time.Time) map[string]types.AttributeValue {
	values := expiryValues(now)
	values[":false"] = &types.AttributeValueMemberBOOL{Value: false}
	return values
}
