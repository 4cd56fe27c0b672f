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

// Passkeys are stored one item per credential, keyed by the credential id alone, so that
// attribute_not_exists(pk) makes an id unique across every user (WebAuthn §7.1 step 26). The
// user item counts its passkeys; adding and deleting a passkey change the count in the same
// transaction, which is what lets "never the last passkey" be one atomic condition.

// The Store satisfies passkey.CredentialStore and passkey.AccountStore structurally: this
// package never imports core/passkey, so go-webauthn reaches no binary but the passkeys
// function. The compile-time checks are in the tests (credential_test.go).

// CreateAccount stores user u (counting one passkey), the sentinel reserving u.Email when it is
// set, and the first passkey p, in one TransactWriteItems (passkey.AccountStore). Every item is
// put only if absent, so of concurrent sign-ups with one email, or with one credential id,
// exactly one is written; the others write nothing and answer KindConflict, wrapping
// core.ErrEmailTaken or core.ErrPasskeyTaken.
func (s *Store) CreateAccount(ctx context.Context, u core.User, p core.Passkey) error {
	const op core.Op = "dynamo.Store.CreateAccount"
	user := newUserItem(u)
	user.PasskeyCount = 1
	puts := []any{user, newCredentialItem(p)}
	causes := []error{nil, core.ErrPasskeyTaken}
	if u.Email != "" {
		puts = append(puts, emailItem{itemKey: emailKey(u.Email), UserID: u.ID})
		causes = append(causes, core.ErrEmailTaken)
	}
	items := make([]types.TransactWriteItem, len(puts))
	for i, it := range puts {
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return core.Wrap(op, err)
		}
		items[i] = types.TransactWriteItem{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     av,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}}
	}
	failed, err := s.transact(ctx, op, items)
	if failed >= 0 {
		// A taken email is what a person can do something about; report it first.
		if len(causes) == 3 && conditionFailedAt(err, 2) {
			failed = 2
		}
		return core.E(op, core.KindConflict, "", errors.Join(causes[failed], err))
	}
	return err
}

// UserIDByEmail returns the user holding the normalized email with one strongly consistent
// GetItem of its sentinel (passkey.AccountStore); KindNotFound if no account holds it.
func (s *Store) UserIDByEmail(ctx context.Context, email string) (string, error) {
	const op core.Op = "dynamo.Store.UserIDByEmail"
	if email == "" {
		return "", core.E(op, core.KindNotFound, "", nil)
	}
	var item emailItem
	if err := s.getLive(ctx, op, emailKey(email), time.Time{}, &item); err != nil {
		return "", err
	}
	return item.UserID, nil
}

// AddPasskey stores p and counts it on its user in one TransactWriteItems
// (passkey.CredentialStore): the credential is put only if no item has its id, and the user's
// count is raised only if the user exists and holds fewer than core.MaxPasskeys.
func (s *Store) AddPasskey(ctx context.Context, p core.Passkey) error {
	const op core.Op = "dynamo.Store.AddPasskey"
	av, err := attributevalue.MarshalMap(newCredentialItem(p))
	if err != nil {
		return core.Wrap(op, err)
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     av,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		{Update: &types.Update{
			TableName:           aws.String(s.table),
			Key:                 userKey(p.UserID).attributes(),
			UpdateExpression:    aws.String("SET #n = if_not_exists(#n, :zero) + :one"),
			ConditionExpression: aws.String("attribute_exists(#pk) AND (attribute_not_exists(#n) OR #n < :max)"),
			ExpressionAttributeNames: map[string]string{
				"#pk": attrPK, "#n": attrPasskeyCount,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":zero": number(0), ":one": number(1), ":max": number(core.MaxPasskeys),
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}
	failed, err := s.transact(ctx, op, items)
	switch {
	case failed == 0:
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrPasskeyTaken, err))
	case failed == 1 && len(failedItem(err, 1)) == 0:
		return core.E(op, core.KindNotFound, "", err)
	case failed == 1:
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrTooManyPasskeys, err))
	}
	return err
}

// GetPasskey returns credential id with one strongly consistent GetItem (passkey.CredentialStore).
// Credentials have no expiresAt, so any time serves as now.
func (s *Store) GetPasskey(ctx context.Context, id string) (core.Passkey, error) {
	const op core.Op = "dynamo.Store.GetPasskey"
	var item credentialItem
	if err := s.getLive(ctx, op, credentialKey(id), time.Time{}, &item); err != nil {
		return core.Passkey{}, err
	}
	return item.passkey(), nil
}

