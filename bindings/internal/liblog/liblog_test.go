package liblog_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/liblog"
)

// remove is what the test binding's last open returned. The type is
// registered once per process (a second Register panics), so that the test
// runs again under -count.
var remove func()

func init() {
	bindings.Register(bindings.Type{
		Name: "bindings.test-liblog", Directions: bindings.DirOutput, Operations: []bindings.Operation{bindings.OpCreate},
		Metadata: []bindings.MetadataKey{{Name: "host"}},
		NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) {
			remove = liblog.GoRedis.Add(cfg)
			return nil, nil
		},
	})
}

// A go-redis log line reaches the logger of the binding that registered,
// redacted with its secrets, and stops once the binding is closed.
func TestGoRedisLinesGoToTheBindingRedacted(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	if _, _, err := bindings.OpenOutput(context.Background(), bindings.Config{Name: "cache", Type: "bindings.test-liblog",
		Metadata: map[string]string{"host": "redis://:pa/ss?word@127.0.0.1:1"}, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	liblog.GoRedis.Printf(context.Background(), "redis: failed to dial %s", "redis://:pa/ss?word@127.0.0.1:1")
	line := buf.String()
	if strings.Contains(line, "pa/ss") || !strings.Contains(line, "redis://:***@127.0.0.1:1") ||
		!strings.Contains(line, "source=go-redis") || !strings.Contains(line, "binding=cache") {
		t.Errorf("line: %s", line)
	}
	remove()
	buf.Reset()
	liblog.GoRedis.Printf(context.Background(), "after close")
	if buf.Len() != 0 {
		t.Errorf("a closed binding still receives lines: %s", &buf)
	}
}
