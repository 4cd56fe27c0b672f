package testenv

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Calls counts the SDK operations of every client built from an instrumented config, as
// "Service.Operation": the functions' own clients, observed from outside.
type Calls struct {
	mu     sync.Mutex
	counts map[string]int
}

// CountCalls instruments cfg so that every client built from it counts into the result.
func CountCalls(cfg *aws.Config) *Calls {
	c := &Calls{counts: map[string]int{}}
	cfg.APIOptions = append(cfg.APIOptions, func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("count", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.mu.Lock()
			c.counts[awsmiddleware.GetServiceID(ctx)+"."+awsmiddleware.GetOperationName(ctx)]++
			c.mu.Unlock()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
	})
	return c
}

// Reset forgets the calls counted so far.
func (c *Calls) Reset() { c.mu.Lock(); c.counts = map[string]int{}; c.mu.Unlock() }

// String lists the counts, sorted: "DynamoDB.GetItem=1 KMS.Sign=1".
func (c *Calls) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, v := range c.counts {
		parts = append(parts, k+"="+strconv.Itoa(v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
