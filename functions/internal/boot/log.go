package boot

import (
	"context"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Logger returns a JSON slog logger writing to w that adds the Lambda request id of the
// context to every record logged with a context (slog.InfoContext and friends).
func Logger(w io.Writer, function string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})
	return slog.New(requestIDHandler{h}).With("function", function)
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Preload runs load once at cold start, bounded by KeysTimeout, so that the first request does
// not pay for it. A failure is not fatal: it is logged and the work happens on first use.
func Preload(ctx context.Context, log *slog.Logger, what string, load func(context.Context) error) {
	ctx, cancel := context.WithTimeout(ctx, KeysTimeout)
	defer cancel()
	if err := load(ctx); err != nil {
		log.Warn(what+" not loaded at cold start; will retry on first use", "err", err)
	}
}

// PreloadBeside is Preload run beside the other cold-start reads: it starts load and returns
// a wait for it. A cold start that loads the keys and the HMAC secret one after the other
// with KMS and Secrets Manager hung would take KeysTimeout plus SecretTimeout; beside each
// other it takes the longer of the two.
func PreloadBeside(ctx context.Context, log *slog.Logger, what string, load func(context.Context) error) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Preload(ctx, log, what, load)
	}()
	return func() { <-done }
}
