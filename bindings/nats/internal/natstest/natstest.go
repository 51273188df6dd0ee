// Package natstest runs private nats-server processes with JetStream for the
// binding's tests: the installed binary, bound to 127.0.0.1 on a free port,
// storing streams in a directory of the caller's.
package natstest

import (
	"strconv"
	"strings"

	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// Server is one private nats-server.
type Server struct {
	URL  string // nats://127.0.0.1:port
	Port int

	args []string
	proc servertest.Process
}

// Start starts a server with JetStream, its file store in dir.
func Start(dir string) (*Server, error) {
	var s *Server
	err := servertest.OnFreePort(func(port int) error {
		s = &Server{Port: port, URL: "nats://127.0.0.1:" + strconv.Itoa(port)}
		s.args = []string{"-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", dir, "-m", "0"}
		return s.Start()
	})
	if err != nil {
		return nil, err // it names nats-server and holds its output
	}
	return s, nil
}

// Start runs the (stopped) server again, on the same port and store. It
// returns once the server logs that it is ready.
func (s *Server) Start() error {
	return s.proc.Start("nats-server", s.args, func(line string) bool {
		return strings.Contains(line, "Server is ready")
	})
}

// Stop shuts the server down (SIGTERM: JetStream flushes its store) and
// waits for it to exit; after a minute it kills it.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops and starts the server.
func (s *Server) Restart() error { return s.proc.Restart() }
