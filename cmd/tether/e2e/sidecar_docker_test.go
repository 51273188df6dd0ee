package e2e_test

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDockerSidecar runs the image tether build --sidecar makes, as a pod
// would run it beside an app: built without a daemon with only the drivers
// of its components (RabbitMQ), loaded and run as is, with daprd's flags.
// The app (this test) sends to the output binding through the Dapr HTTP
// API; the message goes through RabbitMQ and comes back to the app at
// --app-port as the input binding's delivery, byte-identical.
func TestDockerSidecar(t *testing.T) {
	needDocker(t)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	queue := "tether-sidecar-" + strconv.FormatUint(rand.Uint64(), 36)
	components := t.TempDir()
	if err := os.Chmod(components, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(components, "orders.yaml"), []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.rabbitmq
  version: v1
  metadata:
  - name: host
    value: amqp://guest:guest@127.0.0.1:5672/
  - name: queueName
    value: `+queue+`
  - name: durable
    value: "true"
  - name: direction
    value: input, output
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteQueues(queue) })

	tarball := filepath.Join(t.TempDir(), "sidecar.tar")
	out := tether(t, root, os.Environ(), "build", "--sidecar", "--resources-path", components, "--tarball", tarball, "--tag", "docker-test")
	t.Logf("tether build --sidecar: %s", strings.TrimSpace(out))
	const image = "tether/sidecar:docker-test"
	if out := docker(t, "load", "-i", tarball); !strings.Contains(out, image) {
		t.Fatalf("docker load: %s", out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	if got := strings.TrimSpace(docker(t, "inspect", "-f", "{{.Config.User}} {{json .Config.Entrypoint}}", image)); got != `65532:65532 ["/tether","sidecar","--resources-path","/components"]` {
		t.Errorf("user and entrypoint: %s", got)
	}

	got := make(chan []byte, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/orders" {
			body, _ := io.ReadAll(r.Body)
			got <- body
		}
	})}
	go app.Serve(ln)
	defer app.Close()

	api := freeLoopbackPort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(api)
	id := strings.TrimSpace(docker(t, "run", "-d", "--network", "host", "-v", components+":/components:ro", image,
		"--app-id", "docker-sidecar", "--app-port", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port),
		"--dapr-http-port", strconv.Itoa(api), "--dapr-grpc-port", "0", "--log-as-json"))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Logf("docker logs:\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", id).Run()
	})
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(base + "/v1.0/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				break
			}
		}
		if state := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Status}}", id)); state != "running" {
			t.Fatalf("container %s before it was ready", state)
		}
		if time.Since(start) > dockerTimeout {
			t.Fatalf("not ready after %s", dockerTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ready %s after docker run returned", time.Since(start).Round(time.Millisecond))

	resp, err := http.Post(base+"/v1.0/bindings/orders", "application/json", strings.NewReader(`{"operation":"create","data":{"order":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /v1.0/bindings/orders: %s", resp.Status)
	}
	select {
	case body := <-got:
		if string(body) != `{"order":7}` {
			t.Errorf("the app got %q, want {\"order\":7}", body)
		}
	case <-time.After(dockerTimeout):
		t.Fatal("the message sent through the sidecar never came back to the app")
	}
	docker(t, "stop", "-t", "30", id)
	if code := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.ExitCode}}", id)); code != "0" {
		t.Errorf("exit code %s after docker stop, want 0", code)
	}
}
