package trigger_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/trigger"
)

// The shutdown test runs the runtime as a real child process: this test
// binary, re-executed with TETHER_TEST_CHILD set.
func TestMain(m *testing.M) {
	if os.Getenv("TETHER_TEST_CHILD") == "relay" {
		trigger.Main(relayFunction())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// relayFunction takes each message from "in", works on it for a few
// milliseconds, and returns its payload to the "done" stream.
func relayFunction() trigger.Function {
	return trigger.Function{Name: "relay", Trigger: "in", Return: "done",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			select {
			case <-time.After(3 * time.Millisecond):
			case <-ctx.Done():
				return trigger.Result{}, ctx.Err()
			}
			return trigger.Result{Data: m.Data, ContentType: "text/plain"}, nil
		}}
}

const redisAddr = "127.0.0.1:6379"

// child is one run of the function process.
type child struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	exited chan error
}

func startChild(t *testing.T, components string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TETHER_TEST_CHILD=relay", "TETHER_COMPONENTS="+components,
		"TETHER_HTTP_HOST=127.0.0.1", "TETHER_HTTP_PORT=0", "TETHER_API_PORT=0", "TETHER_SHUTDOWN_GRACE=10s")
	c := &child{cmd: cmd, stderr: &strings.Builder{}, exited: make(chan error, 1)}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = io.Copy(c.stderr, bufio.NewReader(pipe))
		c.exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.exited:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("function process did not exit; its log:\n%s", c.stderr)
		return nil
	}
}

// doneReader follows the "done" stream and counts what the function handled.
type doneReader struct {
	rdb    *goredis.Client
	stream string
	last   string
	seen   map[string]int
	total  int
	// child is the process producing the results now: its log goes with a
	// timeout's report.
	child *child
}

// readUntil blocks until at least n entries were read in all.
func (r *doneReader) readUntil(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for r.total < n {
		if time.Now().After(deadline) {
			log := "(no process)"
			if c := r.child; c != nil {
				// Its log is complete (and safe to read) once it has exited.
				_ = c.cmd.Process.Kill()
				<-c.exited
				c.exited <- nil // for a later wait
				log = c.stderr.String()
			}
			t.Fatalf("only %d of %d results arrived; the function's log:\n%s", r.total, n, log)
		}
		res, err := r.rdb.XRead(context.Background(), &goredis.XReadArgs{
			Streams: []string{r.stream, r.last}, Count: 500, Block: time.Second,
		}).Result()
		if err == goredis.Nil {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res[0].Messages {
			r.last = e.ID
			r.seen[fmt.Sprint(e.Values["data"])]++
			r.total++
		}
	}
}

func (r *doneReader) distinct() int { return len(r.seen) }

// TestShutdownLosesNothing runs the function as a child process on Redis
// Streams, sends it SIGTERM mid-stream, restarts it, then kills the second
// run with SIGKILL mid-stream and restarts it again. Every message must be
// handled; SIGTERM must cause no duplicate (it drains in-flight handlers and
// hands the rest back), SIGKILL may (those are counted and reported).
func TestShutdownLosesNothing(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis at %s: %v (start it: see .ci/run)", redisAddr, err)
	}
	in, done := unique(t, "in"), unique(t, "done")
	t.Cleanup(func() { rdb.Del(context.Background(), in, done) })
	dir := t.TempDir()
	files := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: in
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: %q}
  - {name: stream, value: %q}
  - {name: consumerGroup, value: relay}
  - {name: processingTimeout, value: 1s}
  - {name: redeliverInterval, value: 200ms}
  - {name: maxConcurrency, value: "8"}
  - {name: direction, value: input}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: done
spec:
  type: bindings.redis
  version: v1
  metadata:
  - {name: redisHost, value: %q}
  - {name: stream, value: %q}
  - {name: direction, value: output}
`, redisAddr, in, redisAddr, done)
	if err := os.WriteFile(filepath.Join(dir, "components.yaml"), []byte(files), 0o644); err != nil {
		t.Fatal(err)
	}

	const n = 3000
	pipe := rdb.Pipeline()
	for i := range n {
		pipe.XAdd(context.Background(), &goredis.XAddArgs{Stream: in, Values: []string{"data", fmt.Sprintf("m%05d", i)}})
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := &doneReader{rdb: rdb, stream: done, last: "0", seen: map[string]int{}}

	// Run 1: SIGTERM mid-stream. The process must drain and exit 0.
	c1 := startChild(t, dir)
	r.child = c1
	r.readUntil(t, n/5)
	if err := c1.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r.child = nil // exited below: nothing more to show
	if err := c1.wait(t); err != nil {
		t.Fatalf("after SIGTERM the function exited with %v; its log:\n%s", err, c1.stderr)
	}
	if !strings.Contains(c1.stderr.String(), "shutting down") {
		t.Errorf("no shutdown in the log:\n%s", c1.stderr)
	}
	// Everything run 1 handled is in "done" now that it has exited: read
	// it all. A message among these handled again later was not acked by
	// run 1: a duplicate that SIGTERM caused.
	xlen, err := rdb.XLen(context.Background(), done).Result()
	if err != nil {
		t.Fatal(err)
	}
	r.readUntil(t, int(xlen))
	afterTerm := r.total
	if afterTerm >= n {
		t.Fatalf("all %d messages were handled before SIGTERM took effect; the test proves nothing", n)
	}
	byRun1 := maps.Clone(r.seen)

	// Run 2: SIGKILL mid-stream.
	c2 := startChild(t, dir)
	r.child = c2
	r.readUntil(t, afterTerm+n/5)
	if err := c2.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c2.wait(t)

	// Run 3: finishes the stream, reclaiming what the killed run held.
	c3 := startChild(t, dir)
	r.child = c3
	for r.distinct() < n {
		r.readUntil(t, r.total+1)
	}
	if err := c3.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c3.wait(t); err != nil {
		t.Errorf("run 3 exited with %v; its log:\n%s", err, c3.stderr)
	}
	dupAfterTerm := 0
	for id, k := range byRun1 {
		dupAfterTerm += r.seen[id] - k
	}
	t.Logf("%d messages, %d results: %d distinct, %d duplicates (%d of messages run 1 handled before its SIGTERM, the rest after SIGKILL)",
		n, r.total, r.distinct(), r.total-r.distinct(), dupAfterTerm)
	if r.distinct() != n {
		t.Errorf("%d distinct messages handled, want %d", r.distinct(), n)
	}
	if dupAfterTerm != 0 {
		t.Errorf("SIGTERM caused %d duplicates; a drained shutdown causes none", dupAfterTerm)
	}
}
