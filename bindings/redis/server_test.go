package redis_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a private redis-server started from the installed binary, bound
// to 127.0.0.1 on a free port, with its data in a temporary directory.
type server struct {
	Addr string
	Port int
	dir  string
	args []string
	cmd  *exec.Cmd
	exit chan error
}

// startServer starts a private server. With persist, it appends every write
// to a file (fsync every second), so that a restart with Stop and Start loses
// nothing acknowledged before the stop.
func startServer(dir string, persist bool) (*server, error) {
	s := &server{dir: dir}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--logfile", "", "--daemonize", "no"}
		if persist {
			s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			s.args = append(s.args, "--appendonly", "no")
		}
		err = s.Start()
		if err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			return nil, err
		}
	}
	return nil, fmt.Errorf("redis-server: no free port after 5 attempts")
}

// Start runs the server and returns once it accepts connections (it says so
// in its log).
func (s *server) Start() error {
	cmd := exec.Command("redis-server", s.args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	var log strings.Builder
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					ok = true
					ready <- true
				}
			}
		}
		if !ok {
			ready <- false
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	s.exit = make(chan error, 1)
	if !<-ready {
		err := cmd.Wait()
		return fmt.Errorf("redis-server did not start (%v):\n%s", err, log.String())
	}
	s.cmd = cmd
	go func() { s.exit <- cmd.Wait() }()
	return nil
}

// Stop shuts the server down cleanly (SIGTERM: it flushes its append-only
// file) and waits for it to exit.
func (s *server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exit
	}
	s.cmd = nil
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// shared is the package's private server, started by TestMain.
var shared *server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tether-redis-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = startServer(dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "private redis-server:", err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// unique returns name with a random suffix, so that runs never share a
// stream, group or key.
func unique(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
