package cli_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

// TestRunRefusals covers what tether run refuses before building anything;
// cmd/tether/e2e runs functions with it.
func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"fn/cmd/greet/main_gen.go": "package main\n",
		"fn/components/x.yaml":     "",
		"bare/fn.go":               "package bare\n",
	})
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "bare"}, []string{"no generated main in bare/cmd/*/main_gen.go", "run go generate ./... in bare first"}},
		{[]string{"run", "fn", "--function", "great"}, []string{`fn has no function "great" (it has greet)`}},
		{[]string{"run", "fn", "--env", "prod"}, []string{"no components folder fn/components/prod", "--components"}},
		{[]string{"run", "fn", "--components", "elsewhere"}, []string{"--components elsewhere: not a folder"}},
		{[]string{"run", "fn", "--addr", "127.0.0.1:http"}, []string{`--addr "127.0.0.1:http"`, "see: tether run --help"}},
		{[]string{"run", "a", "b"}, []string{"want at most one folder"}},
	} {
		code, _, stderr := execCLI(t, dir, c.args...)
		if code == 0 {
			t.Errorf("%v: exit 0", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, stderr)
			}
		}
	}
}

// TestRunNeverSendsToAnotherProcess: with its port taken by another process
// that answers like a ready function, tether run --send fails naming the
// port, and the impostor receives nothing.
func TestRunNeverSendsToAnotherProcess(t *testing.T) {
	var posted atomic.Int32
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posted.Add(1)
		}
		w.WriteHeader(http.StatusNoContent) // /readyz: ready
	}))
	defer impostor.Close()
	taken := impostor.Listener.Addr().(*net.TCPAddr)

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"fn/cmd/greet/main_gen.go": "package main\n\nfunc main() {}\n",
		"fn/go.mod":                "module fn\n\ngo 1.26\n",
		"fn/components/x.yaml":     "",
	})
	addr := "127.0.0.1:" + strconv.Itoa(taken.Port)
	code, _, stderr := execCLI(t, dir, "run", "fn", "--addr", addr, "--send", "names={}")
	if code == 0 || !strings.Contains(stderr, addr+" is taken") || !strings.Contains(stderr, "--addr") {
		t.Errorf("exit %d, stderr:\n%s\nwant a failure naming %s", code, stderr, addr)
	}
	if strings.Contains(stderr, "go build") {
		t.Errorf("built before checking the port:\n%s", stderr)
	}
	if n := posted.Load(); n != 0 {
		t.Errorf("%d request(s) posted to the process that held the port", n)
	}
}

// TestSendWhenReadyChecksTheProcess: the port was free when tether run
// checked it, and another process took it while the function was built (the
// check cannot close that race): a ready status of another process gets
// nothing, and the message names both processes; the function run started
// gets its message.
func TestSendWhenReadyChecksTheProcess(t *testing.T) {
	const ours = 4242
	for _, c := range []struct {
		name       string
		pid, posts int
		stderr     string
	}{
		{"another process", 99, 0, "answered by another process (pid 99), not the function tether run started (pid 4242): nothing sent"},
		{"the function run started", ours, 1, "names: 204"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var posted atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					posted.Add(1)
					w.WriteHeader(http.StatusNoContent)
					return
				}
				fmt.Fprintf(w, `{"ready":true,"pid":%d}`, c.pid)
			}))
			defer srv.Close()
			var stderr strings.Builder
			cli.SendWhenReady(context.Background(), &cli.Env{Stdout: io.Discard, Stderr: &stderr}, srv.Listener.Addr().String(), ours, []string{"names={}"})
			if n := int(posted.Load()); n != c.posts || !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("%d post(s), stderr:\n%s\nwant %d and %q", n, stderr.String(), c.posts, c.stderr)
			}
		})
	}
}
