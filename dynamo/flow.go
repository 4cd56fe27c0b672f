package dynamo

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// Email flows are one item each, FLOW#<id>, that expires with the flow. Every verification
// attempt first spends a try with one conditional UpdateItem, so parallel guesses never get more
// tries than the flow has; verifying a sign-up flow and consuming a flow are conditional writes
// too. The Store satisfies recovery.FlowStore and the flow read of passkey.TicketStore
// structurally; the compile-time checks are in recovery_test.go.

// condUnverified holds for a flow that was never verified (verified is false, or absent).
const condUnverified = "(attribute_not_exists(#verified) OR #verified = :false)"

// flowNames returns expiryNames with the flow attributes the flow conditions name.
func flowNames() map[string]string {
	names := expiryNames()
	maps.Copy(names, map[string]string{"#verified": attrVerified, "#purpose": attrPurpose})
	return names
}

// PutFlow stores f unless a live flow has its id, with one conditional PutItem
// (recovery.FlowStore): KindConflict then. A flow with that id that has expired is replaced.
func (s *Store) PutFlow(ctx context.Context, f core.EmailFlow, now time.Time) error {
	const op core.Op = "dynamo.Store.PutFlow"
	if _, err := purposeByName(f.Purpose.String()); err != nil {
		return core.Wrap(op, err)
	}
	return s.putIfAbsent(ctx, op, newFlowItem(f), now)
}

// SpendTry takes one try of flow id with one UpdateItem (recovery.FlowStore): triesLeft goes
// down by one on condition that the flow is live at now, unverified and has a try left, and
// ReturnValues=ALL_NEW answers the flow as written. KindNotFound when the condition fails.
func (s *Store) SpendTry(ctx context.Context, id string, now time.Time) (core.EmailFlow, error) {
	const op core.Op = "dynamo.Store.SpendTry"
	names := flowNames()
	delete(names, "#purpose")
	names["#tries"] = attrTriesLeft
	values := expiryValues(now)
	maps.Copy(values, map[string]types.AttributeValue{
		":one": number(1), ":zero": number(0), ":false": &types.AttributeValueMemberBOOL{Value: false},
	})
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       flowKey(id).attributes(),
		UpdateExpression:          aws.String("SET #tries = #tries - :one"),
		ConditionExpression:       aws.String(condLive + " AND " + condUnverified + " AND #tries > :zero"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return core.EmailFlow{}, classify(op, err, core.KindNotFound)
	}
	var item flowItem
	if err := attributevalue.UnmarshalMap(res.Attributes, &item); err != nil {
		return core.EmailFlow{}, core.Wrap(op, err)
	}
	f, err := item.flow()
	if err != nil {
		return core.EmailFlow{}, core.Wrap(op, err)
	}
	return f, nil
}

// VerifySignUp marks sign-up flow id verified, stores ticketHash (Binary) and moves expiresAt
// to expiresAt, with one UpdateItem conditioned on the flow being live at now, unverified and a
// sign-up flow (recovery.FlowStore): KindNotFound otherwise, a recovery flow included.
func (s *Store) VerifySignUp(ctx context.Context, id string, ticketHash []byte, expiresAt, now time.Time) error {
	const op core.Op = "dynamo.Store.VerifySignUp"
	if len(ticketHash) == 0 {
		return core.Wrap(op, errors.New("a verified flow needs a ticket hash"))
	}
	names := flowNames()
	names["#th"] = attrTicketHash
	values := expiryValues(now)
	maps.Copy(values, map[string]types.AttributeValue{
		":false":   &types.AttributeValueMemberBOOL{Value: false},
		":true":    &types.AttributeValueMemberBOOL{Value: true},
		":signup":  &types.AttributeValueMemberS{Value: core.FlowSignUp.String()},
		":th":      &types.AttributeValueMemberB{Value: ticketHash},
		":expires": number(epoch(expiresAt)),
	})
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       flowKey(id).attributes(),
		UpdateExpression:          aws.String("SET #verified = :true, #th = :th, #exp = :expires"),
		ConditionExpression:       aws.String(condLive + " AND " + condUnverified + " AND #purpose = :signup"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	return nil
}

// GetFlow returns flow id with one strongly consistent GetItem (passkey.TicketStore);
// KindNotFound if it is absent or not live at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (core.EmailFlow, error) {
	const op core.Op = "dynamo.Store.GetFlow"
	var item flowItem
	if err := s.getLive(ctx, op, flowKey(id), now, &item); err != nil {
		return core.EmailFlow{}, err
	}
	f, err := item.flow()
	if err != nil {
		return core.EmailFlow{}, core.Wrap(op, err)
	}
	return f, nil
}

// consumeFlow is the transaction item that deletes flow id of purpose purpose, on condition that
// it is live at now and was never verified: how a recovery consumes its email flow.
func (s *Store) consumeFlow(id string, purpose core.FlowPurpose, now time.Time) types.TransactWriteItem {
	values := expiryValues(now)
	maps.Copy(values, map[string]types.AttributeValue{
		":false":   &types.AttributeValueMemberBOOL{Value: false},
		":purpose": &types.AttributeValueMemberS{Value: purpose.String()},
	})
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 aws.String(s.table),
		Key:                       flowKey(id).attributes(),
		ConditionExpression:       aws.String(condLive + " AND " + condUnverified + " AND #purpose = :purpose"),
		ExpressionAttributeNames:  flowNames(),
		ExpressionAttributeValues: values,
	}}
}

// redeemSignUp is the transaction item that deletes the verified sign-up flow r.ID, on
// condition that it is verified, its ticketHash is r.TicketHash and it is live at r.At.
func (s *Store) redeemSignUp(r core.Redemption) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName:           aws.String(s.table),
		Key:                 flowKey(r.ID).attributes(),
		ConditionExpression: aws.String("#verified = :true AND #th = :th AND #exp > :at"),
		ExpressionAttributeNames: map[string]string{
			"#verified": attrVerified, "#th": attrTicketHash, "#exp": attrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":true": &types.AttributeValueMemberBOOL{Value: true},
			":th":   &types.AttributeValueMemberB{Value: r.TicketHash},
			":at":   number(epoch(r.At)),
		},
	}}
}
