package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

// TestSidecarDaprAPIConformance runs tether sidecar as a user would and
// checks Dapr's HTTP API against the API reference
// (https://docs.dapr.io/reference/api/bindings_api/,
// https://docs.dapr.io/reference/api/metadata_api/,
// https://docs.dapr.io/reference/api/health_api/,
// https://docs.dapr.io/reference/api/shutdown_api/): each endpoint, method,
// status and body shape, with the API token daprd honours. Where Tether
// answers more precisely than daprd (404 for an unknown binding, 400 for an
// unsupported operation, where daprd says 500), the row says so.
func TestSidecarDaprAPIConformance(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.yaml"), []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: q
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: conformance-`+strconv.Itoa(os.Getpid())+`
  - name: direction
    value: output
`), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	t.Setenv("DAPR_API_TOKEN", "s3cret")
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan int, 1)
	go func() {
		exited <- cli.Run(ctx, &cli.Env{Stdout: io.Discard, Stderr: io.Discard, Dir: dir},
			[]string{"sidecar", "--app-id", "conformance", "--dapr-http-port", strconv.Itoa(port), "--dapr-grpc-port", "0", "--resources-path", dir})
	}()
	waitReady(t, base+"/v1.0/healthz/outbound", exited)

	const token = "s3cret"
	for _, c := range []struct {
		method, path, body, token string
		status                    int
		errorCode                 string   // the JSON error body's errorCode, when an error
		jsonKeys                  []string // keys a JSON success body has
	}{
		{"POST", "/v1.0/bindings/q", `{"data":{"a":1},"metadata":{"k":"v"},"operation":"create"}`, token, 204, "", nil},
		{"PUT", "/v1.0/bindings/q", `{"data":"text","operation":"create"}`, token, 204, "", nil},
		{"POST", "/v1.0/bindings/q", `{"data":1,"operation":"create"}`, "", 401, "ERR_API_UNAUTHORIZED", nil},
		{"POST", "/v1.0/bindings/q", `{"data":1,"operation":"create"}`, "wrong", 401, "ERR_API_UNAUTHORIZED", nil},
		{"POST", "/v1.0/bindings/nope", `{"data":1,"operation":"create"}`, token, 404, "ERR_INVOKE_OUTPUT_BINDING", nil},  // daprd: 500
		{"POST", "/v1.0/bindings/q", `{"data":1,"operation":"frobnicate"}`, token, 400, "ERR_INVOKE_OUTPUT_BINDING", nil}, // daprd: 500
		{"POST", "/v1.0/bindings/q", `not json`, token, 400, "ERR_MALFORMED_REQUEST", nil},
		{"GET", "/v1.0/bindings/q", ``, token, 405, "", nil},
		{"PUT", "/v1.0/metadata/team", `payments`, token, 204, "", nil},
		{"GET", "/v1.0/metadata", ``, token, 200, "", []string{"id", "runtimeVersion", "components", "extended", "enabledFeatures"}},
		{"GET", "/v1.0/metadata", ``, "", 401, "ERR_API_UNAUTHORIZED", nil},
		{"GET", "/v1.0/healthz", ``, "", 204, "", nil},
		{"GET", "/v1.0/healthz/outbound", ``, "", 204, "", nil},
	} {
		name := c.method + " " + c.path + " " + c.body
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if c.token != "" {
			req.Header.Set("dapr-api-token", c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (body %s)", name, resp.StatusCode, c.status, body)
			continue
		}
		if c.errorCode != "" {
			var e struct{ ErrorCode, Message string }
			if json.Unmarshal(body, &e) != nil || e.ErrorCode != c.errorCode || e.Message == "" {
				t.Errorf("%s: body %s, want {errorCode: %s, message: ...}", name, body, c.errorCode)
			}
		}
		if c.jsonKeys != nil {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Errorf("%s: body is not JSON: %s", name, body)
			}
			for _, k := range c.jsonKeys {
				if _, ok := m[k]; !ok {
					t.Errorf("%s: body lacks %q: %s", name, k, body)
				}
			}
			if m["id"] != "conformance" || !strings.Contains(string(body), `"team":"payments"`) {
				t.Errorf("%s: body %s, want id conformance and extended team=payments", name, body)
			}
		}
	}

	req, _ := http.NewRequest("POST", base+"/v1.0/shutdown", nil)
	req.Header.Set("dapr-api-token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("POST /v1.0/shutdown: %d, want 204", resp.StatusCode)
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("tether sidecar exited %d after /v1.0/shutdown, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tether sidecar still runs 30s after POST /v1.0/shutdown")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady polls url, as Dapr's SDKs do before their first call, until it
// answers 2xx; the sidecar exiting first fails the test.
func waitReady(t *testing.T, url string, exited <-chan int) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("tether sidecar exited %d before it was ready", code)
		case <-deadline:
			t.Fatalf("%s not ready after 60s", url)
		case <-tick.C:
		}
	}
}
