package trigger

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

func TestLoggingSaysWhatHappensNext(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := &bindings.Message{ID: "msg-7"}
	ctx := functions.NewContext(context.Background(), &functions.Delivery{
		Function: "fn", Binding: "in", Attempt: 2, Message: m, Logger: logger,
	})
	for _, tc := range []struct {
		h    Handler
		want string
	}{
		{succeed, "level=DEBUG msg=handled"},
		{failWith(&retryError{delay: time.Second, err: errBoom}), "will retry"},
		{failWith(&deadLetteredError{err: errBoom}), "sent to dead letter"},
		{failWith(&exhaustedError{err: errBoom, delay: time.Minute}), "returned to the broker"},
		{failWith(errShutdown), "cancelled by shutdown"},
	} {
		buf.Reset()
		_, _ = Logging()(tc.h)(ctx, m)
		if out := buf.String(); !strings.Contains(out, tc.want) || !strings.Contains(out, "id=msg-7") || !strings.Contains(out, "attempt=2") {
			t.Errorf("log = %q, want %q with id and attempt", out, tc.want)
		}
	}
}
