package recovery

import (
	"context"
	"crypto/hmac"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/internal/parallel"
	"github.com/latchkey/latchkey/core/message"
)

// BeginRequest asks for an email code.
type BeginRequest struct {
	Email   string
	Purpose string // "signup" or "recovery"
}

// FlowStart is what the client that asked for a code keeps: the flow id, without which the
// code is useless, and how long the code works.
type FlowStart struct {
	FlowID    string
	ExpiresIn time.Duration
}

// VerifyRequest is a code typed in for a flow.
type VerifyRequest struct {
	FlowID string
	Code   string
}

// Verified is what a right code, or a recovery code, is exchanged for: a sign-up ticket, or a
// recovery ticket with the time from which it can enrol a passkey.
type Verified struct {
	SignUpTicket   string
	RecoveryTicket string
	AvailableAt    time.Time
}

// Begin starts an email flow (docs/api.md, email and recovery). It answers the same for every
// address, in status, shape and time: a sign-up for a free address gets a code and one for a
// taken address a notice to its owner; a recovery for a known address gets a code and one for
// an unknown address nothing. Every branch writes a flow (the ones without a code hold the
// hash of a code nobody has), and the answer is held until BeginFloor has passed, so that the
// time of a send does not tell the branches apart.
//
// The limits (per client address, per address asked for and the one-a-minute resend limit)
// are counted first and answer 429 alike for every address. Round trips: the limits
// (concurrently), the account lookup, then the flow and the email (concurrently).
func (d *Desk) Begin(ctx context.Context, r BeginRequest, client core.Client) (FlowStart, error) {
	const op core.Op = "recovery.Desk.Begin"
	start := d.Now()
	email, err := core.NormalizeEmail(r.Email)
	if err != nil {
		return FlowStart{}, err
	}
	var purpose core.FlowPurpose
	switch r.Purpose {
	case "signup":
		purpose = core.FlowSignUp
	case "recovery":
		purpose = core.FlowRecovery
	default:
		return FlowStart{}, core.E(op, core.KindInvalid, `purpose must be "signup" or "recovery"`, nil)
	}
	address := d.addressKey(email)
	var ipErr, addrErr, sendErr error
	parallel.Do(
		func() { ipErr = d.Limiter.Allow(ctx, d.BeginByIP, client.IP, start) },
		func() { addrErr = d.Limiter.Allow(ctx, d.BeginByAddress, address, start) },
		func() { sendErr = d.Limiter.Allow(ctx, d.SendByAddress, address, start) },
	)
	if err := parallel.First(ipErr, addrErr, sendErr); err != nil {
		d.audit(ctx, "email.begin_refused", "purpose", purpose.String(), "reason", core.KindOf(err).String(), "account", address, "ip", client.IP)
		return FlowStart{}, err
	}
	defer d.hold(ctx, start)

	uid, err := d.Accounts.UserIDByEmail(ctx, email)
	switch {
	case core.Is(err, core.KindNotFound):
		uid = ""
	case err != nil:
		return FlowStart{}, err
	}
	code := newEmailCode()
	flow := core.EmailFlow{
		ID: core.NewID(), Purpose: purpose, Email: email, TriesLeft: Tries,
		CreatedAt: start, ExpiresAt: start.Add(CodeTTL),
	}
	kind := ""
	switch {
	case purpose == core.FlowSignUp && uid == "":
		kind = message.SignUpCode
	case purpose == core.FlowSignUp:
		kind = message.SignUpTaken
	case uid != "":
		kind = message.RecoveryCode
		flow.UserID = uid
	}
	// A flow whose address gets no code keeps the hash of one nobody was sent, so that
	// verifying it fails exactly as a wrong code does.
	sent := kind == message.SignUpCode || kind == message.RecoveryCode
	if sent {
		flow.CodeHash = d.codeHash(flow.ID, code)
	} else {
		flow.CodeHash = d.codeHash(flow.ID, newEmailCode()+"-never-sent")
	}
	var putErr, mailErr error
	parallel.Do(
		func() { putErr = d.Flows.PutFlow(ctx, flow, start) },
		func() {
			if kind == "" {
				return
			}
			data := message.Data{ExpiresIn: CodeTTL}
			if sent {
				data.Code = code
			}
			mailErr = d.send(ctx, kind, email, data)
		},
	)
	if putErr != nil {
		return FlowStart{}, putErr
	}
	if mailErr != nil {
		// Both sign-up branches send, so an outage answered as one tells nothing. Of the
		// recovery branches only one sends: that failure is logged, and the client, which
		// gets no code, asks again after the resend limit.
		d.audit(ctx, "email.send_failed", "purpose", purpose.String(), "message", kind, "account", address, "err", mailErr.Error())
		if purpose == core.FlowSignUp {
			return FlowStart{}, mailErr
		}
	}
	d.audit(ctx, "email.flow_begun", "purpose", purpose.String(), "flow", flow.ID, "message", kind, "account", address, "ip", client.IP)
	return FlowStart{FlowID: flow.ID, ExpiresIn: CodeTTL}, nil
}

