package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/scaffold"
)

// The Docker tests run what tether build (and the Dockerfiles) produce on
// a real Docker engine, with the host's network, so that the function
// reaches the brokers on loopback and the test reaches the function. No
// image is ever pulled: scratch is the only base.

// dockerTimeout bounds each docker command and each wait.
const dockerTimeout = 3 * time.Minute

// needDocker skips the test when no Docker engine answers (.ci/run
// installs docker.io and starts dockerd).
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs containers: not with -short")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command: install docker.io and start dockerd (bash .ci/run does) to run this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		t.Skipf("no Docker engine answers (%v: %s): start dockerd (bash .ci/run does) to run this test", err, strings.TrimSpace(string(out)))
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	return command(t, "", os.Environ(), "docker", args...)
}

// freeLoopbackPort returns a port free on 127.0.0.1 for the container's
// runtime (host network: it shares the host's ports).
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// container is a running container of the test. With the host's network,
// its ports are the host's: probe serves /readyz as Kubernetes would reach
// it, and api is the control API, on loopback as always (the container's
// loopback is the host's, so tether send reaches it from the host).
type container struct {
	id         string
	probe, api int
}

// runContainer starts image with components mounted at /components,
// removed when the test ends; env adds variables.
func runContainer(t *testing.T, image, components string, env ...string) container {
	t.Helper()
	probe, api := freeLoopbackPort(t), freeLoopbackPort(t)
	args := []string{"run", "-d", "--network", "host",
		"-v", components + ":/components:ro",
		"-e", "TETHER_PROBE_HOST=127.0.0.1", "-e", "TETHER_PROBE_PORT=" + strconv.Itoa(probe),
		"-e", "TETHER_API_PORT=" + strconv.Itoa(api), "-e", "TETHER_LOG_FORMAT=json"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	id := strings.TrimSpace(docker(t, append(args, image)...))
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", id).CombinedOutput()
			t.Logf("docker logs %s:\n%s", image, out)
		}
		_ = exec.Command("docker", "rm", "-f", id).Run()
	})
	return container{id: id, probe: probe, api: api}
}

