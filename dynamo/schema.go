package dynamo

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The whole single-table schema lives in this file (ARCHITECTURE.md §3): attribute and index
// names, key builders and the private item structs. Nothing outside package dynamo knows how an
// entity is laid out in the table.

// Attribute and index names shared by every item.
const (
	attrPK        = "pk"
	attrSK        = "sk"
	attrGSI1PK    = "gsi1pk"
	attrGSI1SK    = "gsi1sk"
	attrExpiresAt = "expiresAt" // the table's TTL attribute: epoch seconds, Number
	indexGSI1     = "gsi1"      // per-user listings (credentials, sessions)
)

// itemKey is the primary key of one item. Item structs embed it so that marshalling an item
// yields its key attributes too.
type itemKey struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
}

// attributes returns k in the form GetItem, DeleteItem and UpdateItem take.
func (k itemKey) attributes() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: k.PK},
		attrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

// challengeKey is the key of the WebAuthn challenge id.
func challengeKey(id string) itemKey { return itemKey{PK: "CHAL#" + id, SK: "CHAL"} }

// jtiKey is the key of the denylist entry for the access-token id jti.
func jtiKey(jti string) itemKey { return itemKey{PK: "JTI#" + jti, SK: "JTI"} }

// rateKey is the key of the counter for key in the window of length window starting at start.
// The window length is part of the sort key so that two rules counting the same key with
// different windows never share a counter, even when their windows start at the same second.
func rateKey(key string, window time.Duration, start time.Time) itemKey {
	sk := strconv.FormatInt(start.Unix(), 10) + "#" + strconv.FormatInt(int64(window/time.Second), 10)
	return itemKey{PK: "RATE#" + key, SK: sk}
}

// challengeItem is a core.Challenge at rest. Ceremony is stored by name ("register", "login")
// so that the table reads plainly in the console.
type challengeItem struct {
	itemKey
	Ceremony  string `dynamodbav:"ceremony"`
	UserID    string `dynamodbav:"uid,omitempty"`
	State     []byte `dynamodbav:"state,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
}

// jtiItem is a revoked access-token id, kept until the token's own exp.
type jtiItem struct {
	itemKey
	ExpiresAt int64 `dynamodbav:"expiresAt"`
}

// counterItem is one fixed-window hit counter.
type counterItem struct {
	itemKey
	Hits      int64 `dynamodbav:"hits"`
	ExpiresAt int64 `dynamodbav:"expiresAt"`
}

// attrHits is the counter attribute of counterItem, named in update expressions.
const attrHits = "hits"

// epoch is t as the table stores times: whole seconds since the Unix epoch, rounded down. Rounding
// an expiry down can only make an item expire early, never late.
func epoch(t time.Time) int64 { return t.Unix() }

// fromEpoch is the inverse of epoch.
func fromEpoch(s int64) time.Time { return time.Unix(s, 0).UTC() }
