// Package mail sends Latchkey's emails (sign-up codes, recovery notices) through Amazon SES v2.
// It is the one package that knows SES: a use case hands it a rendered core.Message, and it
// answers in core's error kinds. Recipients and bodies never reach a log or an error.
package mail

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/awserr"
)

// API is the one SES v2 call the sender makes; *sesv2.Client implements it.
type API interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// Sender sends messages from one address, which must belong to an identity verified in SES
// (the address itself or its domain) and be the identity the function may send as.
type Sender struct {
	api  API
	from string
}

// New returns a sender that sends from the address from (LATCHKEY_EMAIL_FROM).
func New(api API, from string) *Sender {
	return &Sender{api: api, from: from}
}

// charset is the character set SES is told the subject and both bodies are in.
const charset = "UTF-8"

// detailUnavailable is the client-safe detail of every email outage.
const detailUnavailable = "email service unavailable"

// Send delivers m to m.To as one simple message with a plain-text and an HTML body, both
// UTF-8. An unreachable, throttled or slow SES is KindUnavailable (nothing was sent, and a
// retry may work); SES refusing the message (an unverified sender, paused or suspended sending,
// a rejected message or address) is KindInternal, a deployment fault to fix rather than
// something the client did. Errors name the message's kind, never its recipient or content.
func (s *Sender) Send(ctx context.Context, m core.Message) error {
	const op = "mail.Sender.Send"
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.from),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String(charset)},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(m.Text), Charset: aws.String(charset)},
				Html: &types.Content{Data: aws.String(m.HTML), Charset: aws.String(charset)},
			},
		}},
	}
	if m.HTML == "" {
		in.Content.Simple.Body.Html = nil // SES refuses an empty part
	}
	if _, err := s.api.SendEmail(ctx, in); err != nil {
		return classify(op, m.Kind, err)
	}
	return nil
}

// refusal names, for the log, why SES refused to send; "" when err is no refusal. The SDK's
// messages are left out on purpose: SES puts addresses in them.
func refusal(err error) string {
	var (
		rejected   *types.MessageRejected
		mailFrom   *types.MailFromDomainNotVerifiedException
		paused     *types.SendingPausedException
		suspended  *types.AccountSuspendedException
		notFound   *types.NotFoundException
		badRequest *types.BadRequestException
	)
	switch {
	case errors.As(err, &rejected):
		return "SES rejected the message (MessageRejected: an unverified sender or, in the SES sandbox, an unverified recipient)"
	case errors.As(err, &mailFrom):
		return "SES refused the sender: its MAIL FROM domain is not verified"
	case errors.As(err, &paused):
		return "SES sending is paused for the account or configuration set"
	case errors.As(err, &suspended):
		return "SES sending is suspended for the account"
	case errors.As(err, &notFound):
		return "SES found no such resource (the sender identity or configuration set)"
	case errors.As(err, &badRequest):
		return "SES refused the request as invalid (a malformed address or message)"
	}
	// An emulator, or an older endpoint, may answer with a code the SDK does not map to a
	// type (moto's SES answers MessageRejected this way).
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch code := apiErr.ErrorCode(); code {
		case "MessageRejected", "MailFromDomainNotVerifiedException", "MailFromDomainNotVerified",
			"SendingPausedException", "AccountSuspendedException", "NotFoundException",
			"BadRequestException", "InvalidParameterValue", "AccessDeniedException", "AccessDenied":
			return "SES refused the message (" + code + ")"
		}
	}
	return ""
}

// classify turns an error of SendEmail into a *core.Error for op: a refusal is internal with
// a cause that says what SES refused; throttling, quotas, server errors, network failures,
// timeouts and cancellation are KindUnavailable; anything else is a bug, internal.
func classify(op core.Op, kind string, err error) error {
	if why := refusal(err); why != "" {
		return core.E(op, core.KindInternal, "", &sendError{kind: kind, why: why, err: err})
	}
	if unavailable(err) {
		return core.E(op, core.KindUnavailable, detailUnavailable, &sendError{kind: kind, why: "SES unavailable", err: err})
	}
	return core.E(op, core.KindInternal, "", &sendError{kind: kind, why: "SES send failed", err: err})
}

// sendError is the internal cause of a failed send: the message's kind and what went wrong.
// It keeps the SDK's error for errors.As, but its text leaves out the SDK's message, which
// may hold the recipient's address; only the error code and the HTTP status are kept.
type sendError struct {
	kind string
	why  string
	err  error
}

func (e *sendError) Error() string {
	s := "sending " + e.kind + " email: " + e.why
	var apiErr smithy.APIError
	if errors.As(e.err, &apiErr) {
		s += ": code " + apiErr.ErrorCode()
	}
	var exhausted *retry.MaxAttemptsError
	switch {
	case errors.Is(e.err, context.DeadlineExceeded):
		s += ": deadline exceeded"
	case errors.Is(e.err, context.Canceled):
		s += ": canceled"
	case errors.As(e.err, &exhausted):
		s += ": retries exhausted"
	}
	var opErr *net.OpError
	if errors.As(e.err, &opErr) {
		s += ": network: " + opErr.Op
	}
	return s
}

func (e *sendError) Unwrap() error { return e.err }

// transientCodes are the SES error codes that mean "slow down" or "try later", not "you are
// wrong": throttling, the account's sending rate or daily quota, and server failures.
var transientCodes = map[string]bool{
	"TooManyRequestsException":      true,
	"LimitExceededException":        true,
	"Throttling":                    true,
	"ThrottlingException":           true,
	"InternalServiceErrorException": true,
	"InternalFailure":               true,
	"ServiceUnavailable":            true,
}

// unavailable reports whether err says SES could not be reached or would not serve the
// request now, as opposed to refusing it.
func unavailable(err error) bool { return awserr.Unavailable(err, transientCodes) }
