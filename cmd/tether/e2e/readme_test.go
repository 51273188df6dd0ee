package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadmeCommand runs the README's first command, on the repository's
// examples/hello: tether run builds the function, starts it on its memory
// components, sends the event once it is ready, and the handler's greeting
// appears in the log; SIGTERM stops it cleanly.
func TestReadmeCommand(t *testing.T) {
	repo, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, os.Args[0], "run", "./examples/hello", "--send", `names={"name":"Ada"}`, "--addr", "127.0.0.1:0")
	run.Dir = repo
	run.Env = append(os.Environ(), asCLI+"=1", "TETHER_LOG_FORMAT=json")
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	var seen []string
	sc := bufio.NewScanner(stderr)
	greeted := false
	for !greeted && sc.Scan() {
		seen = append(seen, sc.Text())
		var l map[string]any
		if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "greeted" {
			if l["greeting"] != "Hello, Ada!" {
				t.Errorf("greeting %v", l["greeting"])
			}
			greeted = true
		}
	}
	if !greeted {
		t.Fatalf("no greeting in the log:\n%s", strings.Join(seen, "\n"))
	}
	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		seen = append(seen, sc.Text())
	}
	if err := run.Wait(); err != nil {
		t.Errorf("tether run after SIGTERM: %v\n%s", err, strings.Join(seen, "\n"))
	}
}
