package boot

import (
	"context"
	"time"
)

// Deadline returns ctx bounded by RequestTimeout from now, or by the deadline ctx already
// has (the Lambda's) less DeadlineMargin when that is earlier. Every handler runs under it
// (apigw.Serve, the authorizer), so a dependency that hangs is answered inside the function
// timeout.
func Deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d := time.Now().Add(RequestTimeout)
	if lambda, ok := ctx.Deadline(); ok && lambda.Add(-DeadlineMargin).Before(d) {
		d = lambda.Add(-DeadlineMargin)
	}
	return context.WithDeadline(ctx, d)
}
