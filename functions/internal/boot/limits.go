package boot

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Leeway is the clock skew tolerated on access-token times (exp, iat) between the nodes that
// sign and the nodes that verify.
const Leeway = 30 * time.Second

// Timeouts of the cold-start reads. A function that cannot load the HMAC secret cannot serve,
// so that read fails the cold start; the public keys are only preloaded (a KMS that is down
// at cold start is retried on first use). The two run beside each other (PreloadBeside), so
// with both services hung a cold start fails after SecretTimeout, inside Lambda's 10 s init
// limit, and the platform answers that request (the local gateway 502).
const (
	SecretTimeout = 5 * time.Second
	KeysTimeout   = 3 * time.Second
)

// Request deadlines (docs/security.md, failure behaviour). Every request a function serves,
// and every authorizer decision, runs under RequestTimeout, or under the Lambda's own deadline
// less DeadlineMargin when that comes first, so a hung dependency is answered by Latchkey
// (503, or a deny) well inside the function timeout (10 s) instead of by the platform (504).
// The margin leaves time to write the answer and its log line.
const (
	RequestTimeout = 3 * time.Second
	DeadlineMargin = 500 * time.Millisecond
)

// ReadyCheckTimeout bounds each check of the readiness probe, inside RequestTimeout, so that
// a hung dependency is named ("timeout") rather than taking the whole probe with it.
const ReadyCheckTimeout = 2 * time.Second

// Timeouts of the SDK's HTTP transport. They bound each attempt even where no caller set a
// deadline: a peer that accepts a connection and never answers fails the attempt after
// ResponseHeaderTimeout, so the SDK's bounded retry gets a fresh connection inside the request
// deadline. AWS endpoints connect and answer in milliseconds; these are far above that.
const (
	DialTimeout           = time.Second
	TLSHandshakeTimeout   = time.Second
	ResponseHeaderTimeout = 2 * time.Second
	IdleConnTimeout       = 90 * time.Second
)

// Rule is one rate limit: at most Limit hits per Window for each key, counted under Name.
// It has the fields of core.Rule, so main converts with core.Rule(r).
type Rule struct {
	Name   string // part of the counter key: changing it resets every counter of the rule
	Limit  int64
	Window time.Duration
}

// Limits are the rate limits of the endpoints (docs/security.md, abuse). They throttle rather
// than lock out: a window ends and the key may try again.
type Limits struct {
	// On /v1/token. A well-behaved client refreshes once per access-token lifetime; these
	// leave room for many tabs and retries and stop brute force and runaway loops.
	TokenByIP      Rule
	TokenBySession Rule
	// On the passkey ceremonies, per client address and per account (normalized email or
	// user id), on begin and on finish.
	PasskeyBeginByIP       Rule
	PasskeyBeginByAccount  Rule
	PasskeyFinishByIP      Rule
	PasskeyFinishByAccount Rule
	// On the email flows and recovery: email/begin per client address and per address asked
	// for, emails sent per address (the resend limit), email/verify per client address, and
	// recovery/codes/verify and recovery/cancel per client address.
	EmailBeginByIP      Rule
	EmailBeginByAddress Rule
	EmailSendByAddress  Rule
	EmailVerifyByIP     Rule
	RecoveryCodeByIP    Rule
	// On /v1/token's client_credentials grant, per machine client (whatever the address or
	// the outcome, so a client's secret cannot be guessed faster than this); the per-address
	// rule is TokenByIP.
	TokenByClient Rule
	// On GET /oauth2/authorize, per client address: each request that reaches the sign-in page
	// writes an item.
	AuthorizeByIP Rule
}

