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

// A pending recovery is one item in its user's partition, USER#<uid> / RECOVERY, so an account
// has at most one and a new one replaces it. It expires with the recovery. The Store satisfies
// recovery.RecoveryStore and the recovery read of passkey.TicketStore structurally.

// StartRecovery makes r the pending recovery of r.UserID, replacing any (recovery.RecoveryStore).
// Without a flow it is one PutItem. With flowID it is one TransactWriteItems: the put, and the
// delete of the recovery flow flowID on condition that it is live at now and never verified.
// KindNotFound, and nothing written, if that condition fails; a sign-up flow fails it too.
func (s *Store) StartRecovery(ctx context.Context, r core.PendingRecovery, flowID string, now time.Time) error {
	const op core.Op = "dynamo.Store.StartRecovery"
	item := newRecoveryItem(r)
	if flowID == "" {
		return s.put(ctx, op, item)
	}
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return core.Wrap(op, err)
	}
	failed, err := s.transact(ctx, op, []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: av}},
		s.consumeFlow(flowID, core.FlowRecovery, now),
	})
	if failed >= 0 {
		return core.E(op, core.KindNotFound, "", err)
	}
	return err
}

// GetRecovery returns the pending recovery of uid with one strongly consistent GetItem
// (recovery.RecoveryStore, passkey.TicketStore); KindNotFound if there is none live at now.
func (s *Store) GetRecovery(ctx context.Context, uid string, now time.Time) (core.PendingRecovery, error) {
	const op core.Op = "dynamo.Store.GetRecovery"
	var item recoveryItem
	if err := s.getLive(ctx, op, recoveryKey(uid), now, &item); err != nil {
		return core.PendingRecovery{}, err
	}
	return item.recovery(), nil
}

// CancelRecovery deletes the pending recovery of uid with one DeleteItem conditioned on it being
// live at now and, when cancelHash is not nil, on its cancelHash being cancelHash
// (recovery.RecoveryStore). KindNotFound when the condition fails. A non-nil empty cancelHash
// can match no recovery: KindNotFound without a call.
func (s *Store) CancelRecovery(ctx context.Context, uid string, cancelHash []byte, now time.Time) error {
	const op core.Op = "dynamo.Store.CancelRecovery"
	cond, names, values := condLive, expiryNames(), expiryValues(now)
	if cancelHash != nil {
		if len(cancelHash) == 0 {
			return core.E(op, core.KindNotFound, "", errors.New("an empty cancel hash"))
		}
		cond += " AND #ch = :ch"
		names["#ch"] = attrCancelHash
		values[":ch"] = &types.AttributeValueMemberB{Value: cancelHash}
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       recoveryKey(uid).attributes(),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	return nil
}

// redeemRecovery is the transaction item that deletes the pending recovery of r.ID, on
// condition that its ticketHash is r.TicketHash, it is available at r.At and has not expired
// then (all to the second).
func (s *Store) redeemRecovery(r core.Redemption) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:           aws.String(s.table),
		Key:                 recoveryKey(r.ID).attributes(),
		ConditionExpression: aws.String("#th = :th AND #avail <= :at AND #exp > :at"),
		ExpressionAttributeNames: map[string]string{
			"#th": attrTicketHash, "#avail": attrAvailableAt, "#exp": attrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":th": &types.AttributeValueMemberB{Value: r.TicketHash},
			":at": number(epoch(r.At)),
		},
	}}
}
