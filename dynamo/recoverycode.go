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

// Recovery codes are one item each, keyed by the code's keyed hash, naming the account and the
// set. The user item names the live set (recoveryCodeSet) and counts its unspent codes
// (recoveryCodesLeft). A spend deletes its code on condition that the code's set is still the
// user's, so replacing the set kills every earlier code at once, whatever is left of them in the
// table. The Store satisfies recovery.CodeStore structurally.

// ReplaceRecoveryCodes makes hashes the recovery codes of user uid as set set
// (recovery.CodeStore), in one TransactWriteItems: the user's recoveryCodeSet and
// recoveryCodesLeft, on condition that the user exists (KindNotFound otherwise), and a put of
// each code. Then, best effort, the codes of other sets are found in the user's gsi1 partition
// and deleted; a failure there is ignored, as those codes are refused anyway.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, uid, set string, hashes [][]byte) error {
	const op core.Op = "dynamo.Store.ReplaceRecoveryCodes"
	if err := core.CheckRecoveryCodeSet(set, hashes); err != nil {
		return core.Wrap(op, err)
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:           aws.String(s.table),
		Key:                 userKey(uid).attributes(),
		UpdateExpression:    aws.String("SET #set = :set, #left = :left"),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#set": attrRecoveryCodeSet, "#left": attrRecoveryCodesLeft,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":set":  &types.AttributeValueMemberS{Value: set},
			":left": number(int64(len(hashes))),
		},
	}}}
	for _, h := range hashes {
		av, err := attributevalue.MarshalMap(newRecoveryCodeItem(uid, set, h))
		if err != nil {
			return core.Wrap(op, err)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(s.table), Item: av}})
	}
	failed, err := s.transact(ctx, op, items)
	if failed >= 0 {
		return core.E(op, core.KindNotFound, "", err)
	}
	if err != nil {
		return err
	}
	s.deleteDeadCodes(ctx, uid, set)
	return nil
}

// deleteDeadCodes deletes, best effort, the recovery codes of user uid that belong to a set
// other than the user's: it lists the user's codes from gsi1 and, if any is of another set than
// set, reads the user to learn the set that is live now (a later replace may have landed since)
// and deletes each code of any other. Codes are listed before the user is read, so a code of the
// live set is never among the deleted. Errors are dropped: a dead code is refused anyway, and
// the next replace tries again.
func (s *Store) deleteDeadCodes(ctx context.Context, uid, set string) {
	const op core.Op = "dynamo.Store.deleteDeadCodes"
	var others []recoveryCodeItem
	err := s.queryUserItems(ctx, op, uid, recoveryCodesPrefix, false, 0, func(av map[string]types.AttributeValue) error {
		var item recoveryCodeItem
		if err := attributevalue.UnmarshalMap(av, &item); err != nil {
			return err
		}
		if item.Set != set {
			others = append(others, item)
		}
		return nil
	})
	if err != nil || len(others) == 0 {
		return
	}
	var user userItem
	if err := s.getLive(ctx, op, userKey(uid), time.Time{}, &user); err != nil {
		return
	}
	for _, code := range others {
		if code.Set == user.RecoveryCodeSet {
			continue
		}
		_, _ = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName:                 aws.String(s.table),
			Key:                       code.itemKey.attributes(),
			ConditionExpression:       aws.String("#set = :set"),
			ExpressionAttributeNames:  map[string]string{"#set": attrSet},
			ExpressionAttributeValues: map[string]types.AttributeValue{":set": &types.AttributeValueMemberS{Value: code.Set}},
		})
	}
}

// SpendRecoveryCode spends the code whose keyed hash is hash and starts recovery r of its
// account (recovery.CodeStore): one strongly consistent GetItem of the code for its account and
// set, then one TransactWriteItems of the delete of the code (on condition that it is still
// there), the user's recoveryCodesLeft lowered by one (on condition that the code's set is the
// user's recoveryCodeSet) and the put of r, with UserID the code's account, replacing any
// pending recovery. KindNotFound if the code is absent, spent meanwhile or of a replaced set.
func (s *Store) SpendRecoveryCode(ctx context.Context, hash []byte, r core.PendingRecovery) (core.PendingRecovery, error) {
	const op core.Op = "dynamo.Store.SpendRecoveryCode"
	if len(hash) == 0 {
		return core.PendingRecovery{}, core.E(op, core.KindNotFound, "", errors.New("an empty code hash"))
	}
	var code recoveryCodeItem
	if err := s.getLive(ctx, op, recoveryCodeKey(hash), time.Time{}, &code); err != nil {
		return core.PendingRecovery{}, err
	}
	r.UserID = code.UserID
	item := newRecoveryItem(r)
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return core.PendingRecovery{}, core.Wrap(op, err)
	}
	set := &types.AttributeValueMemberS{Value: code.Set}
	failed, err := s.transact(ctx, op, []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       code.itemKey.attributes(),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #set = :set"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#set": attrSet},
			ExpressionAttributeValues: map[string]types.AttributeValue{":set": set},
		}},
		{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       userKey(code.UserID).attributes(),
			UpdateExpression:          aws.String("ADD #left :minus"),
			ConditionExpression:       aws.String("#set = :set"),
			ExpressionAttributeNames:  map[string]string{"#set": attrRecoveryCodeSet, "#left": attrRecoveryCodesLeft},
			ExpressionAttributeValues: map[string]types.AttributeValue{":set": set, ":minus": number(-1)},
		}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: av}},
	})
	if failed >= 0 {
		return core.PendingRecovery{}, core.E(op, core.KindNotFound, "", err)
	}
	if err != nil {
		return core.PendingRecovery{}, err
	}
	return item.recovery(), nil
}