// DefaultLimits are the limits a deployment runs with unless its environment sets others
// (LimitVars).
var DefaultLimits = Limits{
	TokenByIP:              Rule{Name: "token-ip", Limit: 120, Window: time.Minute},
	TokenBySession:         Rule{Name: "token-sid", Limit: 30, Window: time.Minute},
	PasskeyBeginByIP:       Rule{Name: "pk-begin-ip", Limit: 60, Window: time.Minute},
	PasskeyBeginByAccount:  Rule{Name: "pk-begin-acct", Limit: 20, Window: time.Minute},
	PasskeyFinishByIP:      Rule{Name: "pk-finish-ip", Limit: 60, Window: time.Minute},
	PasskeyFinishByAccount: Rule{Name: "pk-finish-acct", Limit: 30, Window: time.Minute},
	EmailBeginByIP:         Rule{Name: "email-begin-ip", Limit: 30, Window: time.Hour},
	EmailBeginByAddress:    Rule{Name: "email-begin-addr", Limit: 10, Window: time.Hour},
	EmailSendByAddress:     Rule{Name: "email-send-addr", Limit: 1, Window: time.Minute},
	EmailVerifyByIP:        Rule{Name: "email-verify-ip", Limit: 60, Window: time.Hour},
	RecoveryCodeByIP:       Rule{Name: "recovery-code-ip", Limit: 20, Window: time.Hour},
	TokenByClient:          Rule{Name: "token-client", Limit: 60, Window: time.Minute},
	AuthorizeByIP:          Rule{Name: "authorize-ip", Limit: 60, Window: time.Minute},
}

// LimitVars name the environment variable of each rule, in the order of Limits. A value is
// "<limit>/<window>", e.g. "120/1m": at most limit hits (1 to MaxLimit) per window (a Go
// duration from MinWindow to MaxWindow). The rule's Name, and with it the counters, stays.
var LimitVars = []string{
	"LATCHKEY_LIMIT_TOKEN_IP",
	"LATCHKEY_LIMIT_TOKEN_SESSION",
	"LATCHKEY_LIMIT_PASSKEY_BEGIN_IP",
	"LATCHKEY_LIMIT_PASSKEY_BEGIN_ACCOUNT",
	"LATCHKEY_LIMIT_PASSKEY_FINISH_IP",
	"LATCHKEY_LIMIT_PASSKEY_FINISH_ACCOUNT",
	"LATCHKEY_LIMIT_EMAIL_BEGIN_IP",
	"LATCHKEY_LIMIT_EMAIL_BEGIN_ADDRESS",
	"LATCHKEY_LIMIT_EMAIL_SEND_ADDRESS",
	"LATCHKEY_LIMIT_EMAIL_VERIFY_IP",
	"LATCHKEY_LIMIT_RECOVERY_CODE_IP",
	"LATCHKEY_LIMIT_TOKEN_CLIENT",
	"LATCHKEY_LIMIT_AUTHORIZE_IP",
}

// Bounds of a configured rate limit. A window over an hour would let one burst lock a client
// address out for longer than a throttle should; a limit over MaxLimit is no limit.
const (
	MaxLimit  = 100000
	MinWindow = time.Second
	MaxWindow = time.Hour
)

// rules returns pointers to the rules of l in the order of LimitVars.
func (l *Limits) rules() []*Rule {
	return []*Rule{
		&l.TokenByIP, &l.TokenBySession,
		&l.PasskeyBeginByIP, &l.PasskeyBeginByAccount,
		&l.PasskeyFinishByIP, &l.PasskeyFinishByAccount,
		&l.EmailBeginByIP, &l.EmailBeginByAddress, &l.EmailSendByAddress, &l.EmailVerifyByIP, &l.RecoveryCodeByIP,
		&l.TokenByClient,
		&l.AuthorizeByIP,
	}
}

// loadLimits returns DefaultLimits with every rule whose variable getenv sets replaced, and
// one error per bad value.
func loadLimits(getenv func(string) string) (Limits, []error) {
	l := DefaultLimits
	var errs []error
	for i, r := range l.rules() {
		name := LimitVars[i]
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			continue
		}
		n, w, ok := strings.Cut(v, "/")
		limit, err := strconv.ParseInt(strings.TrimSpace(n), 10, 64)
		if !ok || err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not <limit>/<window> like 120/1m", name, v))
			continue
		}
		window, err := time.ParseDuration(strings.TrimSpace(w))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not <limit>/<window> like 120/1m", name, v))
			continue
		}
		if limit < 1 || limit > MaxLimit {
			errs = append(errs, fmt.Errorf("%s: limit %d is outside [1, %d]", name, limit, MaxLimit))
			continue
		}
		if window < MinWindow || window > MaxWindow {
			errs = append(errs, fmt.Errorf("%s: window %s is outside [%s, %s]", name, window, MinWindow, MaxWindow))
			continue
		}
		r.Limit, r.Window = limit, window
	}
	return l, errs
}
