package trigger_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/trigger"
)

// webhookSet is a function triggered by a webhook at /hook that can write
// to a memory output.
func webhookSet(t *testing.T) (set *component.Set, out string) {
	t.Helper()
	out = unique(t, "out")
	return loadComponents(t,
		bindingtest.ComponentYAML("hook", "bindings.http", map[string]string{"direction": "input", "webhookPath": "/hook"}),
		memoryComponent("store", out, map[string]string{"direction": "output"}),
	), out
}

func get(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func ack(context.Context, *bindings.Message) (trigger.Result, error) { return trigger.Result{}, nil }

// TestSurfacesApart: the public listener serves the webhook and nothing
// else; the control listener serves the API, status, metrics and health,
// and no webhook.
func TestSurfacesApart(t *testing.T) {
	set, _ := webhookSet(t)
	rt := startWith(t, trigger.Options{Components: set, PublicAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		Functions: []trigger.Function{{Name: "fn", Trigger: "hook", Handler: ack}}})
	public, control := "http://"+rt.PublicAddr(), "http://"+rt.ControlAddr()
	if rt.PublicAddr() == "" || rt.PublicAddr() == rt.ControlAddr() {
		t.Fatalf("public %q, control %q: want two listeners", rt.PublicAddr(), rt.ControlAddr())
	}
	invoke := `{"operation":"create","data":"x"}`
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1.0/bindings/store"}, {"PUT", "/v1.0/bindings/store"}, {"GET", "/v1.0/status"},
		{"GET", "/metrics"}, {"GET", "/healthz"}, {"GET", "/readyz"}, {"GET", "/v1.0/healthz"}, {"GET", "/v1.0/metadata"},
	} {
		if code, _ := get(t, c.method, public+c.path, invoke); code != http.StatusNotFound {
			t.Errorf("public %s %s = %d, want 404", c.method, c.path, code)
		}
	}
	if code, body := get(t, "POST", public+"/hook", "hi"); code != http.StatusNoContent {
		t.Errorf("public POST /hook = %d %s, want 204", code, body)
	}
	if code, _ := get(t, "POST", control+"/hook", "hi"); code != http.StatusNotFound {
		t.Errorf("control POST /hook = %d, want 404", code)
	}
	if code, body := get(t, "POST", control+"/v1.0/bindings/store", invoke); code != http.StatusNoContent {
		t.Errorf("control invoke = %d %s, want 204", code, body)
	}
	for _, p := range []string{"/metrics", "/healthz", "/v1.0/status"} {
		if code, _ := get(t, "GET", control+p, ""); code != http.StatusOK {
			t.Errorf("control GET %s = %d, want 200", p, code)
		}
	}
}

// TestNoPublicListenerWithoutWebhooks: a function with no webhook trigger
// opens no public port at all.
func TestNoPublicListenerWithoutWebhooks(t *testing.T) {
	set := loadComponents(t, memoryComponent("in", unique(t, "in"), map[string]string{"direction": "input"}))
	rt := startWith(t, trigger.Options{Components: set, PublicAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0",
		Functions: []trigger.Function{{Name: "fn", Trigger: "in", Handler: ack}}})
	if a := rt.PublicAddr(); a != "" {
		t.Errorf("PublicAddr = %q, want none", a)
	}
	if rt.ControlAddr() == "" {
		t.Error("no control listener")
	}
}

