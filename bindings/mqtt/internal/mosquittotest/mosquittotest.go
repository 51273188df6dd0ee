// Package mosquittotest runs private mosquitto brokers for the binding's
// tests: the installed binary, listening on 127.0.0.1 on a free port, with
// persistence in a directory of the caller's.
package mosquittotest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// Server is one private mosquitto.
type Server struct {
	URL  string // tcp://127.0.0.1:port
	Port int

	conf string
	proc servertest.Process
}

// Start starts a broker with its persistence file in dir. Sessions and
// their queued messages survive a Stop and Start: mosquitto writes them on
// SIGTERM. The offline queue per client is unlimited (max_queued_messages
// 0), so that a function down during a burst loses nothing. Each of extra
// is one more line of mosquitto.conf.
func Start(dir string, extra ...string) (*Server, error) {
	var s *Server
	err := servertest.OnFreePort(func(port int) error {
		s = &Server{Port: port, URL: "tcp://127.0.0.1:" + strconv.Itoa(port), conf: filepath.Join(dir, "mosquitto.conf")}
		// log_type information: mosquitto logs "running" only at that
		// level, once its listeners are open; Start waits for that line.
		conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
max_queued_messages 0
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
user root
%s
`, port, dir, strings.Join(extra, "\n"))
		if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
			return fmt.Errorf("mosquitto: write config: %w", err)
		}
		return s.Start()
	})
	if err != nil {
		return nil, err // it names mosquitto and holds its output
	}
	return s, nil
}

// Start runs the (stopped) broker again, on the same port and files. It
// returns once the broker accepts connections.
func (s *Server) Start() error {
	return s.proc.Start("mosquitto", []string{"-c", s.conf}, func(line string) bool {
		return strings.Contains(line, "mosquitto version") && strings.HasSuffix(line, " running")
	})
}

// Stop shuts the broker down (SIGTERM: it writes its persistence file) and
// waits for it to exit; after a minute it kills it.
func (s *Server) Stop() { s.proc.Stop() }

// Restart stops and starts the broker.
func (s *Server) Restart() error { return s.proc.Restart() }
