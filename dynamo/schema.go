package dynamo

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/oidc"
)

// The whole single-table schema lives in this file (docs/architecture.md, single-table items):
// attribute and index names, key builders and the private item structs. Nothing outside package
// dynamo knows how an entity is laid out in the table.

// Attribute and index names shared by every item.
const (
	attrPK        = "pk"
	attrSK        = "sk"
	attrGSI1PK    = "gsi1pk"
	attrGSI1SK    = "gsi1sk"
	attrExpiresAt = "expiresAt" // the table's TTL attribute: epoch seconds, Number
	indexGSI1     = "gsi1"      // per-user listings (credentials, sessions, recovery codes)
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

// credentialKey is the key of the passkey whose credential id, base64url encoded, is id. The
// credential id alone is the partition key, so a conditional put on it makes an id unique
// across all users.
func credentialKey(id string) itemKey { return itemKey{PK: "CRED#" + id, SK: "CRED"} }

// challengeKey is the key of the WebAuthn challenge id.
func challengeKey(id string) itemKey { return itemKey{PK: "CHAL#" + id, SK: "CHAL"} }

// jtiKey is the key of the denylist entry for the access-token id jti.
func jtiKey(jti string) itemKey { return itemKey{PK: "JTI#" + jti, SK: "JTI"} }

// sessionKey is the key of session sid.
func sessionKey(sid string) itemKey { return itemKey{PK: "SESS#" + sid, SK: "SESS"} }

// userKey is the key of user uid.
func userKey(uid string) itemKey { return itemKey{PK: "USER#" + uid, SK: "USER"} }

// emailKey is the key of the sentinel that reserves the (already normalized) email for one user.
func emailKey(email string) itemKey { return itemKey{PK: "EMAIL#" + email, SK: "EMAIL"} }

// flowKey is the key of email flow id.
func flowKey(id string) itemKey { return itemKey{PK: "FLOW#" + id, SK: "FLOW"} }

// recoveryKey is the key of user uid's pending recovery: in the user's partition, beside the
// user item, as an account has at most one.
func recoveryKey(uid string) itemKey { return itemKey{PK: "USER#" + uid, SK: "RECOVERY"} }

// recoveryCodeKey is the key of the recovery code whose keyed hash is hash. The hash alone is
// the partition key, so a spend finds its code, and so its account, with one GetItem.
func recoveryCodeKey(hash []byte) itemKey {
	return itemKey{PK: "RCODE#" + base64.RawURLEncoding.EncodeToString(hash), SK: "RCODE"}
}

// apiKeyKey is the key of the lookup item of the API key whose SHA-256 is hash. The hash alone
// is the partition key, so the authorizer decides a key with one GetItem.
func apiKeyKey(hash []byte) itemKey {
	return itemKey{PK: "APIKEY#" + base64.RawURLEncoding.EncodeToString(hash), SK: "APIKEY"}
}

// oauthRequestKey is the key of the OpenID provider's authorization request id.
func oauthRequestKey(id string) itemKey { return itemKey{PK: "OAUTHREQ#" + id, SK: "OAUTHREQ"} }

// oauthCodeKey is the key of the authorization code whose SHA-256 is hash. The hash alone is
// the partition key: the code itself is never stored.
func oauthCodeKey(hash oidc.Hash) itemKey {
	return itemKey{PK: "OAUTHCODE#" + hash.String(), SK: "OAUTHCODE"}
}

// providerSessionKey is the key of the OpenID provider's session whose cookie's SHA-256 is
// hash. The hash alone is the partition key: the cookie's value is never stored.
func providerSessionKey(hash oidc.Hash) itemKey {
	return itemKey{PK: "OPSESSION#" + hash.String(), SK: "OPSESSION"}
}

// apiKeysPrefix starts the sort key of every API key's listing item in its user's partition.
const apiKeysPrefix = "APIKEY#"

// apiKeyListingKey is the key of user uid's listing item of API key id: in the user's
// partition on the base table, so the owner's keys list with a strongly consistent Query.
func apiKeyListingKey(uid, id string) itemKey {
	return itemKey{PK: "USER#" + uid, SK: apiKeysPrefix + id}
}

// userPartition is the gsi1 partition of everything listed per user (sessions, credentials).
func userPartition(uid string) string { return "USER#" + uid }

// sessionsPrefix starts the gsi1 sort key of every session in a user's partition.
const sessionsPrefix = "SESS#"

// sessionSortKey is the gsi1 sort key of session sid created at created: the creation time in
// zero-padded epoch seconds, then the id, so that a descending query lists the newest first
// (ties within a second broken by id, descending).
func sessionSortKey(created time.Time, sid string) string {
	return fmt.Sprintf("%s%012d#%s", sessionsPrefix, max(epoch(created), 0), sid)
}

// credentialsPrefix starts the gsi1 sort key of every passkey in a user's partition.
const credentialsPrefix = "CRED#"

// credentialSortKey is the gsi1 sort key of passkey id created at created: the creation time in
// zero-padded epoch seconds, then the id, so that an ascending query lists the oldest first.
func credentialSortKey(created time.Time, id string) string {
	return fmt.Sprintf("%s%012d#%s", credentialsPrefix, max(epoch(created), 0), id)
}

// recoveryCodesPrefix starts the gsi1 sort key of every recovery code in a user's partition.
const recoveryCodesPrefix = "RCODE#"

// recoveryCodeSortKey is the gsi1 sort key of the recovery code hash of set set: the set, then
// the hash, so that a user's codes list by set.
func recoveryCodeSortKey(set string, hash []byte) string {
	return recoveryCodesPrefix + set + "#" + base64.RawURLEncoding.EncodeToString(hash)
}

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

// jtiItem is a revoked access-token id, kept until no verifier accepts the token: its exp plus
// the verifiers' leeway (core.Verifier.AcceptsUntil).
type jtiItem struct {
	itemKey
	ExpiresAt int64 `dynamodbav:"expiresAt"`
}

// sessionItem is a core.Session at rest. Times are epoch seconds; expiresAt is the absolute
// expiry and the TTL attribute. The creation time is also kept in epoch milliseconds
// (createdAtMs), which the "log out other devices" cut-off compares; an item written before
// that attribute existed reads as created at the start of its createdAt second. The gsi1
// attributes list it under its user until it is revoked.
type sessionItem struct {
	itemKey
	GSI1PK        string   `dynamodbav:"gsi1pk"`
	GSI1SK        string   `dynamodbav:"gsi1sk"`
	UserID        string   `dynamodbav:"uid"`
	AuthTime      int64    `dynamodbav:"authTime"`
	AMR           []string `dynamodbav:"amr,omitempty"`
	Scope         string   `dynamodbav:"scope,omitempty"`
	PasskeyID     string   `dynamodbav:"passkeyId,omitempty"`
	ClientID      string   `dynamodbav:"clientId,omitempty"` // "" for the first-party public client
	ClientIP      string   `dynamodbav:"clientIp,omitempty"`
	UserAgent     string   `dynamodbav:"userAgent,omitempty"`
	CreatedAt     int64    `dynamodbav:"createdAt"`
	CreatedAtMs   int64    `dynamodbav:"createdAtMs,omitempty"` // CreatedAt again, in epoch milliseconds
	LastUsedAt    int64    `dynamodbav:"lastUsedAt"`
	ExpiresAt     int64    `dynamodbav:"expiresAt"`
	IdleExpiresAt int64    `dynamodbav:"idleExpiresAt"`
	Revoked       bool     `dynamodbav:"revoked"`
	Generation    uint64   `dynamodbav:"generation"`
	RotatedAt     int64    `dynamodbav:"rotatedAt"`
	// The per-session refresh limit, written by each rotation: refreshCount rotations in the
	// window starting at refreshWindow (epoch seconds). Absent before the first rotation.
	RefreshWindow int64 `dynamodbav:"refreshWindow,omitempty"`
	RefreshCount  int64 `dynamodbav:"refreshCount,omitempty"`
}

// Session attributes named in update and condition expressions.
const (
	attrIdleExpiresAt = "idleExpiresAt"
	attrRevoked       = "revoked"
	attrGeneration    = "generation"
	attrRotatedAt     = "rotatedAt"
	attrLastUsedAt    = "lastUsedAt"
	attrAuthTime      = "authTime"
	attrAMR           = "amr"
	attrRefreshWindow = "refreshWindow"
	attrRefreshCount  = "refreshCount"
)

// newSessionItem lays s out as an item.
func newSessionItem(s core.Session) sessionItem {
	return sessionItem{
		itemKey:       sessionKey(s.ID),
		GSI1PK:        userPartition(s.UserID),
		GSI1SK:        sessionSortKey(s.CreatedAt, s.ID),
		UserID:        s.UserID,
		AuthTime:      epoch(s.AuthTime),
		AMR:           s.AMR,
		Scope:         s.Scope,
		PasskeyID:     s.PasskeyID,
		ClientID:      s.ClientID,
		ClientIP:      s.ClientIP,
		UserAgent:     s.UserAgent,
		CreatedAt:     epoch(s.CreatedAt),
		CreatedAtMs:   s.CreatedAt.UnixMilli(),
		LastUsedAt:    epoch(s.LastUsedAt),
		ExpiresAt:     epoch(s.ExpiresAt),
		IdleExpiresAt: epoch(s.IdleExpiresAt),
		Revoked:       s.Revoked,
		Generation:    s.Generation,
		RotatedAt:     epoch(s.RotatedAt),
		RefreshWindow: epochOrZero(s.RefreshWindow),
		RefreshCount:  s.RefreshCount,
	}
}

// epochOrZero is epoch(t), and 0 (not stored) for the zero time.
func epochOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return epoch(t)
}