// TestControlBeyondLoopbackNeedsToken: New refuses a control address that
// is not loopback unless a token protects it, and says what to set.
func TestControlBeyondLoopbackNeedsToken(t *testing.T) {
	set := loadComponents(t, memoryComponent("in", unique(t, "in"), map[string]string{"direction": "input"}))
	fns := []trigger.Function{{Name: "fn", Trigger: "in", Handler: ack}}
	for _, addr := range []string{":3500", "0.0.0.0:3500", "[::]:3500", "192.0.2.2:3500", "example.com:3500"} {
		_, err := trigger.New(trigger.Options{Components: set, Functions: fns, ControlAddr: addr})
		if err == nil || !strings.Contains(err.Error(), "TETHER_API_TOKEN") {
			t.Errorf("ControlAddr %s without a token: err = %v, want a refusal naming TETHER_API_TOKEN", addr, err)
		}
		if _, err := trigger.New(trigger.Options{Components: set, Functions: fns, ControlAddr: addr, APIToken: "t"}); err != nil {
			t.Errorf("ControlAddr %s with a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:3500", "127.0.0.2:0", "[::1]:3500", "localhost:3500"} {
		if _, err := trigger.New(trigger.Options{Components: set, Functions: fns, ControlAddr: addr}); err != nil {
			t.Errorf("loopback ControlAddr %s: %v", addr, err)
		}
	}
	// The public surface sharing an exposed control address is the same
	// hole.
	if _, err := trigger.New(trigger.Options{Components: set, Functions: fns, ControlAddr: ":3500", PublicAddr: ":3500"}); err == nil {
		t.Error("public and control on :3500 without a token: accepted")
	}
}

// TestProbeListener: the probe listener serves health and metrics only.
func TestProbeListener(t *testing.T) {
	set, _ := webhookSet(t)
	rt := startWith(t, trigger.Options{Components: set, ProbeAddr: "127.0.0.1:0",
		Functions: []trigger.Function{{Name: "fn", Trigger: "hook", Handler: ack}}})
	probe := "http://" + rt.ProbeAddr()
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := get(t, "GET", probe+p, ""); code != http.StatusOK {
			t.Errorf("probe GET %s = %d, want 200", p, code)
		}
	}
	untilReady(t, rt.Handler(), http.StatusNoContent) // the trigger receives
	if code, _ := get(t, "GET", probe+"/readyz", ""); code != http.StatusNoContent {
		t.Errorf("probe GET /readyz of a ready runtime = %d, want 204", code)
	}
	for _, c := range []struct{ method, path string }{{"POST", "/v1.0/bindings/store"}, {"GET", "/v1.0/status"}, {"POST", "/hook"}} {
		if code, _ := get(t, c.method, probe+c.path, `{"operation":"create"}`); code != http.StatusNotFound {
			t.Errorf("probe %s %s = %d, want 404", c.method, c.path, code)
		}
	}
}

// TestSharedAddress: surfaces given one address share a listener that
// serves both (probes on the public port, as Knative wants).
func TestSharedAddress(t *testing.T) {
	set, _ := webhookSet(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rt := startWith(t, trigger.Options{Components: set, PublicAddr: addr, ProbeAddr: addr,
		Functions: []trigger.Function{{Name: "fn", Trigger: "hook", Handler: ack}}})
	if rt.PublicAddr() != rt.ProbeAddr() {
		t.Fatalf("public %s, probe %s: want one listener", rt.PublicAddr(), rt.ProbeAddr())
	}
	base := "http://" + rt.PublicAddr()
	if code, _ := get(t, "GET", base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz = %d", code)
	}
	if code, _ := get(t, "POST", base+"/hook", "x"); code != http.StatusNoContent {
		t.Errorf("hook = %d", code)
	}
	if code, _ := get(t, "POST", base+"/v1.0/bindings/store", `{"operation":"create"}`); code != http.StatusNotFound {
		t.Errorf("invoke on public+probe = %d, want 404", code)
	}
}

// TestAPIBodyLimit: a /v1.0 body over MaxRequestBodySize is answered 413,
// whether its length is declared or not.
func TestAPIBodyLimit(t *testing.T) {
	set, _ := webhookSet(t)
	rt := startWith(t, trigger.Options{Components: set, ControlAddr: "127.0.0.1:0", MaxRequestBodySize: 1000,
		Functions: []trigger.Function{{Name: "fn", Trigger: "hook", Handler: ack}}})
	url := "http://" + rt.ControlAddr() + "/v1.0/bindings/store"
	big := `{"operation":"create","data":"` + strings.Repeat("x", 1000) + `"}`
	if code, _ := get(t, "POST", url, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared length over the limit = %d, want 413", code)
	}
	// Without a Content-Length (chunked).
	req, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader(big)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit = %d, want 413", resp.StatusCode)
	}
	if code, body := get(t, "POST", url, `{"operation":"create","data":"small"}`); code != http.StatusNoContent {
		t.Errorf("small body = %d %s", code, body)
	}
}

func TestSettingsListeners(t *testing.T) {
	for _, c := range []struct {
		env                    map[string]string
		public, control, probe string
		err                    string
	}{
		{env: nil, public: ":8080", control: "127.0.0.1:3500"},
		{env: map[string]string{"PORT": "9000"}, public: ":9000", control: "127.0.0.1:3500"},
		{env: map[string]string{"PORT": "9000", "TETHER_HTTP_PORT": "7000", "TETHER_HTTP_HOST": "127.0.0.1"}, public: "127.0.0.1:7000", control: "127.0.0.1:3500"},
		{env: map[string]string{"TETHER_API_HOST": "0.0.0.0", "TETHER_API_PORT": "3600", "TETHER_PROBE_PORT": "9090"}, public: ":8080", control: "0.0.0.0:3600", probe: ":9090"},
		{env: map[string]string{"PORT": "http"}, err: "PORT"},
		{env: map[string]string{"TETHER_API_MAX_REQUEST_SIZE": "lots"}, err: "API_MAX_REQUEST_SIZE"},
	} {
		for _, k := range []string{"PORT", "TETHER_HTTP_PORT", "TETHER_HTTP_HOST", "TETHER_API_HOST", "TETHER_API_PORT", "TETHER_PROBE_PORT", "TETHER_API_MAX_REQUEST_SIZE", "TETHER_API_TOKEN", "DAPR_API_TOKEN"} {
			t.Setenv(k, c.env[k])
			if _, set := c.env[k]; !set {
				os.Unsetenv(k)
			}
		}
		s, err := trigger.LoadSettings()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err = %v, want one naming %s", c.env, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", c.env, err)
			continue
		}
		o := s.Options()
		if o.PublicAddr != c.public || o.ControlAddr != c.control || o.ProbeAddr != c.probe || o.MaxRequestBodySize != 4<<20 {
			t.Errorf("%v: public %q control %q probe %q max %d, want %q %q %q 4Mi", c.env, o.PublicAddr, o.ControlAddr, o.ProbeAddr, o.MaxRequestBodySize, c.public, c.control, c.probe)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"4Mi": 4 << 20, "512Ki": 512 << 10, "4MB": 4e6, "100": 100, "1Gi": 1 << 30, "7B": 7} {
		if got, err := trigger.ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "4 MiB", "1e3"} {
		if _, err := trigger.ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
}

// TestMetricsGoAndProcess: /metrics has the Go runtime's and the process's
// collectors besides Tether's own series.
func TestMetricsGoAndProcess(t *testing.T) {
	set := loadComponents(t, memoryComponent("in", unique(t, "in"), map[string]string{"direction": "input"}))
	rt, err := trigger.New(trigger.Options{Components: set, Functions: []trigger.Function{{Name: "fn", Trigger: "in", Handler: ack}}})
	if err != nil {
		t.Fatal(err)
	}
	body := do(t, rt.Handler(), "GET", "/metrics", "").Body.String()
	for _, series := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_open_fds"} {
		if !strings.Contains(body, "\n"+series+" ") {
			t.Errorf("/metrics has no %s", series)
		}
	}
}
