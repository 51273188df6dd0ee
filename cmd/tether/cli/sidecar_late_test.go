package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/go-sdk/service/common"
	daprsvc "github.com/dapr/go-sdk/service/grpc"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/cmd/tether/cli"
)

// TestSidecarWaitsForALateApp: tether sidecar starts before its app, as it
// does beside it in a pod. While the app does not listen, then answers its
// health check with 503, the sidecar serves the output API (an app may
// send while it starts) and reports not ready as daprd does: /v1.0/healthz
// 500 ERR_HEALTH_NOT_READY, the probe's /readyz 503. Once the app is
// healthy it becomes ready, and every message, those queued while it
// waited among them, reaches the app.
func TestSidecarWaitsForALateApp(t *testing.T) {
	dir := t.TempDir()
	in, out := "late-in-"+strconv.Itoa(os.Getpid()), "late-out-"+strconv.Itoa(os.Getpid())
	for name, yaml := range map[string]string{"in": in, "out": out} {
		direction := map[string]string{"in": "input", "out": "output"}[name]
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: `+name+`
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: `+yaml+`
  - name: direction
    value: `+direction+`
`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { memory.Reset(in); memory.Reset(out) })
	const early, late = 5, 5
	for i := range early {
		memory.Publish(in, &bindings.Message{Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}

	appPort, apiPort, probePort := freePort(t), freePort(t), freePort(t)
	t.Setenv("TETHER_PROBE_PORT", strconv.Itoa(probePort))
	t.Setenv("TETHER_PROBE_HOST", "127.0.0.1")
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	probe := "http://127.0.0.1:" + strconv.Itoa(probePort)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Run(ctx, &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Dir: dir},
			[]string{"sidecar", "--app-id", "late", "--app-port", strconv.Itoa(appPort), "--app-health-check-path", "/healthz",
				"--dapr-http-port", strconv.Itoa(apiPort), "--dapr-grpc-port", "0", "--resources-path", dir})
	}()
	waitReady(t, base+"/v1.0/healthz/outbound", exited)

	notReady := func(when string) {
		t.Helper()
		code, body := get(t, base+"/v1.0/healthz")
		var e struct{ ErrorCode string }
		if code != http.StatusInternalServerError || json.Unmarshal(body, &e) != nil || e.ErrorCode != "ERR_HEALTH_NOT_READY" {
			t.Errorf("%s: /v1.0/healthz = %d %s, want daprd's 500 ERR_HEALTH_NOT_READY", when, code, body)
		}
		if code, _ := get(t, probe+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("%s: probe /readyz = %d, want 503", when, code)
		}
	}
	notReady("app not listening")
	resp, err := http.Post(base+"/v1.0/bindings/out", "application/json", strings.NewReader(`{"data":"while starting","operation":"create"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || memory.Len(out) != 1 {
		t.Errorf("output binding while the app is away: %s, %d queued; want 204, 1", resp.Status, memory.Len(out))
	}

	var healthy atomic.Bool
	checked := make(chan struct{})
	var checkedOnce sync.Once
	var mu sync.Mutex
	got := map[string]int{}
	all := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(appPort))
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			checkedOnce.Do(func() { close(checked) })
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		case r.URL.Path == "/in" && r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[string(body)]++
			if len(got) == early+late {
				close(all)
			}
			mu.Unlock()
		}
	})}
	go app.Serve(ln)
	defer app.Close()
	<-checked
	notReady("app listening, not healthy")

	healthy.Store(true)
	waitReady(t, base+"/v1.0/healthz", exited)
	if code, _ := get(t, probe+"/readyz"); code != http.StatusNoContent {
		t.Errorf("probe /readyz once the app is healthy = %d, want 204", code)
	}
	for i := early; i < early+late; i++ {
		memory.Publish(in, &bindings.Message{Data: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	select {
	case <-all:
	case code := <-exited:
		t.Fatalf("tether sidecar exited %d", code)
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Fatalf("after 60s the app has %d of %d messages: %v", len(got), early+late, got)
	}
	mu.Lock()
	for i := range early + late {
		if k := fmt.Sprintf(`{"n":%d}`, i); got[k] == 0 {
			t.Errorf("message %s never reached the app", k)
		}
	}
	mu.Unlock()
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("tether sidecar exited %d on cancel, want 0", code)
	}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestSidecarWaitsForALateGRPCApp: with --app-protocol grpc the sidecar
// waits as well, serving the output API and answering /v1.0/healthz 500,
// until an app written with the Go SDK's gRPC service listens; then
// messages queued meanwhile reach it.
func TestSidecarWaitsForALateGRPCApp(t *testing.T) {
	dir := t.TempDir()
	in := "late-grpc-in-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "in.yaml"), []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: `+in+`
  - name: direction
    value: input
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { memory.Reset(in) })
	memory.Publish(in, &bindings.Message{Data: []byte(`{"early":true}`)})

	appPort, apiPort := freePort(t), freePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Run(ctx, &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Dir: dir},
			[]string{"sidecar", "--app-id", "late-grpc", "--app-port", strconv.Itoa(appPort), "--app-protocol", "grpc",
				"--dapr-http-port", strconv.Itoa(apiPort), "--dapr-grpc-port", "0", "--resources-path", dir})
	}()
	waitReady(t, base+"/v1.0/healthz/outbound", exited)
	if code, body := get(t, base+"/v1.0/healthz"); code != http.StatusInternalServerError {
		t.Errorf("/v1.0/healthz while the gRPC app is away = %d %s, want 500", code, body)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(appPort))
	if err != nil {
		t.Fatal(err)
	}
	svc := daprsvc.NewServiceWithListener(ln)
	got := make(chan []byte, 2)
	if err := svc.AddBindingInvocationHandler("orders", func(_ context.Context, e *common.BindingEvent) ([]byte, error) {
		got <- e.Data
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start() }()
	defer svc.GracefulStop()
	waitReady(t, base+"/v1.0/healthz", exited)
	memory.Publish(in, &bindings.Message{Data: []byte(`{"late":true}`)})
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case d := <-got:
			seen[string(d)] = true
		case code := <-exited:
			t.Fatalf("tether sidecar exited %d", code)
		case <-time.After(60 * time.Second):
			t.Fatalf("after 60s the app has %v, want the early and the late message", seen)
		}
	}
	if !seen[`{"early":true}`] || !seen[`{"late":true}`] {
		t.Errorf("the app got %v", seen)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("tether sidecar exited %d on cancel, want 0", code)
	}
}
