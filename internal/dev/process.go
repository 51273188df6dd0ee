package dev

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tetherfn/tether/trigger"
)

// buildError is a failed generate or build, with the tool's own output
// (file:line:col: message lines).
type buildError struct {
	what string
	out  string
}

func (e *buildError) Error() string { return e.what + " failed:\n" + e.out }

// build compiles f's main into bin, returning the binary's path.
func build(ctx context.Context, f *function, bin string) (string, error) {
	out := filepath.Join(bin, fmt.Sprintf("%s-%d", f.name, time.Now().UnixNano()))
	// No symbol table or DWARF: the link, most of a rebuild after an
	// edit, takes a good part less.
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags=-s -w", "-o", out, f.main)
	cmd.Dir = f.pkgDir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := bytes.TrimSpace(buf.Bytes())
		if len(msg) == 0 {
			msg = []byte(err.Error())
		}
		return "", &buildError{what: "go build " + f.main + " (" + rel(f.module, f.pkgDir) + ")", out: string(msg)}
	}
	return out, nil
}

// process is one running function process.
type process struct {
	f      *function
	binary string
	addr   string // its control server: health, status, the bindings API
	hooks  string // its public server: webhook routes, if it has any
	cmd    *exec.Cmd
	exited chan struct{} // closed when it exited; cmd.ProcessState is then set
}

// start runs binary for f with the dev broker and a free port, its output
// prefixed with its name into logs.
func start(f *function, binary string, env []string, logs *lineWriter) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	hooks, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &process{f: f, binary: binary, exited: make(chan struct{}),
		addr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		hooks: net.JoinHostPort("127.0.0.1", strconv.Itoa(hooks))}
	cmd := exec.Command(binary)
	cmd.Dir = f.pkgDir
	cmd.Env = append(append(os.Environ(), env...),
		"TETHER_COMPONENTS="+f.runComponents(),
		"TETHER_API_HOST=127.0.0.1",
		"TETHER_API_PORT="+strconv.Itoa(port),
		"TETHER_HTTP_HOST=127.0.0.1",
		"TETHER_HTTP_PORT="+strconv.Itoa(hooks))
	// Its own process group: a Ctrl-C in the terminal reaches tether dev
	// only, which stops the functions itself (drain first, then kill).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := logs.pipe("[" + f.name + "] ")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	out.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", f.name, err)
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitReady waits until p answers /readyz with 2xx; an error when it
// exits first or ctx ends.
func (p *process) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready: %s", p.f.name, p.cmd.ProcessState)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// status reads p's /v1.0/status.
func (p *process) status(ctx context.Context) (trigger.Status, error) {
	var st trigger.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/v1.0/status", nil)
	if err != nil {
		return st, err
	}
	if tok := os.Getenv("TETHER_API_TOKEN"); tok != "" {
		req.Header.Set("dapr-api-token", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: /v1.0/status: %s", p.f.name, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// stop sends SIGTERM (the function drains and hands back what it holds)
// and waits for the exit; after grace, or when kill is closed, SIGKILL.
func (p *process) stop(grace time.Duration, kill <-chan struct{}) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return
	case <-t.C:
	case <-kill:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lineWriter serialises whole lines from several processes onto w.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
	wg sync.WaitGroup
	// recent keeps the functions' last lines for the dashboard.
	recent logRing
}

func (l *lineWriter) line(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(b)
}

func (l *lineWriter) printf(format string, args ...any) {
	l.line(fmt.Appendf(nil, format, args...))
}

// pipe returns a pipe whose lines are written to l, each with prefix.
func (l *lineWriter) pipe(prefix string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				l.line(append([]byte(prefix), line...))
				l.recent.add(prefix, line)
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					l.line([]byte(prefix + "(log: " + err.Error() + ")\n"))
				}
				return
			}
		}
	}()
	return w, nil
}
