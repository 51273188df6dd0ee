package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherfn/tether/internal/scaffold"
)

// TestDevUserPath is a new user's path through tether dev, offline: two
// functions from tether new, the second triggered by the first's output;
// tether dev runs both; a message sent to the first comes out of the
// second; a poison message is dead-lettered and listed by tether dlq list;
// the handler is fixed and hot-reloaded; tether dlq replay sends the
// poison message back and the fixed handler handles it.
func TestDevUserPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two modules and runs tether dev: not with -short")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	env := newUser()
	var tetherPath []string
	if scaffold.SourceCheckout() == "" {
		tetherPath = []string{"--tether-path", root}
	}
	tether(t, work, env, append([]string{"new", "alpha", "--trigger", "memory", "--output", "memory"}, tetherPath...)...)
	tether(t, work, env, append([]string{"new", "beta", "--trigger", "memory", "--output", "memory"}, tetherPath...)...)

	// beta is triggered by what alpha sends: its trigger reads alpha's
	// output queue.
	betaIn := filepath.Join(work, "beta", "components", "local", "beta-in.yaml")
	replaceIn(t, betaIn, `value: "beta-in"`, `value: "alpha-memory"`)
	// beta refuses poison for good; the fix comes later.
	betaGo := filepath.Join(work, "beta", "beta.go")
	const poison = "\tif in.Text == \"poison\" {\n\t\treturn functions.Permanent(errors.New(\"poisoned\"))\n\t}\n"
	replaceIn(t, betaGo, "\tif err := out.Memory.Send(ctx, in); err != nil {", poison+"\tif err := out.Memory.Send(ctx, in); err != nil {")

	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dev := exec.CommandContext(ctx, os.Args[0], "dev", "./alpha", "./beta", "--addr", addr, "--fresh")
	dev.Dir = work
	dev.Env = slices.Concat(env, []string{asCLI + "=1"})
	dev.Cancel = func() error { return dev.Process.Kill() }
	out, err := dev.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	var seen []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// waitFor returns the first line, from now on, that holds every one of
	// parts.
	waitFor := func(parts ...string) string {
		t.Helper()
		deadline := time.After(5 * time.Minute)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tether dev ended before a line with %q; it wrote:\n%s", parts, strings.Join(seen, "\n"))
				}
				seen = append(seen, l)
				if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(l, p) }) {
					return l
				}
			case <-deadline:
				t.Fatalf("no line with %q after 5 minutes; tether dev wrote:\n%s", parts, strings.Join(seen, "\n"))
			}
		}
	}
	defer func() {
		if t.Failed() {
			dev.Process.Kill()
		}
	}()

	waitFor("dev API: http://" + addr)
	tether(t, work, env, "send", "alpha-in", "--addr", addr, "--data", `{"id":"m-1","text":"hello"}`)
	waitFor("[beta]", "handled message", "m-1")

	tether(t, work, env, "send", "alpha-in", "--addr", addr, "--data", `{"id":"m-2","text":"poison"}`)
	waitFor("[beta]", "sent to dead letter", "poisoned")
	var letters []struct {
		ID       string
		Envelope struct {
			Function, Binding, Error string
			Data                     []byte
		}
	}
	listed := tether(t, work, env, "dlq", "list", "beta-deadletter", "--addr", addr, "-o", "json")
	if err := json.Unmarshal([]byte(listed[strings.Index(listed, "["):]), &letters); err != nil {
		t.Fatalf("tether dlq list -o json: %v\n%s", err, listed)
	}
	if len(letters) != 1 || letters[0].Envelope.Function != "beta" || letters[0].Envelope.Binding != "beta-in" ||
		!strings.Contains(string(letters[0].Envelope.Data), "m-2") || !strings.Contains(letters[0].Envelope.Error, "poisoned") {
		t.Fatalf("tether dlq list: %+v, want the poison message from beta-in", letters)
	}
	table := tether(t, work, env, "dlq", "list", "beta-deadletter", "--addr", addr)
	if !strings.Contains(table, letters[0].ID) || !strings.Contains(table, "poisoned") {
		t.Errorf("tether dlq list:\n%s", table)
	}

	// The fix, hot-reloaded.
	replaceIn(t, betaGo, poison, "")
	waitFor("tether dev: reloaded beta")

	tether(t, work, env, "dlq", "replay", "beta-deadletter", "--addr", addr)
	waitFor("[beta]", "handled message", "m-2")
	listed = tether(t, work, env, "dlq", "list", "beta-deadletter", "--addr", addr, "-o", "json")
	if strings.TrimSpace(listed[strings.Index(listed, "["):]) != "[]" {
		t.Errorf("after replay, tether dlq list: %s", listed)
	}

	// Ctrl-C drains and stops.
	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := dev.Wait(); err != nil {
		t.Errorf("tether dev after Ctrl-C: %v", err)
	}
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q:\n%s", path, old, b)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