// waitReady polls /readyz until the runtime answers 2xx, or fails when
// the container stops or the time is up.
func (c container) waitReady(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(c.probe) + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return time.Since(start)
			}
		}
		if state := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Status}}", c.id)); state != "running" {
			t.Fatalf("container %s before it was ready", state)
		}
		if time.Since(start) > dockerTimeout {
			t.Fatalf("not ready after %s", dockerTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLog follows the container's log until a JSON line satisfies match.
func (c container) waitLog(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", c.id)
	out, err := cmd.StderrPipe() // the runtime logs to stderr
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	var seen []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && match(l) {
			return l
		}
	}
	t.Fatalf("no %s in the log:\n%s", what, strings.Join(seen, "\n"))
	return nil
}

// readable copies the files of src into a new folder that the container's
// user (65532) can read, replacing each old string by its new one.
func readable(t *testing.T, src string, replace ...string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.Chmod(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(replace...)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), []byte(r.Replace(string(data))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestDockerOrders is the path to production of issue 14, on the orders
// example: tether build writes a tarball without a daemon; docker loads it
// and runs it as is, on the example's own components (its queue renamed to
// one of this test's); an order published to RabbitMQ on the host is
// stored in PostgreSQL and its status cached in Redis.
func TestDockerOrders(t *testing.T) {
	needDocker(t)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()

	tarball := filepath.Join(t.TempDir(), "orders.tar")
	tether(t, root, os.Environ(), "build", "./examples/orders", "--tarball", tarball, "--tag", "docker-test")
	out := docker(t, "load", "-i", tarball)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", "tether/store-order:docker-test").Run() })
	if !strings.Contains(out, "tether/store-order:docker-test") {
		t.Fatalf("docker load: %s", out)
	}
	user := strings.TrimSpace(docker(t, "inspect", "-f", "{{.Config.User}}", "tether/store-order:docker-test"))
	if user != "65532:65532" {
		t.Errorf("runs as %q, want 65532:65532", user)
	}

	run := strconv.FormatUint(rand.Uint64(), 36)
	queue := "tether-docker-" + run
	components := readable(t, filepath.Join(root, "examples", "orders", "components"), "tether-example-orders", queue)
	schema, err := os.ReadFile(filepath.Join(root, "examples", "orders", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		t.Fatalf("postgres: %v (bash .ci/services.sh starts it)", err)
	}
	defer db.Close(context.Background())
	if _, err := db.Exec(ctx, string(schema)); err != nil {
		t.Fatal(err)
	}

	c := runContainer(t, "tether/store-order:docker-test", components, "ORDERS_STATUS_PREFIX=tether-docker:"+run+":")
	ready := c.waitReady(t)
	t.Logf("ready %s after docker run returned", ready.Round(time.Millisecond))
	t.Cleanup(func() { deleteQueues(queue, queue+"-dead") })

	// Another service publishes an order to the queue the function reads.
	pub, _, err := bindings.OpenOutput(ctx, bindings.Config{Name: "docker-test-publisher", Type: "bindings.rabbitmq",
		Metadata: map[string]string{"host": "amqp://guest:guest@127.0.0.1:5672/", "queueName": queue, "durable": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	id := "docker-" + run
	if _, err := pub.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, ContentType: "application/json",
		Data: fmt.Appendf(nil, `{"id":%q,"customer":"cust-%s","total":12.5}`, id, run)}); err != nil {
		t.Fatal(err)
	}

	c.waitLog(t, "order stored", func(l map[string]any) bool { return l["msg"] == "order stored" && l["order"] == id })
	var customer string
	if err := db.QueryRow(ctx, `SELECT customer FROM tether_example_orders WHERE id = $1`, id).Scan(&customer); err != nil || customer != "cust-"+run {
		t.Errorf("order %s in PostgreSQL: customer %q (%v)", id, customer, err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	if got, err := rdb.Get(ctx, "tether-docker:"+run+":"+id).Result(); err != nil || got != "stored" {
		t.Errorf("status in Redis: %q (%v), want stored", got, err)
	}

	// docker stop sends SIGTERM: the runtime drains and exits 0.
	docker(t, "stop", "-t", "30", c.id)
	if code := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.ExitCode}}", c.id)); code != "0" {
		t.Errorf("exit code %s after docker stop, want 0", code)
	}
}

// deleteQueues removes the test's RabbitMQ queues.
func deleteQueues(names ...string) {
	for _, n := range names {
		_ = exec.Command("rabbitmqctl", "delete_queue", n).Run()
	}
}

// TestDockerfiles builds the repository's Dockerfile (on examples/hello)
// and the one tether new writes, each from a binary compiled on the host,
// runs each, and sends it an event through the runtime's API: the
// handler's log shows it ran.
func TestDockerfiles(t *testing.T) {
	needDocker(t)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	env := newUser()

	t.Run("root", func(t *testing.T) {
		tag := "tether-dockerfile-hello:" + strconv.FormatUint(rand.Uint64(), 36)
		dockerBuild(t, env, root, "./examples/hello/cmd/greet", filepath.Join(root, "Dockerfile"), tag)
		c := runContainer(t, tag, readable(t, filepath.Join(root, "examples", "hello", "components")))
		c.waitReady(t)
		tether(t, root, env, "send", "names", "--addr", "127.0.0.1:"+strconv.Itoa(c.api), "--data", `{"name":"Docker"}`)
		c.waitLog(t, "greeting", func(l map[string]any) bool { return l["greeting"] == "Hello, Docker!" })
	})

	t.Run("scaffold", func(t *testing.T) {
		work := t.TempDir()
		args := []string{"new", "fn-docker", "--trigger", "memory"}
		if scaffold.SourceCheckout() == "" {
			args = append(args, "--tether-path", root)
		}
		tether(t, work, env, args...)
		dir := filepath.Join(work, "fn-docker")
		goCmd(t, dir, env, "generate", "./...")
		tag := "tether-dockerfile-scaffold:" + strconv.FormatUint(rand.Uint64(), 36)
		dockerBuild(t, env, dir, "./cmd/fn-docker", filepath.Join(dir, "Dockerfile"), tag)
		c := runContainer(t, tag, readable(t, filepath.Join(dir, "components", "local")))
		c.waitReady(t)
		tether(t, dir, env, "send", "fn-docker-in", "--addr", "127.0.0.1:"+strconv.Itoa(c.api), "--data", "@example.json")
		c.waitLog(t, "handled message", func(l map[string]any) bool { return l["msg"] == "handled message" && l["function"] == "fn-docker" })
	})
}

// dockerBuild does what a Dockerfile's comment says: compile pkg (in dir)
// on the host into a context folder with the CA roots, then docker build
// that context with the Dockerfile.
func dockerBuild(t *testing.T, env []string, dir, pkg, dockerfile, tag string) {
	t.Helper()
	ctxDir := t.TempDir()
	roots, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA roots on this machine: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "ca-certificates.crt"), roots, 0o644); err != nil {
		t.Fatal(err)
	}
	goCmd(t, dir, append(env, "CGO_ENABLED=0", "GOOS=linux"), "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctxDir, "function"), pkg)
	docker(t, "build", "-q", "-f", dockerfile, "-t", tag, ctxDir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
}
