package core

import (
	"errors"
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
