package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newRunCommand) }

// runOptions are the flags of tether run.
type runOptions struct {
	env        string
	components string
	addr       string
	webhook    string
	functions  []string
	grace      time.Duration
	logLevel   string
	sends      []string // binding=data, sent once the first function is ready
}

func newRunCommand(env *Env) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run [folder]",
		Short: "Build a function and run it locally on its components, until Ctrl-C",
		Long: `run builds the generated main of each function of the package in the folder
(default: the current one), cmd/<function>/main_gen.go, with go build, and
runs it with TETHER_COMPONENTS set to the folder's components/local (or
components/<env>, or --components). Their logs stream to stderr. Ctrl-C (or
SIGTERM) stops them gracefully: intake stops, handlers in flight finish,
what is left goes back to the broker.

The functions serve their control API (the Dapr-compatible /v1.0 API,
/v1.0/status, /metrics, health) on --addr and their webhook routes, if they
have any, on --webhook-addr (the next ports for a second function and
more); both on loopback by default: put a message on an input with tether
send. Each function is its own process, so in-memory queues are not shared
between functions: tether dev runs every function of a module on one
shared broker.

Run go generate ./... first: run does not generate code.`,
		Example: `  tether run .
  tether run ./examples/hello --log-level debug
  tether run ./orders --env prod
  tether run . --components components --addr 127.0.0.1:3600
  tether run ./examples/sms-reply --webhook-addr 127.0.0.1:9000
  tether run ./examples/hello --send 'names={"name":"Ada"}'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError(cmd, "want at most one folder")
			}
			return nil
		},
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return runFunctions(cmd.Context(), env, dir, o, cmd.Flags().Changed("env"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.env, "env", "local", "run on the components in components/<env>")
	f.StringVar(&o.components, "components", "", "run on the components in this folder instead (relative to the working directory)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:3500", "address of the first function's control API: /v1.0, status, metrics, health (port 0: any free port)")
	f.StringVar(&o.webhook, "webhook-addr", "127.0.0.1:8080", "address of the first function's webhook routes, when it has any (port 0: any free port)")
	f.StringSliceVar(&o.functions, "function", nil, "run only these functions (default: every function of the package)")
	f.DurationVar(&o.grace, "grace", 25*time.Second, "how long stopping functions may drain before they are killed")
	f.StringVar(&o.logLevel, "log-level", "", "the functions' log level: debug (every message handled), info, warn or error (default: $TETHER_LOG_LEVEL, or info)")
	f.StringArrayVar(&o.sends, "send", nil, "once the first function is ready, send it binding=data (as tether send does; data is JSON, text or @file); repeat for more")
	_ = cmd.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.MarkFlagDirname("components")
	withUsageHint(cmd)
	return cmd
}

func runFunctions(ctx context.Context, env *Env, dir string, o runOptions, envSet bool) error {
	wd, err := env.workDir()
	if err != nil {
		return err
	}
	abs := absIn(wd, dir)
	mains, err := filepath.Glob(filepath.Join(abs, "cmd", "*", "main_gen.go"))
	if err != nil {
		return err
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	if len(names) == 0 {
		return fmt.Errorf("no generated main in %s\nrun go generate ./... in %s first", filepath.Join(dir, "cmd", "*", "main_gen.go"), dir)
	}
	if len(o.functions) > 0 {
		for _, f := range o.functions {
			if !slices.Contains(names, f) {
				return fmt.Errorf("--function %s: %s has no function %q (it has %s)", f, dir, f, strings.Join(names, ", "))
			}
		}
		names = o.functions
	}

	components, err := runComponents(env, wd, abs, dir, o, envSet)
	if err != nil {
		return err
	}
	host, port, err := splitAddr(o.addr)
	if err != nil {
		return usageErrorf("run", "--addr %q: %v", o.addr, err)
	}

	whHost, whPort, err := splitAddr(o.webhook)
	if err != nil {
		return usageErrorf("run", "--webhook-addr %q: %v", o.webhook, err)
	}

	// Every port must be ours before anything is built: a function that
	// cannot listen dies, but --send, polling the port, would meanwhile
	// find whatever else answers there (another tether run) and post to it.
	for i := range names {
		for _, a := range []struct {
			flag, host string
			port       int
		}{{"--addr", host, port}, {"--webhook-addr", whHost, whPort}} {
			if a.port == 0 {
				continue
			}
			if err := portFree(a.host, a.port+i); err != nil {
				return fmt.Errorf("%w\nstop what listens there, or pass %s with another port (port 0: any free port)", err, a.flag)
			}
		}
	}

	if port == 0 && len(o.sends) > 0 {
		// --send must know where the first function listens.
		if port, err = freePort(host); err != nil {
			return err
		}
	}

	bin, err := os.MkdirTemp("", "tether-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	for _, name := range names {
		fmt.Fprintf(env.Stderr, "tether: go build ./cmd/%s\n", name)
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		build.Dir = abs
		build.Stdout, build.Stderr = env.Stderr, env.Stderr
		if err := build.Run(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("go build ./cmd/%s in %s: %w\nfix the build (go vet ./... shows more), or run go generate ./... if the code changed", name, dir, err)
		}
	}

	var procs []*exec.Cmd
	var wg sync.WaitGroup
	exited := make(chan *exec.Cmd, len(names))
	logs := &lockedWriter{w: env.Stderr}
	for i, name := range names {
		p, wp := port, whPort
		if p != 0 {
			p += i
		}
		if wp != 0 {
			wp += i
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name))
		cmd.Dir = abs
		cmd.Env = append(os.Environ(),
			"TETHER_COMPONENTS="+components,
			"TETHER_API_HOST="+host,
			"TETHER_API_PORT="+strconv.Itoa(p),
			"TETHER_HTTP_HOST="+whHost,
			"TETHER_HTTP_PORT="+strconv.Itoa(wp))
		if o.logLevel != "" {
			cmd.Env = append(cmd.Env, "TETHER_LOG_LEVEL="+o.logLevel)
		}
		// Stop as Kubernetes does: SIGTERM, then SIGKILL after the grace.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = o.grace + 5*time.Second
		var prefix string
		if len(names) > 1 {
			prefix = "[" + name + "] "
		}
		out, err := prefixed(logs, prefix, &wg)
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = out, out
		err = cmd.Start()
		out.Close() // the child has its own copy: the pipe ends when it exits
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		fmt.Fprintf(env.Stderr, "tether: %s runs on %s, control API on %s (Ctrl-C stops it)\n", name, relative(wd, components), net.JoinHostPort(host, strconv.Itoa(p)))
		procs = append(procs, cmd)
		go func() {
			_ = cmd.Wait() // read through ProcessState
			exited <- cmd
		}()
	}

	if len(o.sends) > 0 {
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		go sendWhenReady(ctx, env, addr, procs[0].Process.Pid, o.sends)
	}

	// The first to exit (or Ctrl-C) stops the others.
	var failed error
	for range procs {
		var c *exec.Cmd
		select {
		case c = <-exited:
		case <-ctx.Done():
			c = <-exited
		}
		if ctx.Err() == nil && failed == nil {
			failed = fmt.Errorf("%s stopped: %s", filepath.Base(c.Path), c.ProcessState)
			for _, p := range procs {
				if p != c && p.Process != nil {
					_ = p.Process.Signal(syscall.SIGTERM)
				}
			}
		} else if ctx.Err() != nil && !c.ProcessState.Success() && failed == nil {
			failed = fmt.Errorf("%s did not stop cleanly: %s", filepath.Base(c.Path), c.ProcessState)
		}
	}
	wg.Wait()
	if failed != nil {
		return &ExitError{Code: 1, Err: failed}
	}
	return nil
}

// portFree reports, as an error naming it, a host:port another process
// listens on.
func portFree(host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken: %w", addr, err)
	}
	return ln.Close()
}

// freePort asks the system for a port free on host.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port for --send: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// sendWhenReady waits for the function it started, process pid, to be ready
// at addr, then sends it each binding=data of --send, in order, reporting
// failures on stderr. The port was free when run checked it, but another
// process may have taken it while the function was built: the runtime's
// status names its process, and a ready status of any other process gets
// nothing.
func sendWhenReady(ctx context.Context, env *Env, addr string, pid int, sends []string) {
	api := controlAPI{addr: addr, timeout: time.Second, notRunning: sendNotRunning}
	for {
		var st struct {
			Ready bool `json:"ready"`
			PID   int  `json:"pid"`
		}
		if err := api.get(ctx, "status", "/v1.0/status", &st); err == nil && st.Ready {
			if st.PID != pid {
				fmt.Fprintf(env.Stderr, "tether: --send: %s is answered by another process (pid %d), not the function tether run started (pid %d): nothing sent\n", addr, st.PID, pid)
				return
			}
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, s := range sends {
		binding, data, ok := strings.Cut(s, "=")
		if !ok || binding == "" {
			fmt.Fprintf(env.Stderr, "tether: --send %q: want binding=data\n", s)
			continue
		}
		fmt.Fprintf(env.Stderr, "tether: send %s %s\n", binding, data)
		if err := send(ctx, env, binding, sendOptions{data: data, operation: "create",
			controlAPI: controlAPI{addr: addr, timeout: time.Minute, notRunning: sendNotRunning}}); err != nil {
			fmt.Fprintf(env.Stderr, "tether: --send %s: %v\n", binding, err)
		}
	}
}

// runComponents picks the components folder of tether run.
func runComponents(env *Env, wd, abs, dir string, o runOptions, envSet bool) (string, error) {
	if o.components != "" {
		c := absIn(wd, o.components)
		if fi, err := os.Stat(c); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("--components %s: not a folder", o.components)
		}
		return c, nil
	}
	c := filepath.Join(abs, "components", o.env)
	if fi, err := os.Stat(c); err == nil && fi.IsDir() {
		return c, nil
	}
	plain := filepath.Join(abs, "components")
	if !envSet {
		if fi, err := os.Stat(plain); err == nil && fi.IsDir() {
			fmt.Fprintf(env.Stderr, "tether: %s has no components/%s; using components\n", dir, o.env)
			return plain, nil
		}
	}
	return "", fmt.Errorf("no components folder %s\npass --env <name> for components/<name>, or --components <folder>", filepath.Join(dir, "components", o.env))
}

// splitAddr splits host:port; a bare port means 127.0.0.1.
func splitAddr(addr string) (string, int, error) {
	if !strings.Contains(addr, ":") {
		addr = "127.0.0.1:" + addr
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 0 to 65535", p)
	}
	return host, port, nil
}

func usageErrorf(command, format string, args ...any) error {
	return fmt.Errorf("tether %s: %s\nsee: tether %s --help", command, fmt.Sprintf(format, args...), command)
}

// lockedWriter serialises whole lines from several processes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w.Write(b)
}

// prefixed returns a pipe whose lines are written to w, each with prefix.
func prefixed(w *lockedWriter, prefix string, wg *sync.WaitGroup) (*os.File, error) {
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.Close()
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				w.line(append([]byte(prefix), line...))
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					w.line([]byte(prefix + "(log: " + err.Error() + ")\n"))
				}
				return
			}
		}
	}()
	return pw, nil
}