// session is the core.Session the item holds.
func (it sessionItem) session() core.Session {
	created := fromEpoch(it.CreatedAt)
	if it.CreatedAtMs != 0 {
		created = fromMillis(it.CreatedAtMs)
	}
	var refreshWindow time.Time
	if it.RefreshWindow != 0 {
		refreshWindow = fromEpoch(it.RefreshWindow)
	}
	return core.Session{
		ID:            strings.TrimPrefix(it.PK, "SESS#"),
		UserID:        it.UserID,
		AuthTime:      fromEpoch(it.AuthTime),
		AMR:           it.AMR,
		Scope:         it.Scope,
		PasskeyID:     it.PasskeyID,
		ClientID:      it.ClientID,
		ClientIP:      it.ClientIP,
		UserAgent:     it.UserAgent,
		CreatedAt:     created,
		LastUsedAt:    fromEpoch(it.LastUsedAt),
		ExpiresAt:     fromEpoch(it.ExpiresAt),
		IdleExpiresAt: fromEpoch(it.IdleExpiresAt),
		Revoked:       it.Revoked,
		Generation:    it.Generation,
		RotatedAt:     fromEpoch(it.RotatedAt),
		RefreshWindow: refreshWindow,
		RefreshCount:  it.RefreshCount,
	}
}

