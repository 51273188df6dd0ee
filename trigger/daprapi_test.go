package trigger_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/trigger"
)

// TestDaprHealthEndpoints: as in Dapr, the health endpoints answer without
// the API token (probes carry none; Dapr exempts every /healthz route), and
// /v1.0/healthz/outbound, which Dapr's SDKs poll before their first call
// ("wait for sidecar"), answers 204 once the output bindings are open.
func TestDaprHealthEndpoints(t *testing.T) {
	set := loadComponents(t,
		memoryComponent("orders", unique(t, "in"), map[string]string{"direction": "input"}),
		memoryComponent("shipments", unique(t, "out"), map[string]string{"direction": "output"}),
	)
	rt, err := trigger.New(trigger.Options{Components: set, APIToken: "s3cret", Functions: []trigger.Function{{
		Name: "ship", Trigger: "orders", Handler: func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	h := rt.Handler()
	if rec := do(t, h, "GET", "/v1.0/healthz/outbound", ""); rec.Code == http.StatusNoContent {
		t.Errorf("healthz/outbound before start = %d, want a failure", rec.Code)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	if rec := do(t, h, "GET", "/v1.0/healthz/outbound", ""); rec.Code != http.StatusNoContent {
		t.Errorf("healthz/outbound after start, without token = %d, want 204", rec.Code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := do(t, h, "GET", "/v1.0/healthz", "")
		if rec.Code == http.StatusNoContent {
			break
		}
		if rec.Code == http.StatusUnauthorized || time.Now().After(deadline) {
			t.Fatalf("healthz without token = %d, want 204 once receiving", rec.Code)
		}
		time.Sleep(5 * time.Millisecond) // the receive loop starts asynchronously
	}
	if rec := do(t, h, "GET", "/v1.0/status", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("status without token = %d, want 401: only health is exempt", rec.Code)
	}
}
