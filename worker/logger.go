package worker

import (
	"context"
	"errors"
	"log/slog"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// SDKLogger adapts the process's slog logger for the Temporal SDK. The SDK logs every failed
// activity attempt at ERROR, which would page ops for what the design expects: a seller
// answering 000004 while we poll, or a retryable failure inside its retry window. Here such
// attempts are logged at DEBUG (polling) and WARN (retryable); only a non-retryable failure
// stays an ERROR. The seller client logs each failed call itself with its result code.
func SDKLogger(l *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(activityErrorLevels{l.Handler()}))
}

// sdkActivityErrorMsg is the message the SDK logs a failed activity attempt with.
const sdkActivityErrorMsg = "Activity error."

type activityErrorLevels struct{ slog.Handler }

func (h activityErrorLevels) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelError || r.Message != sdkActivityErrorMsg {
		return h.Handler.Handle(ctx, r)
	}
	level := slog.LevelWarn
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		if !ok {
			return true
		}
		var appErr *temporal.ApplicationError
		switch {
		case errors.As(err, &appErr) && appErr.NonRetryable():
			level = slog.LevelError
		case errors.As(err, &appErr) && appErr.Type() == sellerapi.ClassPending.ErrorType():
			level = slog.LevelDebug
		}
		return false
	})
	if !h.Handler.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return h.Handler.Handle(ctx, out)
}

func (h activityErrorLevels) WithAttrs(as []slog.Attr) slog.Handler {
	return activityErrorLevels{h.Handler.WithAttrs(as)}
}

func (h activityErrorLevels) WithGroup(name string) slog.Handler {
	return activityErrorLevels{h.Handler.WithGroup(name)}
}