// userItem is a core.User at rest. It has no expiresAt: accounts do not expire. A zero
// TokensNotBefore is not stored. SessionsEndedAt (epoch milliseconds) and KeptSession are the
// "log out other devices" cut-off, absent until the first one. RecoveryCodeSet names the
// user's live set of recovery codes and RecoveryCodesLeft counts its unspent codes, both absent
// until the first set. PasskeyCount counts the user's credential items; it changes
// only in the transactions that add or delete one, which is what makes "never delete the last
// passkey" atomic. A user created without passkeys has none stored, which counts as zero.
type userItem struct {
	itemKey
	Email           string `dynamodbav:"email,omitempty"`
	EmailVerified   bool   `dynamodbav:"emailVerified,omitempty"`
	DisplayName     string `dynamodbav:"displayName,omitempty"`
	CreatedAt       int64  `dynamodbav:"createdAt"`
	Disabled        bool   `dynamodbav:"disabled"`
	TokensNotBefore int64  `dynamodbav:"tokensNotBefore,omitempty"`
	SessionsEndedAt int64  `dynamodbav:"sessionsEndedAt,omitempty"`
	KeptSession     string `dynamodbav:"keptSession,omitempty"`
	PasskeyCount    int64  `dynamodbav:"passkeyCount,omitempty"`
	RecoveryCodeSet string `dynamodbav:"recoveryCodeSet,omitempty"`
	RecoveryLeft    int64  `dynamodbav:"recoveryCodesLeft,omitempty"`
	APIKeyCount     int64  `dynamodbav:"apiKeyCount,omitempty"`
	APIKeySerial    int64  `dynamodbav:"apiKeySerial,omitempty"`
}

// User attributes of the "log out other devices" cut-off, named in update expressions.
const (
	attrSessionsEndedAt = "sessionsEndedAt"
	attrKeptSession     = "keptSession"
)

// attrPasskeyCount is userItem's passkey counter, named in update and condition expressions.
const attrPasskeyCount = "passkeyCount"

// User attributes of the recovery codes, named in update and condition expressions.
const (
	attrRecoveryCodeSet   = "recoveryCodeSet"
	attrRecoveryCodesLeft = "recoveryCodesLeft"
)

// User attributes of API keys, named in update and condition expressions: apiKeyCount counts
// the user's stored keys (the cap's condition); apiKeySerial goes up by one with every create
// and delete of a key, so that DisableUser, which marks every key it listed, can require that
// none was added since it listed them (a count alone may come back to the same value).
const (
	attrAPIKeyCount  = "apiKeyCount"
	attrAPIKeySerial = "apiKeySerial"
	attrDisabled     = "disabled"
)

