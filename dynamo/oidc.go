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
	"github.com/latchkey/latchkey/core/oidc"
)

// The OpenID provider's items: authorization requests (OAUTHREQ#<id>), authorization codes
// (OAUTHCODE#<SHA-256 of the code>) and provider sessions (OPSESSION#<SHA-256 of the cookie>),
// each expiring with expiresAt. The codes and cookies themselves are never stored. Every method
// is one round trip. Unlike the passkey and recovery ports, oidc.Store takes core/oidc's
// types, so this file imports core/oidc (the standard library and core only).

var _ oidc.Store = (*Store)(nil)

// PutRequest stores r with one PutItem on condition that nothing is stored under its id, live
// or not (oidc.Store): KindConflict otherwise.
func (s *Store) PutRequest(ctx context.Context, r oidc.Request) error {
	return s.create(ctx, "dynamo.Store.PutRequest", newOAuthRequestItem(r))
}

// GetRequest returns request id with one strongly consistent GetItem, without taking it
// (oidc.Store); KindNotFound if it is absent or not live at now.
func (s *Store) GetRequest(ctx context.Context, id string, now time.Time) (oidc.Request, error) {
	const op core.Op = "dynamo.Store.GetRequest"
	var item oauthRequestItem
	if err := s.getLive(ctx, op, oauthRequestKey(id), now, &item); err != nil {
		return oidc.Request{}, err
	}
	r, err := item.request()
	if err != nil {
		return oidc.Request{}, core.Wrap(op, err)
	}
	return r, nil
}

// TakeRequest deletes request id and returns it, with one DeleteItem on condition that it is
// live at now and its binding is binding, ReturnValues ALL_OLD (oidc.Store): of any number of
// concurrent takers exactly one gets it, and never one with another browser's binding.
// KindNotFound when the condition fails; then nothing was written.
func (s *Store) TakeRequest(ctx context.Context, id string, binding oidc.Hash, now time.Time) (oidc.Request, error) {
	const op core.Op = "dynamo.Store.TakeRequest"
	bound := condition{
		expr:   "#binding = :binding",
		names:  map[string]string{"#binding": attrBinding},
		values: map[string]types.AttributeValue{":binding": &types.AttributeValueMemberB{Value: binding[:]}},
	}
	var item oauthRequestItem
	if err := s.takeLiveWhere(ctx, op, oauthRequestKey(id), now, bound, &item); err != nil {
		return oidc.Request{}, err
	}
	r, err := item.request()
	if err != nil {
		return oidc.Request{}, core.Wrap(op, err)
	}
	return r, nil
}

// PutCode stores c with one PutItem on condition that nothing is stored under its hash, live,
// used or expired (oidc.Store): KindConflict otherwise, so a used code is never made new again.
func (s *Store) PutCode(ctx context.Context, c oidc.Code) error {
	return s.create(ctx, "dynamo.Store.PutCode", newOAuthCodeItem(c))
}

// TakeCode marks code hash used at now with one UpdateItem, SET usedAt and expiresAt =
// keepUntil (so the TTL keeps the used code as long as a replay must be recognised), on
// condition that the code is live at now and has no usedAt (oidc.Store). ReturnValues ALL_NEW
// answers the first take with the code as written. When the condition fails,
// ReturnValuesOnConditionCheckFailure ALL_OLD gives the item as found, without a second read:
// none, or one past its expiry, is KindNotFound; a live one was used, and is returned with its
// usedAt and KindConflict. Of any number of concurrent takes exactly one succeeds.
func (s *Store) TakeCode(ctx context.Context, hash oidc.Hash, now, keepUntil time.Time) (oidc.Code, error) {
	const op core.Op = "dynamo.Store.TakeCode"
	names := expiryNames()
	names["#used"] = attrUsedAt
	values := expiryValues(now)
	values[":keep"] = number(epoch(keepUntil))
	res, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 oauthCodeKey(hash).attributes(),
		UpdateExpression:                    aws.String("SET #used = :now, #exp = :keep"),
		ConditionExpression:                 aws.String(condLive + " AND attribute_not_exists(#used)"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		c, uerr := unmarshalCode(res.Attributes, hash)
		if uerr != nil {
			return oidc.Code{}, core.Wrap(op, uerr)
		}
		return c, nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return oidc.Code{}, classify(op, err, core.KindInternal)
	}
	if len(failed.Item) == 0 {
		return oidc.Code{}, core.E(op, core.KindNotFound, "", nil)
	}
	live, lerr := isLive(failed.Item, now)
	if lerr != nil {
		return oidc.Code{}, core.Wrap(op, lerr)
	}
	if !live {
		return oidc.Code{}, core.E(op, core.KindNotFound, "", nil)
	}
	c, uerr := unmarshalCode(failed.Item, hash)
	if uerr != nil {
		return oidc.Code{}, core.Wrap(op, uerr)
	}
	if c.UsedAt.IsZero() {
		// Live and unused, yet the condition failed: the item is not what this store writes.
		return oidc.Code{}, core.Wrap(op, errors.New("a live code without usedAt failed the take's condition"))
	}
	return c, core.E(op, core.KindConflict, "", err)
}

// unmarshalCode is the oidc.Code of item, stored under hash.
func unmarshalCode(item map[string]types.AttributeValue, hash oidc.Hash) (oidc.Code, error) {
	var it oauthCodeItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return oidc.Code{}, err
	}
	return it.code(hash), nil
}

// PutProviderSession stores ps with one PutItem on condition that nothing is stored under its
// hash, live or not (oidc.Store): KindConflict otherwise.
func (s *Store) PutProviderSession(ctx context.Context, ps oidc.ProviderSession) error {
	return s.create(ctx, "dynamo.Store.PutProviderSession", newProviderSessionItem(ps))
}

// GetProviderSession returns provider session hash with one strongly consistent GetItem
// (oidc.Store); KindNotFound if it is absent or not live at now.
func (s *Store) GetProviderSession(ctx context.Context, hash oidc.Hash, now time.Time) (oidc.ProviderSession, error) {
	const op core.Op = "dynamo.Store.GetProviderSession"
	var item providerSessionItem
	if err := s.getLive(ctx, op, providerSessionKey(hash), now, &item); err != nil {
		return oidc.ProviderSession{}, err
	}
	return item.providerSession(hash), nil
}

// DeleteProviderSession deletes provider session hash with one unconditional DeleteItem
// (oidc.Store): one that is absent, or expired, is not an error.
func (s *Store) DeleteProviderSession(ctx context.Context, hash oidc.Hash) error {
	const op core.Op = "dynamo.Store.DeleteProviderSession"
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       providerSessionKey(hash).attributes(),
	})
	if err != nil {
		return classify(op, err, core.KindInternal)
	}
	return nil
}
