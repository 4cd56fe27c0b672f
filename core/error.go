// Package core is Latchkey's stateless domain: entities, use cases, the small ports the use
// cases own, and the one error model every layer shares. It never imports the AWS SDK,
// aws-lambda-go or net/http types; adapters (dynamo, core/kmssign) point at it.
package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error for the edge. Only functions/internal/apigw turns a Kind into an
// HTTP status; everything below it speaks in kinds.
type Kind uint8

// The kinds of error. KindInternal is the zero value so that an unclassified error is never
// mistaken for a client mistake.
const (
	KindInternal        Kind = iota // a bug or an unexpected state: logged, answered with a bare 500
	KindInvalid                     // the request is malformed or fails validation
	KindUnauthenticated             // missing, bad or revoked credentials
	KindForbidden                   // authenticated but not allowed
	KindNotFound                    // the thing does not exist (or is expired, which is the same)
	KindConflict                    // a uniqueness or state precondition failed
	KindTooLarge                    // the request body is over the cap
	KindRateLimited                 // too many attempts; see Error.RetryAfter
	KindUnavailable                 // a dependency is down or timed out; nothing was half-written
	KindReauthenticate              // authenticated, but too long ago for this change; see Error.MaxAge (RFC 9470)
)

var kindNames = [...]string{
	KindInternal:        "internal",
	KindInvalid:         "invalid",
	KindUnauthenticated: "unauthenticated",
	KindForbidden:       "forbidden",
	KindNotFound:        "not_found",
	KindConflict:        "conflict",
	KindTooLarge:        "too_large",
	KindRateLimited:     "rate_limited",
	KindUnavailable:     "unavailable",
	KindReauthenticate:  "reauthentication_required",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Op names the operation that failed, as "package.Type.Method" or a short verb phrase.
type Op string

// Error is the one error type of Latchkey. Detail is safe to show a client; Err is the
// internal cause and is only ever logged.
type Error struct {
	Op         Op
	Kind       Kind
	Detail     string
	Err        error
	RetryAfter time.Duration // set with KindRateLimited
	MaxAge     time.Duration // set with KindReauthenticate: how recent the authentication must be
	// Code refines Kind for clients that must act on the difference (a passkey the server did
	// not keep, a credential no account holds): the edge answers it instead of the kind's name.
	// Members are client-safe values that go with it, such as the credential's id.
	Code    string
	Members map[string]string
}

// E builds an *Error. A nil cause is allowed.
func E(op Op, kind Kind, detail string, cause error) *Error {
	return &Error{Op: op, Kind: kind, Detail: detail, Err: cause}
}

// Wrap records that op failed because of err, without classifying it again: the result keeps
// the kind and detail of the first *Error in err's chain, and is KindInternal when there is
// none (a bare SDK or library error is a bug until an adapter says otherwise). Wrap(op, nil)
// is nil, so `return core.Wrap(op, err)` is safe on every path.
func Wrap(op Op, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Err: err}
}

// Error reads as "op: kind: detail: cause", leaving out a kind the cause already has and a
// detail the cause's message already says, so a chain of wraps never repeats itself.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Op))
	cause := ""
	if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Kind != KindInternal && (e.Err == nil || KindOf(e.Err) != e.Kind) {
		b.WriteString(": " + e.Kind.String())
	}
	if e.Detail != "" && !strings.Contains(cause, e.Detail) {
		b.WriteString(": " + e.Detail)
	}
	if cause != "" {
		b.WriteString(": " + cause)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost *Error in err's chain that has a kind other than
// KindInternal; failing that KindUnavailable when the chain holds context.DeadlineExceeded or
// context.Canceled (a request that ran out of time is an outage, never a bug), else
// KindInternal. A nil error has no kind; KindOf(nil) is KindInternal and callers should not
// ask.
func KindOf(err error) Kind {
	for cur := err; cur != nil; {
		var e *Error
		if !errors.As(cur, &e) {
			break
		}
		if e.Kind != KindInternal {
			return e.Kind
		}
		cur = e.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return KindUnavailable
	}
	return KindInternal
}

// DetailOf returns the client-safe detail of the outermost *Error of the kind KindOf reports,
// or "".
func DetailOf(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Kind != KindInternal {
			return e.Detail
		}
		err = e.Err
	}
	return ""
}

// RetryAfterOf returns the RetryAfter of the first rate-limit error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	for errors.As(err, &e) {
		if e.Kind == KindRateLimited {
			return e.RetryAfter
		}
		err = e.Err
	}
	return 0
}

// MaxAgeOf returns the MaxAge of the first re-authentication error in err's chain.
func MaxAgeOf(err error) time.Duration {
	var e *Error
	for errors.As(err, &e) {
		if e.Kind == KindReauthenticate {
			return e.MaxAge
		}
		err = e.Err
	}
	return 0
}

// CodeOf returns the client-facing Code and Members of the first *Error in err's chain that
// has a Code, or "" and nil.
func CodeOf(err error) (string, map[string]string) {
	var e *Error
	for errors.As(err, &e) {
		if e.Code != "" {
			return e.Code, e.Members
		}
		err = e.Err
	}
	return "", nil
}

// Is reports whether err has kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
