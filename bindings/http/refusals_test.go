package http_test

import (
	"context"
	"log/slog"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

// TestRefusedSignaturesLogRateLimited: a flood of forged requests is
// answered 401 each, and logged at WARN once, not once each.
func TestRefusedSignaturesLogRateLimited(t *testing.T) {
	set := bindingtest.LoadComponents(t, bindingtest.ComponentYAML("hook", tetherhttp.TypeName,
		map[string]string{"direction": "input", "signature": "github", "secret": testSecret}))
	var logs syncbuf.Buffer
	rt, err := trigger.New(trigger.Options{Components: set, PublicAddr: "127.0.0.1:0", ShutdownGrace: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Functions: []trigger.Function{{Name: "hook", Trigger: "hook",
			Handler: func(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	const forged = 50
	for i := range forged {
		resp, _ := post(t, "http://"+rt.PublicAddr()+"/hook", "application/json", `{"n":1}`,
			"X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64), "X-GitHub-Delivery", "d-"+string(rune('a'+i%26)))
		if resp.StatusCode != nethttp.StatusUnauthorized {
			t.Fatalf("forged request %d: %d, want 401", i, resp.StatusCode)
		}
	}
	if n := strings.Count(logs.String(), `level=WARN msg="webhook signature refused"`); n != 1 {
		t.Errorf("%d forged requests gave %d WARN lines, want 1 (rate-limited):\n%.2000s", forged, n, logs.String())
	}
}
