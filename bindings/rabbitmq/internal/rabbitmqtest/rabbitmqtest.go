// Package rabbitmqtest runs private RabbitMQ nodes for the binding's tests:
// the installed rabbitmq-server as its own node (own name, AMQP and
// distribution ports on 127.0.0.1, database, logs and Erlang cookie in a
// directory of the caller's). A node takes about five seconds to start.
package rabbitmqtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// Server is one private RabbitMQ node.
type Server struct {
	URL  string // amqp://guest:guest@127.0.0.1:port/
	Port int
	Node string // Erlang node name

	bin  string
	env  []string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *os.File
	exit chan error
}

// Binary returns the rabbitmq-server script to run as the current user, or
// an error when RabbitMQ is not installed. The one on PATH in Debian's
// package switches to the rabbitmq user when run as root, which could not
// write the caller's directory; the one it wraps does not.
func Binary() (string, error) {
	if p := "/usr/lib/rabbitmq/bin/rabbitmq-server"; fileExists(p) {
		return p, nil
	}
	return exec.LookPath("rabbitmq-server")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start starts a node with its files in dir.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq-server not installed: %w", err)
	}
	var last error
	for range 3 { // a free port may be taken between finding and binding it
		port, err1 := servertest.FreePort()
		dist, err2 := servertest.FreePort()
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("free ports: %v %v", err1, err2)
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		s := &Server{Port: port, URL: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", port),
			Node: "tether-" + hex.EncodeToString(b[:]) + "@localhost", bin: bin, dir: dir}
		conf := fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\n", port)
		if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		s.env = append(os.Environ(),
			"HOME="+dir, // the Erlang cookie
			"RABBITMQ_CONF_ENV_FILE=/dev/null",
			"RABBITMQ_NODENAME="+s.Node,
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
			"RABBITMQ_DIST_PORT="+strconv.Itoa(dist),
			"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq"),
			"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
			"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
			"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
			"RABBITMQ_PID_FILE="+filepath.Join(dir, "rabbitmq.pid"),
			"ERL_EPMD_ADDRESS=127.0.0.1",
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		)
		if last = s.Start(); last == nil {
			return s, nil
		}
	}
	return nil, last
}

// Start runs the (stopped) node again, with the same name, ports and
// database. It returns once the node accepts AMQP connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin)
	cmd.Env = s.env
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group (the script and the Erlang VM): Stop signals
	// both, and a Ctrl-C to the test does not reach them first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start rabbitmq-server: %w", err)
	}
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exit:
			out.Close()
			return fmt.Errorf("rabbitmq-server exited (%v) before listening; see %s:\n%s", err, out.Name(), tail(out.Name()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exit
			out.Close()
			return fmt.Errorf("rabbitmq-server did not listen on port %d within 2 minutes:\n%s", s.Port, tail(out.Name()))
		}
	}
	s.cmd, s.exit, s.out = cmd, exit, out
	return nil
}

// Stop shuts the node down (SIGTERM: a clean stop that keeps durable queues
// and persistent messages) and waits for it; after a minute it kills it.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exit
	}
	// The script may exit before the VM: wait until the port is free.
	for range 600 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)), time.Second)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	s.out.Close()
	s.cmd = nil
}

// Restart stops and starts the node.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}
