// Package redistest runs private redis-server processes for the binding's
// tests: the installed binary, bound to 127.0.0.1 on a free port, with its
// data in a directory of the caller's.
package redistest

import (
	"net"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// Server is one private redis-server.
type Server struct {
	Addr string // 127.0.0.1:port
	Port int

	args []string
	proc servertest.Process
}

// Start starts a server with its files in dir. With persist, every write goes
// to an append-only file, so that a Stop and Start in between loses nothing
// acknowledged before the stop (Redis flushes the file on SIGTERM).
func Start(dir string, persist bool) (*Server, error) {
	var s *Server
	err := servertest.OnFreePort(func(port int) error {
		s = &Server{Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
		s.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--logfile", "", "--daemonize", "no", "--protected-mode", "yes"}
		if persist {
			s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			s.args = append(s.args, "--appendonly", "no")
		}
		return s.Start()
	})
	if err != nil {
		return nil, err // it names redis-server and holds its output
	}
	return s, nil
}

// Start runs the (stopped) server again, on the same port and files. It
// returns once the server logs that it accepts connections.
func (s *Server) Start() error {
	return s.proc.Start("redis-server", s.args, func(line string) bool {
		return strings.Contains(line, "Ready to accept connections")
	})
}

// Stop shuts the server down (SIGTERM: it flushes its append-only file) and
// waits for it to exit; after a minute it kills it.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops and starts the server.
func (s *Server) Restart() error { return s.proc.Restart() }
