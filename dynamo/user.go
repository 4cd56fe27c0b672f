package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
)

// txAttempts bounds how often a transaction (CreateUser's, and every one sent through
// Store.transact) is sent again when DynamoDB cancels it only because another transaction was
// touching the same items at that moment.
const txAttempts = 4

// CreateUser stores u and, when u.Email is set, the sentinel that reserves the email for u, in
// one TransactWriteItems (uniqueness is a transaction with sentinel items). No use case calls
// it (accounts are born with a passkey, in CreateAccount): it seeds users for the tests
// (coretest.UserSeeder) and the local dev-token tool. KindConflict if the id or the email is taken;
// nothing is written then. The email is stored as given: normalizing it is the caller's job.
//
// A transaction cancelled only for TransactionConflict (a concurrent transaction on the same
// items) decided nothing, so it is sent again, a bounded number of times, after a short
// randomized pause; the next attempt then either succeeds or meets the winner's items as
// ConditionalCheckFailed. If the conflicts persist the answer is KindUnavailable, never a false
// "taken".
func (s *Store) CreateUser(ctx context.Context, u core.User) error {
	const op core.Op = "dynamo.Store.CreateUser"
	puts := []any{newUserItem(u)}
	if u.Email != "" {
		puts = append(puts, emailItem{itemKey: emailKey(u.Email), UserID: u.ID})
	}
	avs := make([]map[string]types.AttributeValue, len(puts))
	for i, p := range puts {
		av, err := attributevalue.MarshalMap(p)
		if err != nil {
			return core.Wrap(op, err)
		}
		avs[i] = av
	}
	var err error
	for attempt := range txAttempts {
		if attempt > 0 {
			if werr := pause(ctx, attempt); werr != nil {
				return classify(op, werr, core.KindInternal)
			}
		}
		// A fresh input each attempt, so the SDK gives each its own ClientRequestToken.
		in := &dynamodb.TransactWriteItemsInput{}
		for _, av := range avs {
			in.TransactItems = append(in.TransactItems, types.TransactWriteItem{Put: &types.Put{
				TableName:                aws.String(s.table),
				Item:                     av,
				ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": attrPK},
			}})
		}
		_, err = s.api.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var canceled *types.TransactionCanceledException
		if !errors.As(err, &canceled) {
			return classify(op, err, core.KindConflict)
		}
		switch reason := cancellation(canceled.CancellationReasons); reason {
		case "ConditionalCheckFailed":
			// Reasons come in the order of TransactItems: the user, then the email.
			what := "the email"
			if r := canceled.CancellationReasons; len(r) > 0 && aws.ToString(r[0].Code) == reason {
				what = "the user id"
			}
			return core.E(op, core.KindConflict, "", fmt.Errorf("%s is taken: %w", what, err))
		case "TransactionConflict":
			continue
		case "ThrottlingError", "ProvisionedThroughputExceeded":
			return core.E(op, core.KindUnavailable, detailUnavailable, err)
		default:
			return core.Wrap(op, err)
		}
	}
	return core.E(op, core.KindUnavailable, detailUnavailable, err)
}

// GetUser returns user id with one strongly consistent GetItem (passkey.AccountStore); KindNotFound
// if absent. Users have no expiresAt, so any time serves as now.
func (s *Store) GetUser(ctx context.Context, id string) (core.User, error) {
	const op core.Op = "dynamo.Store.GetUser"
	var item userItem
	if err := s.getLive(ctx, op, userKey(id), time.Time{}, &item); err != nil {
		return core.User{}, err
	}
	return item.user(), nil
}

// EndSessionsBefore sets user uid's "log out other devices" cut-off — sessionsEndedAt, in
// epoch milliseconds, and keptSession — with one UpdateItem conditioned on the user existing
// (core.SessionStore). No session item is touched. KindNotFound if the user does not exist.
func (s *Store) EndSessionsBefore(ctx context.Context, uid string, cutoff time.Time, keep string) error {
	const op core.Op = "dynamo.Store.EndSessionsBefore"
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 userKey(uid).attributes(),
		UpdateExpression:    aws.String("SET #ended = :ended, #kept = :kept"),
		ConditionExpression: aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#ended": attrSessionsEndedAt, "#kept": attrKeptSession,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ended": number(cutoff.UnixMilli()),
			":kept":  &types.AttributeValueMemberS{Value: keep},
		},
	})
	if err != nil {
		return classify(op, err, core.KindNotFound)
	}
	return nil
}

// cancellation is the reason that decides a cancelled transaction: ConditionalCheckFailed if
// any item's condition failed (the definite answer), else the first reason other than None.
func cancellation(reasons []types.CancellationReason) string {
	first := ""
	for _, r := range reasons {
		code := aws.ToString(r.Code)
		if code == "ConditionalCheckFailed" {
			return code
		}
		if first == "" && code != "" && code != "None" {
			first = code
		}
	}
	return first
}

// pause waits before retry number attempt (1, 2, …): a random time up to 10 ms doubled per
// attempt, so that racing writers spread out. It returns early with ctx's error.
func pause(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(10*time.Millisecond)<<(attempt-1)) + 1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