// hold waits until BeginFloor has passed since start, or ctx ends.
func (d *Desk) hold(ctx context.Context, start time.Time) {
	wait := d.BeginFloor - d.Now().Sub(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Verify exchanges a flow's code (docs/api.md, email/verify): one try of the flow is spent by
// a conditional write before the code is compared, so the flow dies after Tries wrong codes
// however they race. A right sign-up code gets a single-use sign-up ticket; a right recovery
// code starts the account's recovery, which can complete after Delay, and emails the owner at
// once with a cancel code. A wrong code answers invalid_code; a flow that is unknown, expired,
// used or out of tries answers invalid_flow. Both 400.
func (d *Desk) Verify(ctx context.Context, r VerifyRequest, client core.Client) (Verified, error) {
	const op core.Op = "recovery.Desk.Verify"
	now := d.Now()
	code := strings.TrimSpace(r.Code)
	if !core.IsID(r.FlowID) {
		return Verified{}, problem(op, core.KindInvalid, "invalid_flow", "the flow is unknown or has ended; ask for a new code", nil)
	}
	if !sixDigits(code) {
		return Verified{}, problem(op, core.KindInvalid, "invalid_code", "the code is six digits", nil)
	}
	if err := d.Limiter.Allow(ctx, d.VerifyByIP, client.IP, now); err != nil {
		return Verified{}, err
	}
	flow, err := d.Flows.SpendTry(ctx, r.FlowID, now)
	if core.Is(err, core.KindNotFound) {
		d.audit(ctx, "email.verify_failed", "flow", r.FlowID, "reason", "flow_unknown_or_ended", "ip", client.IP)
		return Verified{}, problem(op, core.KindInvalid, "invalid_flow", "the flow is unknown or has ended; ask for a new code", err)
	}
	if err != nil {
		return Verified{}, err
	}
	if !hmac.Equal(d.codeHash(flow.ID, code), flow.CodeHash) {
		d.audit(ctx, "email.verify_failed", "flow", flow.ID, "purpose", flow.Purpose.String(), "reason", "wrong_code",
			"tries_left", flow.TriesLeft, "account", d.addressKey(flow.Email), "ip", client.IP)
		detail := fmt.Sprintf("the code is wrong; %d tries left", flow.TriesLeft)
		if flow.TriesLeft == 0 {
			detail = "the code is wrong, and that was the last try; ask for a new code"
		}
		return Verified{}, problem(op, core.KindInvalid, "invalid_code", detail, nil)
	}
	switch flow.Purpose {
	case core.FlowSignUp:
		ticket := core.NewTicket(flow.ID)
		err := d.Flows.VerifySignUp(ctx, flow.ID, ticket.Hash(d.key(core.KeySignUpTicket)), now.Add(SignUpTicketTTL), now)
		if core.Is(err, core.KindNotFound) {
			return Verified{}, problem(op, core.KindInvalid, "invalid_flow", "the flow is unknown or has ended; ask for a new code", err)
		}
		if err != nil {
			return Verified{}, err
		}
		d.audit(ctx, "email.verified", "purpose", "signup", "flow", flow.ID, "account", d.addressKey(flow.Email), "ip", client.IP)
		return Verified{SignUpTicket: ticket.String()}, nil
	case core.FlowRecovery:
		if flow.UserID == "" { // no code was sent for it: unreachable with a right code
			return Verified{}, problem(op, core.KindInvalid, "invalid_code", "the code is wrong", nil)
		}
		return d.startEmailRecovery(ctx, flow, client, now)
	}
	return Verified{}, core.Wrap(op, fmt.Errorf("flow %s has purpose %d", flow.ID, flow.Purpose))
}

// startEmailRecovery starts the recovery a right recovery code asked for, consuming its flow
// in the same write, and tells the owner at once, with the cancel code. The notice is part of
// the recovery: if it cannot be sent, the recovery is withdrawn and the answer is the outage.
func (d *Desk) startEmailRecovery(ctx context.Context, flow core.EmailFlow, client core.Client, now time.Time) (Verified, error) {
	const op core.Op = "recovery.Desk.Verify"
	ticket, cancel := core.NewTicket(flow.UserID), core.NewTicket(flow.UserID)
	// The store keeps whole seconds: availableAt is rounded up, so that a client acting at the
	// time it was told is never early.
	available := now.Add(d.Delay)
	if t := available.Truncate(time.Second); !t.Equal(available) {
		available = t.Add(time.Second)
	}
	rec := core.PendingRecovery{
		UserID: flow.UserID, Method: "email", StartedAt: now, AvailableAt: available,
		ExpiresAt:  available.Add(EmailRecoveryWindow),
		TicketHash: ticket.Hash(d.key(core.KeyRecoveryTicket)), CancelHash: cancel.Hash(d.key(core.KeyRecoveryCancel)),
	}
	err := d.Recoveries.StartRecovery(ctx, rec, flow.ID, now)
	if core.Is(err, core.KindNotFound) {
		return Verified{}, problem(op, core.KindInvalid, "invalid_flow", "the flow is unknown or has ended; ask for a new code", err)
	}
	if err != nil {
		return Verified{}, err
	}
	if err := d.send(ctx, message.RecoveryStarted, flow.Email, message.Data{Method: "email", AvailableAt: rec.AvailableAt, CancelCode: cancel.String()}); err != nil {
		d.audit(ctx, "email.send_failed", "purpose", "recovery", "message", message.RecoveryStarted, "sub", flow.UserID, "err", err.Error())
		if cerr := d.Recoveries.CancelRecovery(context.WithoutCancel(ctx), flow.UserID, rec.CancelHash, now); cerr != nil && !core.Is(cerr, core.KindNotFound) {
			d.audit(ctx, "recovery.withdraw_failed", "sub", flow.UserID, "err", cerr.Error())
		}
		return Verified{}, core.E(op, core.KindUnavailable, "the owner could not be told of the recovery; try again later", err)
	}
	d.audit(ctx, "recovery.started", "method", "email", "sub", flow.UserID, "flow", flow.ID, "available_at", rec.AvailableAt.UTC().Format(time.RFC3339), "ip", client.IP)
	return Verified{RecoveryTicket: ticket.String(), AvailableAt: rec.AvailableAt}, nil
}

// sixDigits reports whether s is six ASCII digits.
func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
