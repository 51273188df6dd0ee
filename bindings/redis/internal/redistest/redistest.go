// Package redistest runs private redis-server processes for the binding's
// tests: the installed binary, bound to 127.0.0.1 on a free port, with its
// data in a directory of the caller's.
package redistest

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

// Server is one private redis-server.
type Server struct {
	Addr string // 127.0.0.1:port
	Port int

	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan error
}

// Start starts a server with its files in dir. With persist, every write goes
// to an append-only file, so that a Stop and Start in between loses nothing
// acknowledged before the stop (Redis flushes the file on SIGTERM).
func Start(dir string, persist bool) (*Server, error) {
	var last error
	for range 5 { // a free port may be taken between finding and binding it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		s.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--logfile", "", "--daemonize", "no", "--protected-mode", "yes"}
		if persist {
			s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			s.args = append(s.args, "--appendonly", "no")
		}
		if last = s.Start(); last == nil {
			return s, nil
		}
		if !strings.Contains(last.Error(), "Address already in use") {
			return nil, last
		}
	}
	return nil, fmt.Errorf("redis-server: no free port: %w", last)
}

// Start runs the (stopped) server again, on the same port and files. It
// returns once the server logs that it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command("redis-server", s.args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	// Its own process group: a Ctrl-C to the test does not reach it first,
	// and Stop decides when it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
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
			if strings.Contains(sc.Text(), "Ready to accept connections") {
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
		return fmt.Errorf("redis-server did not start (%v):\n%s", err, log.String())
	}
	s.cmd = cmd
	s.exit = make(chan error, 1)
	go func() { s.exit <- cmd.Wait() }()
	return nil
}

// Stop shuts the server down (SIGTERM: it flushes its append-only file) and
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