// newUserItem lays u out as an item.
func newUserItem(u core.User) userItem {
	var notBefore, ended int64
	if !u.TokensNotBefore.IsZero() {
		notBefore = epoch(u.TokensNotBefore)
	}
	if !u.SessionsEndedAt.IsZero() {
		ended = u.SessionsEndedAt.UnixMilli()
	}
	return userItem{
		itemKey:         userKey(u.ID),
		Email:           u.Email,
		EmailVerified:   u.EmailVerified,
		DisplayName:     u.DisplayName,
		CreatedAt:       epoch(u.CreatedAt),
		Disabled:        u.Disabled,
		TokensNotBefore: notBefore,
		SessionsEndedAt: ended,
		KeptSession:     u.KeptSessionID,
		RecoveryCodeSet: u.RecoveryCodeSet,
		RecoveryLeft:    int64(u.RecoveryCodesLeft),
	}
}

// user is the core.User the item holds.
func (it userItem) user() core.User {
	u := core.User{
		ID:            strings.TrimPrefix(it.PK, "USER#"),
		Email:         it.Email,
		EmailVerified: it.EmailVerified,
		DisplayName:   it.DisplayName,
		CreatedAt:     fromEpoch(it.CreatedAt),
		Disabled:      it.Disabled,
		KeptSessionID: it.KeptSession,

		RecoveryCodesLeft: int(it.RecoveryLeft),
		RecoveryCodeSet:   it.RecoveryCodeSet,
	}
	if it.TokensNotBefore != 0 {
		u.TokensNotBefore = fromEpoch(it.TokensNotBefore)
	}
	if it.SessionsEndedAt != 0 {
		u.SessionsEndedAt = fromMillis(it.SessionsEndedAt)
	}
	return u
}

// emailItem reserves an email address for the user uid. It is written in the same transaction
// as the user, so an address belongs to at most one account.
type emailItem struct {
	itemKey
	UserID string `dynamodbav:"uid"`
}

// credentialItem is a core.Passkey at rest: a WebAuthn credential record. It has no expiresAt.
// The gsi1 attributes list it under its user, oldest first.
type credentialItem struct {
	itemKey
	GSI1PK            string   `dynamodbav:"gsi1pk"`
	GSI1SK            string   `dynamodbav:"gsi1sk"`
	UserID            string   `dynamodbav:"uid"`
	Name              string   `dynamodbav:"name,omitempty"`
	PublicKey         []byte   `dynamodbav:"publicKey"`
	SignCount         int64    `dynamodbav:"signCount"`
	AAGUID            []byte   `dynamodbav:"aaguid,omitempty"`
	Transports        []string `dynamodbav:"transports,omitempty"`
	AttestationFormat string   `dynamodbav:"attestationFormat,omitempty"`
	AttestationType   string   `dynamodbav:"attestationType,omitempty"`
	UVInitialized     bool     `dynamodbav:"uvInitialized"`
	BackupEligible    bool     `dynamodbav:"backupEligible"`
	BackupState       bool     `dynamodbav:"backupState"`
	CreatedAt         int64    `dynamodbav:"createdAt"`
	LastUsedAt        int64    `dynamodbav:"lastUsedAt,omitempty"`
}

// Credential attributes named in update and condition expressions.
const (
	attrUserID        = "uid"
	attrName          = "name"
	attrSignCount     = "signCount"
	attrBackupState   = "backupState"
	attrUVInitialized = "uvInitialized"
)

// newCredentialItem lays p out as an item.
func newCredentialItem(p core.Passkey) credentialItem {
	var lastUsed int64
	if !p.LastUsedAt.IsZero() {
		lastUsed = epoch(p.LastUsedAt)
	}
	return credentialItem{
		itemKey:           credentialKey(p.ID),
		GSI1PK:            userPartition(p.UserID),
		GSI1SK:            credentialSortKey(p.CreatedAt, p.ID),
		UserID:            p.UserID,
		Name:              p.Name,
		PublicKey:         p.PublicKey,
		SignCount:         int64(p.SignCount),
		AAGUID:            p.AAGUID,
		Transports:        p.Transports,
		AttestationFormat: p.AttestationFormat,
		AttestationType:   p.AttestationType,
		UVInitialized:     p.UserVerified,
		BackupEligible:    p.BackupEligible,
		BackupState:       p.BackupState,
		CreatedAt:         epoch(p.CreatedAt),
		LastUsedAt:        lastUsed,
	}
}

