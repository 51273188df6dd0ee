package dev_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/dev"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
)

// module writes files (path → content) into a new module outside the
// repository that builds against this checkout, offline, and returns its
// folder.
func module(t testing.TB, files map[string]string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files["go.mod"] = "module example.com/devtest\n\ngo 1.26\n\nrequire github.com/tetherfn/tether v0.0.0\n\nreplace github.com/tetherfn/tether => " + root + "\n"
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.sum"] = string(sum)
	// What the generated code imports, for go mod tidy (which runs before
	// generation here).
	files["tools.go"] = "//go:build tools\n\npackage tools\n\nimport (\n\t_ \"github.com/tetherfn/tether/bindings/memory\"\n\t_ \"github.com/tetherfn/tether/trigger\"\n)\n"
	for path, content := range files {
		write(t, filepath.Join(dir, path), content)
	}
	// The go commands of the test (go list, go build, go/packages) run
	// offline, from the module cache, as a new user's would.
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	tidy := exec.Command("go", "mod", "tidy", "-e")
	tidy.Dir = dir
	tidy.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := tidy.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	return dir
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed in, as editors save: the watcher never
	// sees half a file.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func queue(name string, extra ...string) string {
	s := fmt.Sprintf(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: %s
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: %s
`, name, name)
	for i := 0; i+1 < len(extra); i += 2 {
		s += fmt.Sprintf("  - name: %s\n    value: %q\n", extra[i], extra[i+1])
	}
	return s
}

const firstSource = `package first

import (
	"context"

	"github.com/tetherfn/tether/functions"
)

type Msg struct {
	ID      int    ` + "`json:\"id\"`" + `
	Version string ` + "`json:\"version,omitempty\"`" + `
}

type Outputs struct {
	Middle functions.Output[Msg] ` + "`binding:\"middle\"`" + `
}

//tether:function first trigger=in
func First(ctx context.Context, m Msg, out Outputs) error {
	return out.Middle.Send(ctx, m)
}
`

// secondSource stamps each message with version.
func secondSource(version string) string {
	return `package second

import (
	"context"

	"github.com/tetherfn/tether/functions"
)

type Msg struct {
	ID      int    ` + "`json:\"id\"`" + `
	Version string ` + "`json:\"version,omitempty\"`" + `
}

type Outputs struct {
	Out functions.Output[Msg] ` + "`binding:\"out\"`" + `
}

//tether:function second trigger=middle
func Second(ctx context.Context, m Msg, out Outputs) error {
	m.Version = "` + version + `"
	return out.Out.Send(ctx, m)
}
`
}

// startDev runs tether dev on dir until the test ends, and returns the dev
// API's address once every function is ready.
func startDev(t testing.TB, dir string, logs *syncbuf.Buffer, options ...func(*dev.Options)) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	opts := dev.Options{
		Dir: dir, Addr: "127.0.0.1:0", Stderr: logs,
		Ready: func(addr string) { ready <- addr },
	}
	for _, o := range options {
		o(&opts)
	}
	go func() { done <- dev.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev.Run: %v", err)
		}
		if t.Failed() {
			t.Logf("tether dev's output:\n%s", logs.String())
		}
	})
	select {
	case addr := <-ready:
		return addr
	case err := <-done:
		done <- err
		t.Fatalf("dev.Run returned before it was ready: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("tether dev not ready after 3 minutes")
	}
	return ""
}

// send puts data on binding through the dev API.
func send(t testing.TB, addr, binding, data string) {
	body := `{"operation":"create","data":` + data + `,"metadata":{"contentType":"application/json"}}`
	resp, err := http.Post("http://"+addr+"/v1.0/bindings/"+binding, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("send to %s: %s", binding, resp.Status)
	}
}

// TestReloadLosesNothing is the hot-reload requirement: 1,000 messages sent
// at a steady rate through a two-function pipeline while the second
// function's source is edited three times: every message arrives, and
// after each edit the new code's output is seen. Before the second edit, a
// broken one is reported with its position while the old code keeps going.
func TestReloadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module and reloads it three times")
	}
	dir := module(t, map[string]string{
		"first/first.go":                firstSource,
		"first/components/in.yaml":      queue("in"),
		"first/components/middle.yaml":  queue("middle"),
		"second/second.go":              secondSource("v0"),
		"second/components/middle.yaml": queue("middle"),
		"second/components/out.yaml":    queue("out"),
	})
	var logs syncbuf.Buffer
	addr := startDev(t, dir, &logs)

	// Downstream: the out queue, on the dev broker in this process.
	in, _, err := bindings.OpenInput(t.Context(), bindings.Config{Name: "out", Type: memory.TypeName, Metadata: map[string]string{"queue": "out"}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	const total, edits = 1000, 3
	seen := make(chan struct {
		id      int
		version string
	}, total*2)
	go func() {
		for {
			msgs, err := in.Receive(context.Background(), 100)
			if err != nil {
				return
			}
			for _, m := range msgs {
				var v struct {
					ID      int    `json:"id"`
					Version string `json:"version"`
				}
				if err := json.Unmarshal(m.Data, &v); err != nil {
					t.Errorf("downstream message %q: %v", m.Data, err)
				}
				in.Ack(context.Background(), m)
				seen <- struct {
					id      int
					version string
				}{v.ID, v.Version}
			}
		}
	}()

	// The sender keeps a steady rate until at least total messages are
	// sent and the last edit's code has handled some: a reload takes as
	// long as a build on this machine, and messages must be flowing
	// through every one of them.
	var stopSending atomic.Bool
	sentAll := make(chan int, 1)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for ; i < total || !stopSending.Load(); i++ {
			select {
			case <-tick.C:
			case <-t.Context().Done():
				return
			}
			send(t, addr, "in", fmt.Sprintf(`{"id":%d}`, i))
		}
		sentAll <- i
	}()

	got := map[int]int{}
	byVersion := map[string]int{}
	deadline := time.After(8 * time.Minute)
	version := 0    // the newest version seen
	edited := false // an edit to version+1 is written and not seen yet
	sent := -1
	for sent < 0 || len(got) < sent {
		select {
		case n := <-sentAll:
			sent = n
		case m := <-seen:
			got[m.id]++
			byVersion[m.version]++
			if edited && m.version == fmt.Sprintf("v%d", version+1) {
				version++
				edited = false
			}
			// The next edit once the current version has handled a few.
			if n := byVersion[fmt.Sprintf("v%d", version)]; !edited && n >= 20 {
				if version < edits {
					edited = true
					if version == 1 {
						// A broken edit first: the error is shown with its
						// position and v1 keeps running (and handling).
						write(t, filepath.Join(dir, "second", "second.go"), strings.Replace(secondSource("v1"), "m.Version =", "m.Version :=", 1))
						for !strings.Contains(logs.String(), "the previous build keeps running") {
							select {
							case m := <-seen:
								got[m.id]++
								byVersion[m.version]++
							case <-time.After(20 * time.Millisecond):
							case <-deadline:
								t.Fatal("no build error reported after 8 minutes")
							}
						}
						if l := logs.String(); !strings.Contains(l, "second.go:20:2: non-name m.Version") {
							t.Errorf("the error does not say second.go:20:2: ...\n%s", l)
						}
					}
					write(t, filepath.Join(dir, "second", "second.go"), secondSource(fmt.Sprintf("v%d", version+1)))
				} else {
					stopSending.Store(true)
				}
			}
		case <-deadline:
			t.Fatalf("after 8 minutes: %d of %d messages arrived, version v%d (by version: %v)", len(got), sent, version, byVersion)
		}
	}
	for id := range sent {
		if got[id] == 0 {
			t.Errorf("message %d never arrived", id)
		}
	}
	if version != edits {
		t.Errorf("saw the code of edit %d, want %d", version, edits)
	}
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	t.Logf("%d messages sent, all arrived (%d duplicates); by version %v", sent, dups, byVersion)
	st := devStatus(t, addr)
	for _, f := range st.Functions {
		want := 0
		if f.Name == "second" {
			want = edits
		}
		if f.Restarts != want {
			t.Errorf("%s restarted %d times, want %d", f.Name, f.Restarts, want)
		}
	}
}

func devStatus(t *testing.T, addr string) dev.Status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v1.0/dev/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st dev.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
