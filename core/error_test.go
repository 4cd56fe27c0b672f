package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestWrapKeepsTheCauseKindAndDetail(t *testing.T) {
	cause := E("dynamo.Store.GetUser", KindUnavailable, "storage unavailable", errors.New("dial tcp: refused"))
	err := Wrap("core.Sessions.Refresh", cause)
	if KindOf(err) != KindUnavailable || DetailOf(err) != "storage unavailable" {
		t.Errorf("Wrap over unavailable: kind %v detail %q", KindOf(err), DetailOf(err))
	}
	if KindOf(Wrap("x", errors.New("sdk said no"))) != KindInternal {
		t.Error("Wrap of a bare error is not internal")
	}
	if Wrap("x", nil) != nil {
		t.Error("Wrap(op, nil) is not nil")
	}
	rl := E("core.RateLimiter.Allow", KindRateLimited, "slow down", nil)
	rl.RetryAfter = 7
	if RetryAfterOf(Wrap("outer", rl)) != 7 {
		t.Error("Wrap hid RetryAfter")
	}
}

func TestErrorMessageNeverRepeatsItself(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{E("a", KindInvalid, "email is not valid", nil), "a: invalid: email is not valid"},
		{Wrap("outer", E("inner", KindUnavailable, "storage unavailable", errors.New("timeout"))),
			"outer: inner: unavailable: storage unavailable: timeout"},
		{E("outer", KindUnauthenticated, "invalid access token", E("inner", KindUnauthenticated, "invalid access token", nil)),
			"outer: inner: unauthenticated: invalid access token"},
		{E("verify", KindUnauthenticated, "invalid access token", errors.New("invalid access token")),
			"verify: unauthenticated: invalid access token"},
		{Wrap("a", errors.New("boom")), "a: boom"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("Error() = %q, want %q", got, c.want)
		}
	}
}

// TestRunningOutOfTimeIsAnOutage: a context error that no adapter classified (a library
// wrapping it, a bare Wrap) is KindUnavailable, never KindInternal; a kind an adapter did give
// is kept.
func TestRunningOutOfTimeIsAnOutage(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want Kind
	}{
		"bare deadline":       {context.DeadlineExceeded, KindUnavailable},
		"wrapped deadline":    {Wrap("x.Y", fmt.Errorf("library: %w", context.DeadlineExceeded)), KindUnavailable},
		"wrapped cancel":      {Wrap("x.Y", Wrap("a.B", context.Canceled)), KindUnavailable},
		"classified deadline": {E("x.Y", KindUnauthenticated, "", context.DeadlineExceeded), KindUnauthenticated},
		"plain bug":           {Wrap("x.Y", errors.New("nil map")), KindInternal},
	} {
		if got := KindOf(c.err); got != c.want {
			t.Errorf("%s: KindOf = %s, want %s", name, got, c.want)
		}
	}
}