// passkey is the core.Passkey the item holds.
func (it credentialItem) passkey() core.Passkey {
	p := core.Passkey{
		ID:                strings.TrimPrefix(it.PK, "CRED#"),
		UserID:            it.UserID,
		Name:              it.Name,
		PublicKey:         it.PublicKey,
		SignCount:         uint32(it.SignCount),
		AAGUID:            it.AAGUID,
		Transports:        it.Transports,
		AttestationFormat: it.AttestationFormat,
		AttestationType:   it.AttestationType,
		UserVerified:      it.UVInitialized,
		BackupEligible:    it.BackupEligible,
		BackupState:       it.BackupState,
		CreatedAt:         fromEpoch(it.CreatedAt),
	}
	if it.LastUsedAt != 0 {
		p.LastUsedAt = fromEpoch(it.LastUsedAt)
	}
	return p
}

// flowItem is a core.EmailFlow at rest. Purpose is stored by name ("signup", "recovery"). The
// code and ticket hashes are Binary; an unverified flow has no ticketHash, and a sign-up flow,
// or a recovery flow for an address no account holds, no userId.
type flowItem struct {
	itemKey
	Purpose    string `dynamodbav:"purpose"`
	Email      string `dynamodbav:"email,omitempty"`
	UserID     string `dynamodbav:"userId,omitempty"`
	CodeHash   []byte `dynamodbav:"codeHash,omitempty"`
	TriesLeft  int64  `dynamodbav:"triesLeft"`
	Verified   bool   `dynamodbav:"verified"`
	TicketHash []byte `dynamodbav:"ticketHash,omitempty"`
	CreatedAt  int64  `dynamodbav:"createdAt"`
	ExpiresAt  int64  `dynamodbav:"expiresAt"`
}

// Flow attributes named in update and condition expressions.
const (
	attrPurpose    = "purpose"
	attrTriesLeft  = "triesLeft"
	attrVerified   = "verified"
	attrTicketHash = "ticketHash"
)

// newFlowItem lays f out as an item.
func newFlowItem(f core.EmailFlow) flowItem {
	return flowItem{
		itemKey:    flowKey(f.ID),
		Purpose:    f.Purpose.String(),
		Email:      f.Email,
		UserID:     f.UserID,
		CodeHash:   f.CodeHash,
		TriesLeft:  int64(f.TriesLeft),
		Verified:   f.Verified,
		TicketHash: f.TicketHash,
		CreatedAt:  epoch(f.CreatedAt),
		ExpiresAt:  epoch(f.ExpiresAt),
	}
}

// flow is the core.EmailFlow the item holds.
func (it flowItem) flow() (core.EmailFlow, error) {
	purpose, err := purposeByName(it.Purpose)
	if err != nil {
		return core.EmailFlow{}, err
	}
	return core.EmailFlow{
		ID:         strings.TrimPrefix(it.PK, "FLOW#"),
		Purpose:    purpose,
		Email:      it.Email,
		UserID:     it.UserID,
		CodeHash:   it.CodeHash,
		TriesLeft:  int(it.TriesLeft),
		Verified:   it.Verified,
		TicketHash: it.TicketHash,
		CreatedAt:  fromEpoch(it.CreatedAt),
		ExpiresAt:  fromEpoch(it.ExpiresAt),
	}, nil
}

