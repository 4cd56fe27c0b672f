package core

import (
	"context"
	"fmt"
	"time"
)

// Rule is one rate limit: at most Limit hits per Window for each key.
type Rule struct {
	Name   string // part of the counter key, e.g. "token-ip"
	Limit  int64
	Window time.Duration
}

// RateLimiter throttles through counters shared by every node, so the limit holds across
// Lambda instances (docs/security.md, abuse). It throttles rather than locks out: once the window
// ends the key may try again, so an attacker cannot lock a victim out for long.
type RateLimiter struct {
	Counters Counters
}

// Allow counts one hit of key under rule at now and answers KindRateLimited, with RetryAfter
// set to the end of the window, once the count exceeds the limit. A store that cannot count
// answers its own error (KindUnavailable): an auth service fails closed.
func (l *RateLimiter) Allow(ctx context.Context, rule Rule, key string, now time.Time) error {
	n, err := l.Counters.Hit(ctx, rule.Name+"#"+key, rule.Window, now)
	if err != nil {
		return err
	}
	if n > rule.Limit {
		e := E("core.RateLimiter.Allow", KindRateLimited, fmt.Sprintf("too many requests; retry after the current %s window", rule.Window), nil)
		e.RetryAfter = WindowStart(now, rule.Window).Add(rule.Window).Sub(now)
		return e
	}
	return nil
}
