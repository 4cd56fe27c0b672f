// Package awserr tells, for the AWS adapters (dynamo, core/mail), an AWS SDK error that means
// "the service cannot be reached or will not serve the request now" from one that means "the
// request is wrong": the first is answered 503 and may be retried, the second is a bug.
package awserr

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Unavailable reports whether err says the service could not be reached or would not serve
// the request now: a deadline or cancellation, retries exhausted, an API error whose code is
// in transient (the service's throttling and server-failure codes), a network failure or
// timeout, or whatever else the SDK's own retry policy calls transient (connection resets,
// 5xx responses, errors that declare themselves retryable).
func Unavailable(err error, transient map[string]bool) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var canceled *smithy.CanceledError
	if errors.As(err, &canceled) {
		return true
	}
	// The SDK gives up with MaxAttemptsError only after retrying errors it judged retryable.
	var exhausted *retry.MaxAttemptsError
	if errors.As(err, &exhausted) {
		return true
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && transient[apiErr.ErrorCode()] {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}
