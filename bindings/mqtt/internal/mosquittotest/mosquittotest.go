// Package mosquittotest runs private mosquitto brokers for the binding's
// tests: the installed binary, listening on 127.0.0.1 on a free port, with
// persistence in a directory of the caller's.
package mosquittotest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is one private mosquitto.
type Server struct {
	URL  string // tcp://127.0.0.1:port
	Port int

	conf string
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan error
}

// Start starts a broker with its persistence file in dir. Sessions and
// their queued messages survive a Stop and Start: mosquitto writes them on
// SIGTERM. The offline queue per client is unlimited (max_queued_messages
// 0), so that a function down during a burst loses nothing.
func Start(dir string) (*Server, error) {
	var last error
	for range 5 { // a free port may be taken between finding and binding it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Port: port, URL: "tcp://127.0.0.1:" + strconv.Itoa(port), conf: filepath.Join(dir, "mosquitto.conf")}
		conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
user root
`, port, dir)
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if last = s.Start(); last == nil {
			return s, nil
		}
		if !strings.Contains(strings.ToLower(last.Error()), "address already in use") {
			return nil, last
		}
	}
	return nil, fmt.Errorf("mosquitto: no free port: %w", last)
}

// Start runs the (stopped) broker again, on the same port and files. It
// returns once the broker accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command("mosquitto", "-c", s.conf)
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start mosquitto: %w", err)
	}
	var log strings.Builder
	var logMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			if log.Len() < 64<<10 {
				log.WriteString(sc.Text() + "\n")
			}
			logMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	// mosquitto logs nothing on readiness at these log levels: wait until
	// the port answers, or the process exits.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exit:
			logMu.Lock()
			defer logMu.Unlock()
			return fmt.Errorf("mosquitto did not start (%v):\n%s", err, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("mosquitto did not listen on port %d within 30s", s.Port)
		}
	}
	s.cmd, s.exit = cmd, exit
	return nil
}

// Stop shuts the broker down (SIGTERM: it writes its persistence file) and
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

// Restart stops and starts the broker.
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