// purposeByName is the flow purpose whose String is name.
func purposeByName(name string) (core.FlowPurpose, error) {
	for _, p := range []core.FlowPurpose{core.FlowSignUp, core.FlowRecovery} {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown flow purpose %q", name)
}

// recoveryItem is a core.PendingRecovery at rest, in its user's partition. expiresAt is the end
// of the window in which its ticket can be redeemed, and the TTL attribute.
type recoveryItem struct {
	itemKey
	Method      string `dynamodbav:"method"`
	StartedAt   int64  `dynamodbav:"startedAt"`
	AvailableAt int64  `dynamodbav:"availableAt"`
	ExpiresAt   int64  `dynamodbav:"expiresAt"`
	TicketHash  []byte `dynamodbav:"ticketHash,omitempty"`
	CancelHash  []byte `dynamodbav:"cancelHash,omitempty"`
}

// Recovery attributes named in condition expressions (ticketHash is attrTicketHash).
const (
	attrAvailableAt = "availableAt"
	attrCancelHash  = "cancelHash"
)

// newRecoveryItem lays r out as an item.
func newRecoveryItem(r core.PendingRecovery) recoveryItem {
	return recoveryItem{
		itemKey:     recoveryKey(r.UserID),
		Method:      r.Method,
		StartedAt:   epoch(r.StartedAt),
		AvailableAt: epoch(r.AvailableAt),
		ExpiresAt:   epoch(r.ExpiresAt),
		TicketHash:  r.TicketHash,
		CancelHash:  r.CancelHash,
	}
}

// recovery is the core.PendingRecovery the item holds.
func (it recoveryItem) recovery() core.PendingRecovery {
	return core.PendingRecovery{
		UserID:      strings.TrimPrefix(it.PK, "USER#"),
		Method:      it.Method,
		StartedAt:   fromEpoch(it.StartedAt),
		AvailableAt: fromEpoch(it.AvailableAt),
		ExpiresAt:   fromEpoch(it.ExpiresAt),
		TicketHash:  it.TicketHash,
		CancelHash:  it.CancelHash,
	}
}

// recoveryCodeItem is one recovery code at rest, keyed by its keyed hash: the account it opens
// and the set it belongs to, which a spend checks against the user's recoveryCodeSet. It has no
// expiresAt. The gsi1 attributes list it under its user, so that the codes of an earlier set
// can be found and deleted.
type recoveryCodeItem struct {
	itemKey
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	UserID string `dynamodbav:"userId"`
	Set    string `dynamodbav:"set"`
}

// attrSet is recoveryCodeItem's set, named in condition expressions ("set" is a reserved word).
const attrSet = "set"

// newRecoveryCodeItem lays out the code hash of user uid's set set.
func newRecoveryCodeItem(uid, set string, hash []byte) recoveryCodeItem {
	return recoveryCodeItem{
		itemKey: recoveryCodeKey(hash),
		GSI1PK:  userPartition(uid),
		GSI1SK:  recoveryCodeSortKey(set, hash),
		UserID:  uid,
		Set:     set,
	}
}

// apiKeyItem is the lookup item of one API key, keyed by the key's SHA-256: all the authorizer
// needs to decide the key, its owner's disabled state mirrored in ownerDisabled. expiresAt,
// when the key has one, is the TTL attribute; the code checks it on every read.
type apiKeyItem struct {
	itemKey
	KeyID         string   `dynamodbav:"keyId"`
	UserID        string   `dynamodbav:"userId"`
	Name          string   `dynamodbav:"name"`
	Scopes        []string `dynamodbav:"scopes,omitempty"`
	Prefix        string   `dynamodbav:"prefix"`
	Last4         string   `dynamodbav:"last4"`
	CreatedAt     int64    `dynamodbav:"createdAt"`
	ExpiresAt     int64    `dynamodbav:"expiresAt,omitempty"`
	LastUsedAt    int64    `dynamodbav:"lastUsedAt,omitempty"`
	OwnerDisabled bool     `dynamodbav:"ownerDisabled"`
}

// attrOwnerDisabled is apiKeyItem's mirror of its owner's disabled state.
const attrOwnerDisabled = "ownerDisabled"

// apiKeyListingItem is an API key in its owner's partition: what the listing shows and the
// hash that finds the lookup item. Its expiry is keyExpiresAt, not the TTL attribute: the
// listing item stays until a delete, or the owner's next create, removes it with its lookup
// item and its count, so apiKeyCount never counts an item TTL took away.
type apiKeyListingItem struct {
	itemKey
	Hash         []byte   `dynamodbav:"hash"`
	Name         string   `dynamodbav:"name"`
	Scopes       []string `dynamodbav:"scopes,omitempty"`
	Prefix       string   `dynamodbav:"prefix"`
	Last4        string   `dynamodbav:"last4"`
	CreatedAt    int64    `dynamodbav:"createdAt"`
	KeyExpiresAt int64    `dynamodbav:"keyExpiresAt,omitempty"`
}

// newAPIKeyItems lays k out as its lookup item and its listing item.
func newAPIKeyItems(k core.APIKey) (apiKeyItem, apiKeyListingItem) {
	var exp, used int64
	if !k.ExpiresAt.IsZero() {
		exp = epoch(k.ExpiresAt)
	}
	if !k.LastUsedAt.IsZero() {
		used = epoch(k.LastUsedAt)
	}
	return apiKeyItem{
			itemKey: apiKeyKey(k.Hash), KeyID: k.ID, UserID: k.UserID, Name: k.Name, Scopes: k.Scopes,
			Prefix: k.Prefix, Last4: k.Last4, CreatedAt: epoch(k.CreatedAt), ExpiresAt: exp, LastUsedAt: used,
			OwnerDisabled: k.OwnerDisabled,
		}, apiKeyListingItem{
			itemKey: apiKeyListingKey(k.UserID, k.ID), Hash: k.Hash, Name: k.Name, Scopes: k.Scopes,
			Prefix: k.Prefix, Last4: k.Last4, CreatedAt: epoch(k.CreatedAt), KeyExpiresAt: exp,
		}
}

// apiKey is the core.APIKey the lookup item holds.
func (it apiKeyItem) apiKey(hash []byte) core.APIKey {
	k := core.APIKey{
		ID: it.KeyID, UserID: it.UserID, Name: it.Name, Scopes: it.Scopes, Hash: hash, Prefix: it.Prefix,
		Last4: it.Last4, CreatedAt: fromEpoch(it.CreatedAt), OwnerDisabled: it.OwnerDisabled,
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if it.ExpiresAt != 0 {
		k.ExpiresAt = fromEpoch(it.ExpiresAt)
	}
	if it.LastUsedAt != 0 {
		k.LastUsedAt = fromEpoch(it.LastUsedAt)
	}
	return k
}

// liveAt reports whether the listed key has not expired at now.
func (it apiKeyListingItem) liveAt(now time.Time) bool {
	return it.KeyExpiresAt == 0 || it.KeyExpiresAt > epoch(now)
}

// oauthRequestItem is an oidc.Request at rest, waiting for the sign-in on the hosted page.
// binding is the SHA-256 of the browser's binding cookie (Binary), which the take compares.
// maxAge (seconds) is present exactly when the request gave max_age, so max_age=0 is kept
// apart from none. expiresAt is the TTL attribute.
type oauthRequestItem struct {
	itemKey
	ClientID      string `dynamodbav:"clientId"`
	RedirectURI   string `dynamodbav:"redirectUri"`
	Scope         string `dynamodbav:"scope"`
	State         string `dynamodbav:"state,omitempty"`
	Nonce         string `dynamodbav:"nonce,omitempty"`
	CodeChallenge string `dynamodbav:"codeChallenge"`
	Prompt        string `dynamodbav:"prompt,omitempty"`
	MaxAge        *int64 `dynamodbav:"maxAge,omitempty"`
	LoginHint     string `dynamodbav:"loginHint,omitempty"`
	Binding       []byte `dynamodbav:"binding"`
	CreatedAt     int64  `dynamodbav:"createdAt"`
	ExpiresAt     int64  `dynamodbav:"expiresAt"`
}

// attrBinding is oauthRequestItem's binding, named in the take's condition.
const attrBinding = "binding"

// newOAuthRequestItem lays r out as an item.
func newOAuthRequestItem(r oidc.Request) oauthRequestItem {
	var maxAge *int64
	if r.HasMaxAge {
		seconds := int64(r.MaxAge / time.Second)
		maxAge = &seconds
	}
	return oauthRequestItem{
		itemKey:  oauthRequestKey(r.ID),
		ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scope: r.Scope, State: r.State, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, Prompt: r.Prompt, MaxAge: maxAge, LoginHint: r.LoginHint,
		Binding: r.Binding[:], CreatedAt: epoch(r.CreatedAt), ExpiresAt: epoch(r.ExpiresAt),
	}
}

// request is the oidc.Request the item holds.
func (it oauthRequestItem) request() (oidc.Request, error) {
	binding, err := hashOf(it.Binding)
	if err != nil {
		return oidc.Request{}, fmt.Errorf("binding: %w", err)
	}
	r := oidc.Request{
		ID:       strings.TrimPrefix(it.PK, "OAUTHREQ#"),
		ClientID: it.ClientID, RedirectURI: it.RedirectURI, Scope: it.Scope, State: it.State, Nonce: it.Nonce,
		CodeChallenge: it.CodeChallenge, Prompt: it.Prompt, LoginHint: it.LoginHint, Binding: binding,
		CreatedAt: fromEpoch(it.CreatedAt), ExpiresAt: fromEpoch(it.ExpiresAt),
	}
	if it.MaxAge != nil {
		r.MaxAge, r.HasMaxAge = time.Duration(*it.MaxAge)*time.Second, true
	}
	return r, nil
}

// oauthCodeItem is an oidc.Code at rest, keyed by the code's SHA-256: what the exchange needs,
// and the claims of the ID token as they were at the sign-in. usedAt is absent until the code
// is taken. expiresAt is the TTL attribute.
type oauthCodeItem struct {
	itemKey
	ClientID      string   `dynamodbav:"clientId"`
	RedirectURI   string   `dynamodbav:"redirectUri"`
	Scope         string   `dynamodbav:"scope"`
	Nonce         string   `dynamodbav:"nonce,omitempty"`
	CodeChallenge string   `dynamodbav:"codeChallenge"`
	UserID        string   `dynamodbav:"userId"`
	AuthTime      int64    `dynamodbav:"authTime"`
	AMR           []string `dynamodbav:"amr,omitempty"`
	SessionID     string   `dynamodbav:"sessionId"`
	Email         string   `dynamodbav:"email,omitempty"`
	EmailVerified bool     `dynamodbav:"emailVerified"`
	Name          string   `dynamodbav:"name,omitempty"`
	ExpiresAt     int64    `dynamodbav:"expiresAt"`
	UsedAt        int64    `dynamodbav:"usedAt,omitempty"`
}

// attrUsedAt is oauthCodeItem's usedAt, set and conditioned on by the take.
const attrUsedAt = "usedAt"

// newOAuthCodeItem lays c out as an item.
func newOAuthCodeItem(c oidc.Code) oauthCodeItem {
	return oauthCodeItem{
		itemKey:  oauthCodeKey(c.Hash),
		ClientID: c.ClientID, RedirectURI: c.RedirectURI, Scope: c.Scope, Nonce: c.Nonce, CodeChallenge: c.CodeChallenge,
		UserID: c.UserID, AuthTime: epoch(c.AuthTime), AMR: amrOrNil(c.AMR), SessionID: c.SessionID,
		Email: c.Email, EmailVerified: c.EmailVerified, Name: c.Name,
		ExpiresAt: epoch(c.ExpiresAt), UsedAt: epochOrZero(c.UsedAt),
	}
}

// code is the oidc.Code the item holds, stored under hash.
func (it oauthCodeItem) code(hash oidc.Hash) oidc.Code {
	c := oidc.Code{
		Hash:     hash,
		ClientID: it.ClientID, RedirectURI: it.RedirectURI, Scope: it.Scope, Nonce: it.Nonce, CodeChallenge: it.CodeChallenge,
		UserID: it.UserID, AuthTime: fromEpoch(it.AuthTime), AMR: amrOrNil(it.AMR), SessionID: it.SessionID,
		Email: it.Email, EmailVerified: it.EmailVerified, Name: it.Name, ExpiresAt: fromEpoch(it.ExpiresAt),
	}
	if it.UsedAt != 0 {
		c.UsedAt = fromEpoch(it.UsedAt)
	}
	return c
}

// providerSessionItem is an oidc.ProviderSession at rest, keyed by the SHA-256 of its cookie's
// value. expiresAt is the TTL attribute.
type providerSessionItem struct {
	itemKey
	UserID    string   `dynamodbav:"userId"`
	AuthTime  int64    `dynamodbav:"authTime"`
	AMR       []string `dynamodbav:"amr,omitempty"`
	CreatedAt int64    `dynamodbav:"createdAt"`
	ExpiresAt int64    `dynamodbav:"expiresAt"`
}

// newProviderSessionItem lays s out as an item.
func newProviderSessionItem(s oidc.ProviderSession) providerSessionItem {
	return providerSessionItem{
		itemKey: providerSessionKey(s.Hash), UserID: s.UserID, AuthTime: epoch(s.AuthTime), AMR: amrOrNil(s.AMR),
		CreatedAt: epoch(s.CreatedAt), ExpiresAt: epoch(s.ExpiresAt),
	}
}

// providerSession is the oidc.ProviderSession the item holds, stored under hash.
func (it providerSessionItem) providerSession(hash oidc.Hash) oidc.ProviderSession {
	return oidc.ProviderSession{
		Hash: hash, UserID: it.UserID, AuthTime: fromEpoch(it.AuthTime), AMR: amrOrNil(it.AMR),
		CreatedAt: fromEpoch(it.CreatedAt), ExpiresAt: fromEpoch(it.ExpiresAt),
	}
}

// amrOrNil is amr, and nil when empty: the attributevalue encoder would store an empty list
// despite omitempty, and an absent attribute reads back as nil.
func amrOrNil(amr []string) []string {
	if len(amr) == 0 {
		return nil
	}
	return amr
}

// hashOf is b, a stored SHA-256, as an oidc.Hash.
func hashOf(b []byte) (oidc.Hash, error) {
	var h oidc.Hash
	if len(b) != len(h) {
		return oidc.Hash{}, fmt.Errorf("a stored hash has %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
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

// fromMillis is the time of ms epoch milliseconds, for the two times kept to the millisecond
// (a session's createdAtMs, a user's sessionsEndedAt).
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
