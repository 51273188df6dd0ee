package trigger

import (
	"context"
	"errors"
	"log/slog"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// Logging logs every failed attempt with what happens next (retry,
// dead-letter, kept by the broker), and successes at debug level.
func Logging() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			res, err := next(ctx, m)
			logOutcome(ctx, err)
			return res, err
		}
	}
}

// logOutcome is what Logging logs of an attempt that ended with err.
func logOutcome(ctx context.Context, err error) {
	if err == nil {
		if l := deliveryLogger(ctx); l != nil && l.Enabled(ctx, slog.LevelDebug) {
			functions.Logger(ctx).Debug("handled")
		}
		return
	}
	log := functions.Logger(ctx)
	var dl *deadLetteredError
	var ex *exhaustedError
	switch r, retry := asRetry(err); {
	case errors.Is(err, errShutdown):
		log.Warn("attempt cancelled by shutdown; message returned to the broker", "error", err)
	case retry && r.snooze:
		log.Info("snoozed (RetryAfter); will retry, the attempt not counted", "reason", r.err, "delay", r.delay)
	case retry:
		log.Warn("attempt failed; will retry", "error", r.err, "delay", r.delay)
	case errors.As(err, &dl):
		log.Error("message failed for good; sent to dead letter", "error", dl.err)
	case errors.As(err, &ex):
		log.Error("message failed for good; no dead-letter binding, returned to the broker", "error", ex.err, "delay", ex.delay)
	default:
		log.Error("attempt failed", "error", err)
	}
}

// deliveryLogger is the Logger of the delivery in ctx, without building the
// runtime's Delivery of a handler context that was never asked for it
// (handlerContext.delivery): this is read on every success.
func deliveryLogger(ctx context.Context) *slog.Logger {
	if hc, ok := ctx.(*handlerContext); ok && hc.built.Load() == nil && hc.origin != nil {
		return hc.origin.Logger
	}
	if d := functions.FromContext(ctx); d != nil {
		return d.Logger
	}
	return nil
}
