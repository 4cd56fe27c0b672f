package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// batchAttempts bounds how often AccessState asks again for keys DynamoDB left unprocessed.
const batchAttempts = 4

// AccessState reads session sid, the denylist entry of jti and user uid with one strongly
// consistent BatchGetItem on the base table (core.AccessStates; docs/security.md, sessions and
// refresh: revocation is exact on every node). An empty sid or jti is left out of the request
// (a refresh asks for its session and user only). A session past its ExpiresAt is not found and
// a denylist entry past its time is no denial, whether or not TTL has deleted them.
//
// DynamoDB may leave keys unprocessed (throttling, size limits); those alone are asked for
// again, still strongly consistent, a bounded number of times after a short pause. If they stay
// unprocessed the answer is KindUnavailable: the caller must not decide access on half a read.
func (s *Store) AccessState(ctx context.Context, sid, jti, uid string, now time.Time) (core.AccessState, error) {
	const op core.Op = "dynamo.Store.AccessState"
	sessK, jtiK, userK := sessionKey(sid), jtiKey(jti), userKey(uid)
	var keys []map[string]types.AttributeValue
	for _, k := range []struct {
		id  string
		key itemKey
	}{{sid, sessK}, {jti, jtiK}, {uid, userK}} {
		if k.id != "" {
			keys = append(keys, k.key.attributes())
		}
	}
	found := make(map[string]map[string]types.AttributeValue, len(keys))
	for attempt := 0; len(keys) > 0; attempt++ {
		if attempt == batchAttempts {
			return core.AccessState{}, core.E(op, core.KindUnavailable, detailUnavailable, errors.New("BatchGetItem left keys unprocessed"))
		}
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return core.AccessState{}, classify(op, err, core.KindInternal)
			}
		}
		res, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{
				s.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
			},
		})
		if err != nil {
			return core.AccessState{}, classify(op, err, core.KindInternal)
		}
		for _, item := range res.Responses[s.table] {
			if pk, ok := item[attrPK].(*types.AttributeValueMemberS); ok {
				found[pk.Value] = item
			}
		}
		keys = res.UnprocessedKeys[s.table].Keys
	}

	var st core.AccessState
	if item, ok := found[sessK.PK]; ok && sid != "" {
		live, err := isLive(item, now)
		if err != nil {
			return core.AccessState{}, core.Wrap(op, err)
		}
		if live {
			if st.Session, err = unmarshalSession(item); err != nil {
				return core.AccessState{}, core.Wrap(op, err)
			}
			st.SessionFound = true
		}
	}
	if item, ok := found[jtiK.PK]; ok && jti != "" {
		live, err := isLive(item, now)
		if err != nil {
			return core.AccessState{}, core.Wrap(op, err)
		}
		st.TokenDenied = live
	}
	if item, ok := found[userK.PK]; ok && uid != "" {
		var u userItem
		if err := attributevalue.UnmarshalMap(item, &u); err != nil {
			return core.AccessState{}, core.Wrap(op, err)
		}
		st.User, st.UserFound = u.user(), true
	}
	return st, nil
}
