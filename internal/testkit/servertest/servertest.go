// Package servertest runs a server binary as a child process for tests:
// start it, wait for the line in its output that says it is ready, and stop
// or restart it on demand. Brokers' test helpers build their arguments and
// data directories around it.
//
//	var p servertest.Process
//	err := servertest.OnFreePort(func(port int) error {
//		return p.Start("redis-server", []string{"--port", strconv.Itoa(port)},
//			func(line string) bool { return strings.Contains(line, "Ready to accept connections") })
//	})
//	defer p.Stop()
package servertest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it kills the process.
const StopTimeout = time.Minute

// StartTimeout is how long Start waits for the ready line before it kills
// the process and fails, so that a server that hangs cannot hang the test.
const StartTimeout = 2 * time.Minute

// maxLog bounds the output kept for a start failure's error.
const maxLog = 64 << 10

// Process is one server process; the zero value is stopped. Its methods
// are safe for concurrent use.
type Process struct {
	mu    sync.Mutex
	name  string
	args  []string
	ready func(line string) bool
	cmd   *exec.Cmd
	exit  chan error
}

// Start runs name with args and returns once ready reports true for a line
// of its output (stdout and stderr together). If the process exits first,
// the error holds the output it wrote. Start remembers the command for
// Restart; on a running Process it does nothing.
func (p *Process) Start(name string, args []string, ready func(line string) bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil
	}
	p.name, p.args, p.ready = name, args, ready
	return p.start()
}

func (p *Process) start() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	cmd := exec.Command(p.name, p.args...)
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group: a Ctrl-C to the test does not reach it first,
	// and Stop decides when it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	w.Close() // the child holds its copy; reads end when it exits
	if err != nil {
		r.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	ready, isReady := make(chan bool, 1), p.ready
	var (
		logMu sync.Mutex
		log   strings.Builder
	)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		ok := false
		for !ok && sc.Scan() {
			logMu.Lock()
			if log.Len() < maxLog {
				log.WriteString(sc.Text() + "\n")
			}
			logMu.Unlock()
			ok = isReady(sc.Text())
		}
		ready <- ok
		// Keep draining, so that the server never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, r)
	}()
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	failed := func(why string) error {
		logMu.Lock()
		defer logMu.Unlock()
		return fmt.Errorf("%s did not start (%s):\n%s", p.name, why, log.String())
	}
	select {
	case ok := <-ready:
		if !ok { // it exited, or closed its output: make sure it is gone
			_ = cmd.Process.Kill()
			return failed(fmt.Sprint(<-exit))
		}
	case <-time.After(StartTimeout):
		_ = cmd.Process.Kill()
		<-exit
		return failed(fmt.Sprintf("no ready line within %v", StartTimeout))
	}
	p.cmd, p.exit = cmd, exit
	return nil
}

// Stop sends the process SIGTERM, so that it can flush what it persists,
// and waits for it to exit; after StopTimeout it kills it. On a stopped
// Process it does nothing.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop()
}

func (p *Process) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
	case <-time.After(StopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.exit
	}
	p.cmd = nil
}

// Restart stops the process and starts it again with the command of the
// last Start.
func (p *Process) Restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name == "" {
		return fmt.Errorf("servertest: Restart before Start")
	}
	p.stop()
	return p.start()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// OnFreePort calls start with a free port, and again with another one (up
// to five times in all) while start fails because the port was taken
// between finding and binding it: its error says "address already in use".
func OnFreePort(start func(port int) error) error {
	var last error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			return err
		}
		if last = start(port); last == nil {
			return nil
		}
		if !strings.Contains(strings.ToLower(last.Error()), "address already in use") {
			return last
		}
	}
	return fmt.Errorf("no free port: %w", last)
}
