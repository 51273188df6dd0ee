package trigger_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	_ "github.com/tetherfn/tether/bindings/mqtt"
	"github.com/tetherfn/tether/internal/testkit/servertest"
	"github.com/tetherfn/tether/trigger"
)

// untilReady polls the runtime's /readyz, as a probe does, until it
// answers want (or a generous bound passes).
func untilReady(t *testing.T, h http.Handler, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code := do(t, h, "GET", "/readyz", "").Code
		if code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after a minute, want %d", code, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadyzFollowsBroker: an input that loses its broker (an MQTT one,
// through a proxy that goes down) makes /readyz answer 503 until it is
// connected again.
func TestReadyzFollowsBroker(t *testing.T) {
	p, err := servertest.StartProxy("127.0.0.1:1883")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	id := unique(t, "c")
	set := loadComponents(t, bindingtest.ComponentYAML("in", "bindings.mqtt3", map[string]string{
		"url": "tcp://" + p.Addr(), "topic": "tether/test/" + id, "consumerID": id, "direction": "input"}))
	rt := startRuntime(t, set, trigger.Function{Name: "fn", Trigger: "in", Handler: ack})
	h := rt.Handler()
	untilReady(t, h, http.StatusNoContent)
	p.Down()
	untilReady(t, h, http.StatusServiceUnavailable)
	if body := do(t, h, "GET", "/readyz", "").Body.String(); strings.Contains(body, p.Addr()) {
		t.Errorf("/readyz names the broker: %q", body)
	}
	p.Up()
	untilReady(t, h, http.StatusNoContent)
}

// signalHandler is a slog handler that sends the messages it sees.
type signalHandler struct{ msgs chan string }

func (s signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (s signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s signalHandler) WithGroup(string) slog.Handler            { return s }

func (s signalHandler) Handle(ctx context.Context, r slog.Record) error {
	select {
	case s.msgs <- r.Message:
	default:
	}
	return nil
}

// TestStuckHandlerReported: a handler that ignores its context past its
// timeout is logged, once, and /readyz is not ready while every worker is
// held by one; it is ready again once they return.
func TestStuckHandlerReported(t *testing.T) {
	q := unique(t, "q")
	set := loadComponents(t, memoryComponent("in", q, map[string]string{"direction": "input", "maxConcurrency": "2", "handlerTimeout": "100ms", "maxAttempts": "1"}))
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(2)
	logs := signalHandler{msgs: make(chan string, 100)}
	rt := startWith(t, trigger.Options{Components: set, Logger: slog.New(logs),
		Functions: []trigger.Function{{Name: "fn", Trigger: "in", Handler: func(context.Context, *bindings.Message) (trigger.Result, error) {
			started.Done()
			<-release // ignores its context
			return trigger.Result{}, nil
		}}}})
	h := rt.Handler()
	untilReady(t, h, http.StatusNoContent)
	memory.Publish(q, &bindings.Message{Data: []byte("1")}, &bindings.Message{Data: []byte("2")})
	started.Wait()
	reports := 0
	for reports < 2 {
		select {
		case m := <-logs.msgs:
			if strings.Contains(m, "ignores its context") {
				reports++
			}
		case <-time.After(time.Minute):
			t.Fatalf("%d reports of a stuck handler after a minute, want 2", reports)
		}
	}
	if code := do(t, h, "GET", "/readyz", "").Code; code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with every worker stuck = %d, want 503", code)
	}
	close(release)
	untilReady(t, h, http.StatusNoContent)
	for {
		select {
		case m := <-logs.msgs:
			if strings.Contains(m, "ignores its context") {
				t.Errorf("a stuck handler reported twice")
			}
			continue
		default:
		}
		break
	}
}
