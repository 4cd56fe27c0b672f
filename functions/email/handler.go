package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/core"
	"github.com/latchkey/latchkey/core/recovery"
	"github.com/latchkey/latchkey/functions/internal/apigw"
)

type handler struct {
	desk     *recovery.Desk
	verifier *core.Verifier
	log      *slog.Logger
}

// Handle routes one API Gateway request (docs/api.md, email and recovery).
func (h *handler) Handle(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	switch req.RouteKey {
	case "POST /v1/email/begin":
		return h.begin(ctx, req)
	case "POST /v1/email/verify":
		return h.verify(ctx, req)
	case "POST /v1/recovery/codes/verify":
		return h.verifyRecoveryCode(ctx, req)
	case "POST /v1/recovery/cancel":
		return h.cancel(ctx, req)
	}
	// Everything else acts for the holder of an access token.
	claims, err := apigw.Account(ctx, req, h.verifier)
	if err != nil {
		return apigw.Response{}, err
	}
	switch req.RouteKey {
	case "GET /v1/me/recovery":
		return h.pending(ctx, claims)
	case "DELETE /v1/me/recovery":
		if err := h.desk.CancelOwn(ctx, claims, apigw.Client(req)); err != nil {
			return apigw.Response{}, err
		}
		return apigw.NoContent(), nil
	case "POST /v1/me/recovery-codes":
		codes, err := h.desk.NewRecoveryCodes(ctx, claims, apigw.Client(req))
		if err != nil {
			return apigw.Response{}, err
		}
		return apigw.JSON(http.StatusCreated, struct {
			Codes []string `json:"codes"`
		}{codes}), nil
	}
	return apigw.NotFound(req), nil
}

// begin asks for an email code: 202 with the flow id, whatever the address.
func (h *handler) begin(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var body struct {
		Email   string `json:"email"`
		Purpose string `json:"purpose"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	start, err := h.desk.Begin(ctx, recovery.BeginRequest{Email: body.Email, Purpose: body.Purpose}, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusAccepted, struct {
		FlowID    string `json:"flowId"`
		ExpiresIn int    `json:"expiresIn"`
	}{start.FlowID, int(start.ExpiresIn / time.Second)}), nil
}

// verifiedBody is the answer of a right code: a signupToken, or a recoveryToken with the time
// from which it can enrol a passkey.
type verifiedBody struct {
	SignUpToken   string     `json:"signupToken,omitempty"`
	RecoveryToken string     `json:"recoveryToken,omitempty"`
	AvailableAt   *time.Time `json:"availableAt,omitempty"`
}

func newVerifiedBody(v recovery.Verified) verifiedBody {
	b := verifiedBody{SignUpToken: v.SignUpTicket, RecoveryToken: v.RecoveryTicket}
	if v.RecoveryTicket != "" {
		at := v.AvailableAt.UTC().Truncate(time.Second)
		b.AvailableAt = &at
	}
	return b
}

// verify exchanges a flow's code.
func (h *handler) verify(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var body struct {
		FlowID string `json:"flowId"`
		Code   string `json:"code"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	v, err := h.desk.Verify(ctx, recovery.VerifyRequest{FlowID: body.FlowID, Code: body.Code}, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, newVerifiedBody(v)), nil
}

// verifyRecoveryCode spends a recovery code for a recovery token.
func (h *handler) verifyRecoveryCode(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var body struct {
		Code string `json:"code"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	v, err := h.desk.VerifyRecoveryCode(ctx, body.Code, apigw.Client(req))
	if err != nil {
		return apigw.Response{}, err
	}
	return apigw.JSON(http.StatusOK, newVerifiedBody(v)), nil
}

// cancel ends a pending recovery with the cancel code mailed to the owner.
func (h *handler) cancel(ctx context.Context, req *apigw.Request) (apigw.Response, error) {
	var body struct {
		CancelCode string `json:"cancelCode"`
	}
	if err := apigw.DecodeJSON(req, &body); err != nil {
		return apigw.Response{}, err
	}
	if err := h.desk.Cancel(ctx, body.CancelCode, apigw.Client(req)); err != nil {
		return apigw.Response{}, err
	}
	return apigw.NoContent(), nil
}

// pendingBody is GET /v1/me/recovery's answer.
type pendingBody struct {
	Pending *pendingRecovery `json:"pending"`
}

type pendingRecovery struct {
	StartedAt   time.Time `json:"startedAt"`
	AvailableAt time.Time `json:"availableAt"`
	Method      string    `json:"method"`
}

func (h *handler) pending(ctx context.Context, claims core.AccessClaims) (apigw.Response, error) {
	r, err := h.desk.Pending(ctx, claims)
	if err != nil {
		return apigw.Response{}, err
	}
	var b pendingBody
	if r != nil {
		b.Pending = &pendingRecovery{StartedAt: r.StartedAt.UTC(), AvailableAt: r.AvailableAt.UTC(), Method: r.Method}
	}
	return apigw.JSON(http.StatusOK, b), nil
}
