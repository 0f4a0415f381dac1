package worker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestSDKLoggerLevelsOfActivityErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		err  error
		want string // level in the output; "" = not logged at info
	}{
		{"polling is debug", sdkActivityErrorMsg, temporal.NewApplicationError("pending", sellerapi.ClassPending.ErrorType()), ""},
		{"retryable is a warning", sdkActivityErrorMsg, temporal.NewApplicationError("down", sellerapi.ClassInternalError.ErrorType()), "level=WARN"},
		{"plain error is a warning", sdkActivityErrorMsg, errors.New("connection refused"), "level=WARN"},
		{"refusal stays an error", sdkActivityErrorMsg, temporal.NewNonRetryableApplicationError("no", sellerapi.ClassRefused.ErrorType(), nil), "level=ERROR"},
		{"other errors untouched", "Workflow panic", errors.New("boom"), "level=ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := SDKLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
			l.Error(tt.msg, "ActivityType", "NewInstance", "Error", tt.err)
			out := buf.String()
			if tt.want == "" {
				if out != "" {
					t.Fatalf("logged %q, want nothing at info level", out)
				}
				return
			}
			if !strings.Contains(out, tt.want) || !strings.Contains(out, "ActivityType=NewInstance") {
				t.Fatalf("logged %q, want %s with the attributes kept", out, tt.want)
			}
		})
	}
}
