package trigger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// TestPolyglotOddMetadata: metadata travels to the app as headers, but not
// every metadata key or value can be a header (Redis stream fields, say,
// may hold spaces or newlines). Such an entry must not make the message
// undeliverable (every attempt failing, then a dead letter): the app gets
// the message and the metadata that fits in headers.
func TestPolyglotOddMetadata(t *testing.T) {
	orders, dead := unique(t, "orders"), unique(t, "dead")
	set := loadComponents(t,
		memoryComponent("orders", orders, map[string]string{"maxAttempts": "1", "deadLetter": "dead", "direction": "input"}),
		memoryComponent("dead", dead, map[string]string{"direction": "output"}),
	)
	got := make(chan http.Header, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			got <- r.Header.Clone()
		}
	}))
	defer app.Close()
	fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: app.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	startRuntime(t, set, fns...)
	memory.Publish(orders, &bindings.Message{Data: []byte(`{}`), Metadata: map[string]string{
		"Source": "test", "note": "line one\nline two", "two words": "v",
	}})

	probe, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": dead}})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	deadLetters := make(chan string, 1)
	rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		if msgs, err := probe.Receive(rctx, 1); err == nil {
			deadLetters <- string(msgs[0].Data)
		}
	}()
	select {
	case h := <-got:
		if h.Get("Source") != "test" {
			t.Errorf("the app got headers %v, want Source: test among them", h)
		}
	case env := <-deadLetters:
		t.Fatalf("the message never reached the app; it was dead-lettered: %s", env)
	case <-rctx.Done():
		t.Fatal("neither delivered nor dead-lettered")
	}
}
