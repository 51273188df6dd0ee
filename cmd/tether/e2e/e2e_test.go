// Package e2e_test is the first ten minutes of a new user, tested: in a
// folder outside the repository, tether new scaffolds a function for every
// binding type that can trigger one, and go generate, go vet, go test and
// go build pass on it, offline (GOPROXY=off); then tether run starts it on
// its local components, tether send delivers an event through the
// Dapr-compatible API, and the handler's log shows it ran.
//
// The test binary is the tether command: run with TETHER_E2E_AS_CLI=1, it
// executes the command line instead of the tests, so that no separate build
// of tether is needed.
package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all"
	"github.com/tetherfn/tether/cmd/tether/cli"
	"github.com/tetherfn/tether/internal/scaffold"
)

const asCLI = "TETHER_E2E_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	code := m.Run()
	if exposed.work != "" {
		_ = os.RemoveAll(exposed.work)
	}
	os.Exit(code)
}

// stepTimeout bounds each command, so that a hang fails the test instead
// of stalling it.
const stepTimeout = 5 * time.Minute

// waitTimeout bounds waiting for a log line of a running function.
const waitTimeout = time.Minute

// newUser is the environment of the go commands and of tether: the
// caller's, offline (the module proxy is off: everything must come from
// the module cache), with no workspace and no toolchain download.
func newUser() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS", "GOPROXY", "GOWORK", "GOTOOLCHAIN", asCLI:
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GOPROXY=off", "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local")
	// Clipped: the parallel subtests each append to it, which must copy.
	return slices.Clip(env)
}

type scaffoldCase struct {
	name, trigger string
	outputs       []string
	run           bool // start it and send it an event
}

// cases are one function per trigger type, writing to the same type when
// it has an output, and one function writing to every output type.
func cases() []scaffoldCase {
	var out []scaffoldCase
	var every []string
	for _, t := range bindings.Types() {
		short := scaffold.ShortName(t.Name)
		if t.Directions.Has(bindings.DirOutput) && t.Supports(bindings.OpCreate) {
			every = append(every, short)
		}
		if !t.Directions.Has(bindings.DirInput) {
			continue
		}
		c := scaffoldCase{name: "fn-" + strings.ReplaceAll(short, ".", "-"), trigger: short, run: true}
		if t.Directions.Has(bindings.DirOutput) && t.Supports(bindings.OpCreate) {
			c.outputs = []string{short}
		}
		out = append(out, c)
	}
	return append(out, scaffoldCase{name: "every-output", trigger: "memory", outputs: every, run: true})
}

func TestFirstTenMinutes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a dozen modules: not with -short")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if rel, err := filepath.Rel(root, work); err == nil && !strings.HasPrefix(rel, "..") {
		t.Fatalf("the temporary folder %s is inside the repository", work)
	}
	env := newUser()
	// tether new finds the checkout it was built from, as an installed
	// tether would; a binary built with -trimpath cannot, so it is told.
	var tetherPath []string
	if scaffold.SourceCheckout() == "" {
		tetherPath = []string{"--tether-path", root}
	}

	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			args := []string{"new", c.name, "--trigger", c.trigger}
			for _, o := range c.outputs {
				args = append(args, "--output", o)
			}
			tether(t, work, env, append(args, tetherPath...)...)
			dir := filepath.Join(work, c.name)
			steps := []string{fmt.Sprintf("new %s", since(start))}
			for _, step := range [][]string{{"generate", "./..."}, {"vet", "./..."}, {"test", "./..."}, {"build", "./..."}} {
				s := time.Now()
				goCmd(t, dir, env, step...)
				steps = append(steps, fmt.Sprintf("%s %s", step[0], since(s)))
			}
			tether(t, dir, env, "components", "validate", "components/local")
			// The binary links the driver of every type its components
			// use, so components/ (not only components/local) can run.
			if typ, ok := scaffold.LookupType(c.trigger); !ok {
				t.Errorf("no trigger type %q", c.trigger)
			} else if main, err := os.ReadFile(filepath.Join(dir, "cmd", c.name, "main_gen.go")); err != nil {
				t.Error(err)
			} else if !strings.Contains(string(main), driverOf(typ.Name)) {
				t.Errorf("cmd/%s/main_gen.go does not link %s's driver (%s):\n%s", c.name, typ.Name, driverOf(typ.Name), main)
			}
			if c.run {
				s := time.Now()
				runAndSend(t, dir, env, c.name)
				steps = append(steps, fmt.Sprintf("run+send %s", since(s)))
			}
			t.Logf("%s: %s; total %s", c.name, strings.Join(steps, ", "), since(start))
		})
	}
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Millisecond).String() }

