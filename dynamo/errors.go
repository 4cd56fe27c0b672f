package dynamo

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/awserr"
)

// detailUnavailable is the client-safe detail of every storage outage. AWS messages never go
// into Detail: they name tables and attributes.
const detailUnavailable = "storage unavailable"

// transientCodes are the DynamoDB error codes that mean "slow down" or "try again", not "you
// are wrong": throttling and server-side failures.
var transientCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"InternalServerError":                    true,
	"ServiceUnavailable":                     true,
}

// classify turns an error of the DynamoDB client into a *core.Error for op. It is the one
// place that maps SDK errors to kinds:
//
//   - a failed ConditionExpression gets onCondition, the kind the calling operation gives it
//     (usually KindConflict for a create, KindNotFound for a take);
//   - throttling, server errors, network failures, timeouts and cancellation get
//     KindUnavailable, so the edge answers 503 and the client may retry;
//   - anything else (validation errors, a missing table) is a bug: KindInternal.
func classify(op core.Op, err error, onCondition core.Kind) error {
	switch {
	case conditionFailed(err):
		return core.E(op, onCondition, "", err)
	case unavailable(err):
		return core.E(op, core.KindUnavailable, detailUnavailable, err)
	default:
		return core.Wrap(op, err)
	}
}

// conditionFailed reports whether err is DynamoDB refusing a write because its
// ConditionExpression was false.
func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// unavailable reports whether err says DynamoDB could not be reached or would not serve the
// request now, as opposed to refusing it.
func unavailable(err error) bool { return awserr.Unavailable(err, transientCodes) }
