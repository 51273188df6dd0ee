package fntest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// Start runs whole functions in-process, as their generated mains do but
// without signals or an HTTP server: it loads the component files of dirs
// (as TETHER_COMPONENTS would), starts a trigger.Runtime, and shuts it down
// gracefully when the test ends. The runtime logs to the test's log.
//
// With memory components, a test publishes with memory.Publish and reads
// what the functions sent with Receive.
func Start(t testing.TB, dirs []string, fns ...trigger.Function) *trigger.Runtime {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	set, err := component.Load(dirs, &component.Options{Logger: logger})
	if err != nil {
		t.Fatalf("fntest: components:\n%v", err)
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns, Logger: logger, ShutdownGrace: 10 * time.Second})
	if err != nil {
		t.Fatalf("fntest: %v", err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatalf("fntest: start: %v", err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Errorf("fntest: shutdown: %v", err)
		}
	})
	return rt
}

// ReceiveTimeout bounds how long Receive waits for messages that never come.
const ReceiveTimeout = 30 * time.Second

// Receive takes n messages from the memory queue, acking them, and returns
// them in the order received. It blocks until they have arrived; it fails
// the test if they have not after ReceiveTimeout.
func Receive(t testing.TB, queue string, n int) []*bindings.Message {
	t.Helper()
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{
		Name: "fntest-receive", Type: memory.TypeName, Metadata: map[string]string{"queue": queue},
	})
	if err != nil {
		t.Fatalf("fntest: open queue %q: %v", queue, err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ReceiveTimeout)
	defer cancel()
	var got []*bindings.Message
	for len(got) < n {
		msgs, err := in.Receive(ctx, n-len(got))
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%d of %d messages after %s", len(got), n, ReceiveTimeout)
			}
			t.Fatalf("fntest: receive from queue %q: %v", queue, err)
		}
		for _, m := range msgs {
			if err := in.Ack(ctx, m); err != nil {
				t.Fatalf("fntest: ack on queue %q: %v", queue, err)
			}
		}
		got = append(got, msgs...)
	}
	return got
}
