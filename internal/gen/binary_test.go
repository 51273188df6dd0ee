package gen_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherfn/tether/internal/gen"
)

const echoFunction = `package echo

import (
	"context"
	"errors"
)

type Msg struct {
	Text string ` + "`json:\"text\"`" + `
}

// Echo answers every message; an empty one fails for good.
//
//tether:function echo trigger=inbox return=outbox
func Echo(ctx context.Context, m Msg) (Msg, error) {
	if m.Text == "" {
		return Msg{}, errors.New("empty")
	}
	return m, nil
}
`

const echoComponents = `apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: inbox
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: inbox
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: outbox
spec:
  type: bindings.memory
  version: v1
  metadata:
  - name: queue
    value: outbox
`

// TestGeneratedBinaryRuns builds a generated main and runs it as a process:
// it starts on memory components, handles a message sent through the
// Dapr-compatible API (the message goes into the trigger's own queue), and
// exits cleanly on SIGTERM.
func TestGeneratedBinaryRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	dir := newModule(t)
	for name, content := range map[string]string{
		"echo/echo.go":                    echoFunction,
		"echo/components/components.yaml": echoComponents,
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, diags := gen.Generate([]string{"./..."}, &gen.Options{Dir: dir, Env: goEnv()})
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if _, err := gen.Write(files); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "echo")
	goCmd(t, dir, "build", "-o", bin, "./echo/cmd/echo")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = filepath.Join(dir, "echo")
	cmd.Env = append(os.Environ(), "TETHER_API_PORT=0", "TETHER_LOG_LEVEL=debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var log []string
	// waitFor reads the process's log until a line matches.
	waitFor := func(re *regexp.Regexp) []string {
		t.Helper()
		for lines.Scan() {
			log = append(log, lines.Text())
			if m := re.FindStringSubmatch(lines.Text()); m != nil {
				return m
			}
		}
		cmd.Process.Kill()
		t.Fatalf("the function's log ended without %s:\n%s", re, strings.Join(log, "\n"))
		return nil
	}
	addr := waitFor(regexp.MustCompile(`msg="runtime started".* control=(\S+)`))[1]

	resp, err := http.Post("http://"+addr+"/v1.0/bindings/inbox", "application/json",
		strings.NewReader(`{"data": {"text": "hi"}, "operation": "create"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("invoke inbox: %s", resp.Status)
	}
	waitFor(regexp.MustCompile(`msg=handled function=echo binding=inbox`))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(regexp.MustCompile(`msg="shutting down"`))
	for lines.Scan() {
		log = append(log, lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(log, "\n"))
	}
}
