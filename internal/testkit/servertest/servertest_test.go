package servertest

import (
	"io"
	"net"
	"strings"
	"testing"
)

func TestStartStopRestart(t *testing.T) {
	var p Process
	// The shell announces itself, then waits for SIGTERM.
	script := `echo starting; echo ready $$; exec sleep 600`
	var pids []string
	ready := func(line string) bool {
		if pid, ok := strings.CutPrefix(line, "ready "); ok {
			pids = append(pids, pid)
			return true
		}
		return false
	}
	if err := p.Start("sh", []string{"-c", script}, ready); err != nil {
		t.Fatal(err)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	p.Stop() // stopping a stopped process does nothing
	if len(pids) != 2 || pids[0] == pids[1] {
		t.Fatalf("want two distinct processes, got pids %q", pids)
	}
}

func TestStartFailureCarriesOutput(t *testing.T) {
	var p Process
	err := p.Start("sh", []string{"-c", "echo bind: Address already in use >&2; exit 3"},
		func(line string) bool { return line == "ready" })
	if err == nil {
		p.Stop()
		t.Fatal("Start succeeded for a process that exited")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("error lacks the process's output: %v", err)
	}
}

func TestOnFreePortRetriesTakenPort(t *testing.T) {
	var ports []int
	err := OnFreePort(func(port int) error {
		ports = append(ports, port)
		if len(ports) < 3 {
			return errTaken
		}
		return nil
	})
	if err != nil || len(ports) != 3 {
		t.Fatalf("OnFreePort: err %v after %d tries, want nil after 3", err, len(ports))
	}
	if err := OnFreePort(func(int) error { return errTaken }); err == nil {
		t.Fatal("OnFreePort succeeded though every port was taken")
	}
}

type takenError struct{}

func (takenError) Error() string { return "listen: address already in use" }

var errTaken = takenError{}

func TestProxyCutsAndGoesDown(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := StartProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip := func(c net.Conn) error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		return err
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Cut()
	if err := roundTrip(c); err == nil {
		t.Fatal("a cut connection still carries data")
	}
	p.Down()
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		err := roundTrip(c)
		c.Close()
		if err == nil {
			t.Fatal("data went through while the proxy is down")
		}
	}
	p.Up()
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("after Up: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}
