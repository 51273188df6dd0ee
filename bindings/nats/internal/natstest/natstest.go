// Package natstest runs private nats-server processes with JetStream for the
// binding's tests: the installed binary, bound to 127.0.0.1 on a free port,
// storing streams in a directory of the caller's.
package natstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one private nats-server.
type Server struct {
	URL  string // nats://127.0.0.1:port
	Port int

	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan error
}

// Start starts a server with JetStream, its file store in dir.
func Start(dir string) (*Server, error) {
	var last error
	for range 5 { // a free port may be taken between finding and binding it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, URL: "nats://127.0.0.1:" + strconv.Itoa(port)}
		s.args = []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", dir, "-m", "0"}
		if last = s.Start(); last == nil {
			return s, nil
		}
		if !strings.Contains(last.Error(), "address already in use") {
			return nil, last
		}
	}
	return nil, fmt.Errorf("nats-server: no free port: %w", last)
}

// Start runs the (stopped) server again, on the same port and store. It
// returns once the server logs that it is ready.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command("nats-server", s.args...)
	out, err := cmd.StderrPipe() // nats-server logs to stderr
	if err != nil {
		return err
	}
	cmd.Stdout = nil
	// Its own process group: a Ctrl-C to the test does not reach it first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	ready := make(chan bool, 1)
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if ok {
				continue
			}
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Server is ready") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	if !<-ready {
		err := cmd.Wait()
		return fmt.Errorf("nats-server did not start (%v):\n%s", err, strings.ToLower(log.String()))
	}
	s.cmd = cmd
	s.exit = make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	return nil
}

// Stop shuts the server down (SIGTERM: JetStream flushes its store) and
// waits for it to exit; after a minute it kills it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
}

// Restart stops and starts the server.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