// UserPasskeys lists user uid's passkeys oldest first with a Query of gsi1
// (passkey.CredentialStore). The index is eventually consistent: it serves allowCredentials,
// excludeCredentials and the caller's list, never a decision. It reads at most
// core.MaxPasskeys items.
func (s *Store) UserPasskeys(ctx context.Context, uid string) ([]core.Passkey, error) {
	const op core.Op = "dynamo.Store.UserPasskeys"
	list := []core.Passkey{}
	err := s.queryUserItems(ctx, op, uid, credentialsPrefix, false, core.MaxPasskeys, func(av map[string]types.AttributeValue) error {
		var item credentialItem
		if err := attributevalue.UnmarshalMap(av, &item); err != nil {
			return err
		}
		list = append(list, item.passkey())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// RecordUse applies a sign-in to credential id of user uid with one conditional UpdateItem
// (passkey.CredentialStore; WebAuthn §7.2 steps 21–23). The condition holds only if the new count
// is above the stored one, or both are zero, so the stored counter never goes down whatever
// the order concurrent sign-ins land in. ReturnValuesOnConditionCheckFailure tells a regressed
// counter (KindConflict, core.ErrCounterRegressed) from a credential that is gone or someone
// else's (KindNotFound) without a second read.
func (s *Store) RecordUse(ctx context.Context, id, uid string, u core.PasskeyUse) error {
	const op core.Op = "dynamo.Store.RecordUse"
	counter := "#sc < :sc"
	if u.SignCount == 0 {
		counter = "#sc = :sc"
	}
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 credentialKey(id).attributes(),
		UpdateExpression:    aws.String("SET #sc = :sc, #bs = :bs, #uv = :uv, #last = :at"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #uid = :uid AND " + counter),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#uid": attrUserID, "#sc": attrSignCount, "#bs": attrBackupState,
			"#uv": attrUVInitialized, "#last": attrLastUsedAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":uid": &types.AttributeValueMemberS{Value: uid},
			":sc":  number(int64(u.SignCount)),
			":bs":  &types.AttributeValueMemberBOOL{Value: u.BackupState},
			":uv":  &types.AttributeValueMemberBOOL{Value: u.UserVerified},
			":at":  number(epoch(u.At)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return classify(op, err, core.KindInternal)
	}
	owner, _ := failed.Item[attrUserID].(*types.AttributeValueMemberS)
	if owner == nil || owner.Value != uid {
		return core.E(op, core.KindNotFound, "", nil)
	}
	return core.E(op, core.KindConflict, "", errors.Join(core.ErrCounterRegressed, err))
}

// RenamePasskey sets the name of credential id of user uid with one conditional UpdateItem and
// returns the passkey as written (passkey.CredentialStore).
func (s *Store) RenamePasskey(ctx context.Context, uid, id, name string) (core.Passkey, error) {
	const op core.Op = "dynamo.Store.RenamePasskey"
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       credentialKey(id).attributes(),
		UpdateExpression:          aws.String("SET #name = :name"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #uid = :uid"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#uid": attrUserID, "#name": attrName},
		ExpressionAttributeValues: map[string]types.AttributeValue{":uid": &types.AttributeValueMemberS{Value: uid}, ":name": &types.AttributeValueMemberS{Value: name}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return core.Passkey{}, classify(op, err, core.KindNotFound)
	}
	var item credentialItem
	if err := attributevalue.UnmarshalMap(res.Attributes, &item); err != nil {
		return core.Passkey{}, core.Wrap(op, err)
	}
	return item.passkey(), nil
}

// DeletePasskey removes credential id of user uid and lowers the user's count in one
// TransactWriteItems (passkey.CredentialStore), conditioned on the credential being uid's and the
// count being above one. Transactions on one user item are serialized, so of two concurrent
// deletes of an account's last two passkeys exactly one commits; the other finds the count at
// one and answers KindConflict, wrapping core.ErrLastPasskey.
func (s *Store) DeletePasskey(ctx context.Context, uid, id string) error {
	const op core.Op = "dynamo.Store.DeletePasskey"
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       credentialKey(id).attributes(),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #uid = :uid"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#uid": attrUserID},
			ExpressionAttributeValues: map[string]types.AttributeValue{":uid": &types.AttributeValueMemberS{Value: uid}},
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       userKey(uid).attributes(),
			UpdateExpression:          aws.String("SET #n = #n - :one"),
			ConditionExpression:       aws.String("#n > :one"),
			ExpressionAttributeNames:  map[string]string{"#n": attrPasskeyCount},
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": number(1)},
		}},
	}
	failed, err := s.transact(ctx, op, items)
	switch failed {
	case 0:
		return core.E(op, core.KindNotFound, "", err)
	case 1:
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrLastPasskey, err))
	}
	return err
}

// transact sends one TransactWriteItems of items. A transaction cancelled only because
// another was touching the same items at that moment (TransactionConflict) decided nothing, so
// it is sent again, a bounded number of times, after a short randomized pause. It returns -1
// and nil on success; the index of the first item whose condition failed and the cancellation
// (for failedItem and conditionFailedAt); or -1 and a classified error.
func (s *Store) transact(ctx context.Context, op core.Op, items []types.TransactWriteItem) (int, error) {
	var err error
	for attempt := range txAttempts {
		if attempt > 0 {
			if werr := pause(ctx, attempt); werr != nil {
				return -1, classify(op, werr, core.KindInternal)
			}
		}
		// A fresh input each attempt, so the SDK gives each its own ClientRequestToken.
		_, err = s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if err == nil {
			return -1, nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return -1, classify(op, err, core.KindInternal)
		}
		switch cancellation(canceled.CancellationReasons) {
		case "ConditionalCheckFailed":
			for i, r := range canceled.CancellationReasons {
				if aws.ToString(r.Code) == "ConditionalCheckFailed" {
					return i, err
				}
			}
		case "TransactionConflict":
			continue
		case "ThrottlingError", "ProvisionedThroughputExceeded":
			return -1, core.E(op, core.KindUnavailable, detailUnavailable, err)
		default:
			return -1, core.Wrap(op, err)
		}
	}
	return -1, core.E(op, core.KindUnavailable, detailUnavailable, err)
}

// conditionFailedAt reports whether the condition of item i failed in the cancelled
// transaction err.
func conditionFailedAt(err error, i int) bool {
	var canceled *types.TransactionCanceledException
	return errors.As(err, &canceled) && i < len(canceled.CancellationReasons) &&
		aws.ToString(canceled.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// failedItem is the item, as it was, whose condition failed at index i of the cancelled
// transaction err (with ReturnValuesOnConditionCheckFailure ALL_OLD); empty if it did not exist.
func failedItem(err error, i int) map[string]types.AttributeValue {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) || i >= len(canceled.CancellationReasons) {
		return nil
	}
	return canceled.CancellationReasons[i].Item
}
