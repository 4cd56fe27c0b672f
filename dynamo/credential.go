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

// The Store satisfies passkey.CredentialStore, passkey.AccountStore and passkey.TicketStore
// structurally: this
// package never imports core/passkey, so go-webauthn reaches no binary but the passkeys
// function. The compile-time checks are in the tests (credential_test.go).

// CreateAccount stores user u (counting one passkey), the sentinel reserving u.Email when it is
// set, and the first passkey p, in one TransactWriteItems (passkey.AccountStore). Every item is
// put only if absent, so of concurrent sign-ups with one email, or with one credential id,
// exactly one is written; the others write nothing and answer KindConflict, wrapping
// core.ErrEmailTaken or core.ErrPasskeyTaken. Unless signUp is zero, the same transaction
// deletes the sign-up flow signUp.ID on condition that it is verified, holds signUp.TicketHash
// and is live at signUp.At, so a signup ticket makes at most one account; when that fails the
// answer is KindConflict wrapping core.ErrTicketSpent, whatever else failed with it.
func (s *Store) CreateAccount(ctx context.Context, u core.User, p core.Passkey, signUp core.Redemption) error {
	const op core.Op = "dynamo.Store.CreateAccount"
	redeem := !zeroRedemption(signUp)
	if redeem && (signUp.ID == "" || len(signUp.TicketHash) == 0) {
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrTicketSpent, errors.New("an incomplete redemption")))
	}
	user := newUserItem(u)
	user.PasskeyCount = 1
	puts := []any{user, newCredentialItem(p)}
	causes := []error{nil, core.ErrPasskeyTaken}
	email := -1
	if u.Email != "" {
		puts = append(puts, emailItem{itemKey: emailKey(u.Email), UserID: u.ID})
		causes = append(causes, core.ErrEmailTaken)
		email = len(puts) - 1
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
	ticket := -1
	if redeem {
		items = append(items, s.redeemSignUp(signUp))
		causes = append(causes, core.ErrTicketSpent)
		ticket = len(items) - 1
	}
	failed, err := s.transact(ctx, op, items)
	if failed >= 0 {
		// A spent ticket ends the sign-up whatever else is wrong; of the rest, a taken email is
		// what a person can do something about. Report them in that order.
		switch {
		case ticket >= 0 && conditionFailedAt(err, ticket):
			failed = ticket
		case email >= 0 && conditionFailedAt(err, email):
			failed = email
		}
		return core.E(op, core.KindConflict, "", errors.Join(causes[failed], err))
	}
	return err
}

// zeroRedemption reports whether r is the zero core.Redemption, which redeems nothing.
func zeroRedemption(r core.Redemption) bool {
	return r.ID == "" && len(r.TicketHash) == 0 && r.At.IsZero()
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
	items, err := s.addPasskeyItems(p, "", nil)
	if err != nil {
		return core.Wrap(op, err)
	}
	failed, err := s.transact(ctx, op, items)
	return addPasskeyFailure(op, failed, err)
}

// AddRecoveredPasskey stores p as AddPasskey does and, in the same TransactWriteItems
// (passkey.CredentialStore), deletes the pending recovery of r.ID — on condition that its
// ticketHash is r.TicketHash, its availableAt is at or before r.At and its expiresAt after it —
// and sets the user's "log out other devices" cut-off: sessionsEndedAt r.At in epoch
// milliseconds, keptSession keep. KindConflict wrapping core.ErrTicketSpent when the recovery
// is not there so (reported first), then AddPasskey's answers; nothing is written on error. r.ID
// must be p.UserID.
func (s *Store) AddRecoveredPasskey(ctx context.Context, p core.Passkey, r core.Redemption, keep string) error {
	const op core.Op = "dynamo.Store.AddRecoveredPasskey"
	if r.ID != p.UserID {
		return core.Wrap(op, errors.New("the redemption is not of the passkey's user"))
	}
	if len(r.TicketHash) == 0 {
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrTicketSpent, errors.New("no ticket hash")))
	}
	items, err := s.addPasskeyItems(p, keep, &r.At)
	if err != nil {
		return core.Wrap(op, err)
	}
	items = append(items, s.redeemRecovery(r))
	failed, err := s.transact(ctx, op, items)
	if failed >= 0 && conditionFailedAt(err, 2) {
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrTicketSpent, err))
	}
	return addPasskeyFailure(op, failed, err)
}

// addPasskeyItems is the credential put and the user's count update that add p. With ended set,
// the update also sets the user's cut-off to it (epoch milliseconds) and keptSession to keep.
func (s *Store) addPasskeyItems(p core.Passkey, keep string, ended *time.Time) ([]types.TransactWriteItem, error) {
	av, err := attributevalue.MarshalMap(newCredentialItem(p))
	if err != nil {
		return nil, err
	}
	update := "SET #n = if_not_exists(#n, :zero) + :one"
	names := map[string]string{"#pk": attrPK, "#n": attrPasskeyCount}
	values := map[string]types.AttributeValue{
		":zero": number(0), ":one": number(1), ":max": number(core.MaxPasskeys),
	}
	if ended != nil {
		update += ", #ended = :ended, #kept = :kept"
		names["#ended"], names["#kept"] = attrSessionsEndedAt, attrKeptSession
		values[":ended"] = number(ended.UnixMilli())
		values[":kept"] = &types.AttributeValueMemberS{Value: keep}
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     av,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		{Update: &types.Update{
			TableName:                           aws.String(s.table),
			Key:                                 userKey(p.UserID).attributes(),
			UpdateExpression:                    aws.String(update),
			ConditionExpression:                 aws.String("attribute_exists(#pk) AND (attribute_not_exists(#n) OR #n < :max)"),
			ExpressionAttributeNames:            names,
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}, nil
}

// addPasskeyFailure maps the outcome of a transaction starting with addPasskeyItems to
// AddPasskey's kinds: a taken credential id, a missing user (the failed update returned no
// item), or a full account.
func addPasskeyFailure(op core.Op, failed int, err error) error {
	switch {
	case failed == 0:
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrPasskeyTaken, err))
	case failed == 1 && len(failedItem(err, 1)) == 0:
		return core.E(op, core.KindNotFound, "", err)
	case failed == 1:
		return core.E(op, core.KindConflict, "", errors.Join(core.ErrTooManyPasskeys, err))
	case failed >= 0:
		return core.E(op, core.KindConflict, "", err)
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