// tether runs the command line in dir and fails the test unless it
// succeeds.
func tether(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	return command(t, dir, slices.Concat(env, []string{asCLI + "=1"}), os.Args[0], args...)
}

func goCmd(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	return command(t, dir, env, "go", args...)
}

func command(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		what := strings.Join(args, " ")
		if name == "go" {
			what = "go " + what
		} else {
			what = "tether " + what
		}
		t.Fatalf("%s (in %s): %v\n%s", what, dir, err, out)
	}
	return string(out)
}

// logLine is one line of a running function's stderr: JSON from the
// runtime (TETHER_LOG_FORMAT=json), or text from tether run.
type logLine struct {
	text   string
	fields map[string]any
}

// runAndSend starts the function with tether run on components/local,
// sends its trigger the scaffold's example.json and a message that does not
// decode, and checks what its log says: the first handled, the second
// dead-lettered at once. Then it stops it with SIGTERM, which must drain
// and exit cleanly.
func runAndSend(t *testing.T, dir string, env []string, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	run := exec.CommandContext(ctx, os.Args[0], "run", ".", "--addr", "127.0.0.1:0", "--webhook-addr", "127.0.0.1:0")
	run.Dir = dir
	run.Env = slices.Concat(env, []string{asCLI + "=1", "TETHER_LOG_FORMAT=json"})
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stdout = io.Discard
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	lines := make(chan logLine)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := logLine{text: sc.Text()}
			_ = json.Unmarshal(sc.Bytes(), &l.fields)
			lines <- l
		}
	}()
	stopped := false
	defer func() {
		if !stopped {
			_ = run.Process.Kill()
			for range lines {
			}
			_ = run.Wait()
		}
	}()
	// wait reads the log until a line satisfies match.
	wait := func(what string, match func(logLine) bool) logLine {
		t.Helper()
		timer := time.NewTimer(waitTimeout)
		defer timer.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("tether run ended before %s:\n%s", what, strings.Join(seen, "\n"))
				}
				seen = append(seen, l.text)
				if match(l) {
					return l
				}
			case <-timer.C:
				t.Fatalf("no %s after %s:\n%s", what, waitTimeout, strings.Join(seen, "\n"))
			}
		}
	}

	started := wait("runtime started", func(l logLine) bool { return l.fields["msg"] == "runtime started" })
	addr, _ := started.fields["control"].(string)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the function's control API listens on %q, want 127.0.0.1", addr)
	}

	// The scaffold's example event: the handler logs what it decoded.
	example, err := os.ReadFile(filepath.Join(dir, "example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(example, &want); err != nil {
		t.Fatalf("example.json: %v", err)
	}
	tether(t, dir, env, "send", name+"-in", "--addr", addr, "--data", "@example.json")
	handled := wait("handled message", func(l logLine) bool { return l.fields["msg"] == "handled message" })
	if !reflect.DeepEqual(handled.fields["in"], want) || handled.fields["function"] != name ||
		handled.fields["binding"] != name+"-in" || handled.fields["attempt"] != float64(1) {
		t.Errorf("handled %s; want the function %s to log example.json (%s) at attempt 1, from %s-in", handled.text, name, example, name)
	}

	// What does not decode fails for good: dead-lettered at once.
	tether(t, dir, env, "send", name+"-in", "--addr", addr, "--data", "[1, 2]")
	failed := wait("the failure of the undecodable message", func(l logLine) bool {
		return strings.Contains(fmt.Sprint(l.fields["error"]), "decode JSON payload")
	})
	if failed.fields["level"] != "ERROR" || !strings.Contains(fmt.Sprint(failed.fields["msg"]), "sent to dead letter") || failed.fields["attempt"] != float64(1) {
		t.Errorf("an undecodable message: %s; want it sent to the dead letter at its first attempt", failed.text)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wait("shutting down", func(l logLine) bool { return l.fields["msg"] == "shutting down" })
	for l := range lines {
		seen = append(seen, l.text)
	}
	stopped = true
	if err := run.Wait(); err != nil {
		t.Errorf("tether run after SIGTERM: %v\n%s", err, strings.Join(seen, "\n"))
	}
}

// driverOf names the driver package of a binding type by the folder
// convention of bindings/.
func driverOf(typ string) string {
	dir := map[string]string{"bindings.aws.sqs": "sqs", "bindings.gcp.pubsub": "pubsub", "bindings.mqtt3": "mqtt",
		"bindings.postgresql": "postgres", "bindings.twilio.sms": "twilio"}[typ]
	if dir == "" {
		dir = strings.TrimPrefix(typ, "bindings.")
	}
	return `_ "github.com/tetherfn/tether/bindings/` + dir + `"`
}
