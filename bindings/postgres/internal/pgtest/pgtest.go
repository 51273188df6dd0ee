// Package pgtest runs a private PostgreSQL cluster for the binding's tests:
// initdb and pg_ctl from the installed server, in a temporary directory,
// listening on 127.0.0.1 on a free port, with trust authentication. Run as
// root, it runs the server as the postgres user, which initdb requires.
package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tetherfn/tether/internal/testkit/servertest"
)

// Cluster is one private cluster.
type Cluster struct {
	// URL connects to its postgres database as the postgres user.
	URL  string
	Port int

	dir  string // holds data/, the log and the socket
	bin  string // the server's bin directory
	asPG bool   // run the tools as the postgres user
}

// Start creates a cluster in a new temporary directory and starts it. Stop
// it with Close, which also removes the directory.
func Start() (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tether-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, asPG: os.Geteuid() == 0}
	if err := c.create(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range 5 { // a free port may be taken between finding and binding it
		if c.Port, err = servertest.FreePort(); err != nil {
			break
		}
		c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
		if err = c.Start(); err == nil {
			return c, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}

// create runs initdb into dir/data.
func (c *Cluster) create() error {
	if c.asPG {
		// The server runs as postgres: it must reach the directory and own
		// the data directory.
		pg, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chmod(c.dir, 0o755); err != nil {
			return err
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
	}
	return c.run("initdb", "-D", filepath.Join(c.dir, "data"), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
}

// Start starts the (stopped) cluster and waits until it accepts connections.
// fsync is off: the tests restart the server cleanly, which loses nothing
// without it, and never crash the machine.
func (c *Cluster) Start() error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200", c.Port, c.dir)
	return c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "server.log"), "-o", opts, "-w", "start")
}

// Stop shuts the server down (fast: sessions are cut, then a checkpoint) and
// waits for it.
func (c *Cluster) Stop() error {
	return c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop")
}

// Restart stops and starts the server.
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Start()
}

// Close stops the server and removes its directory.
func (c *Cluster) Close() error {
	err := c.Stop()
	return errors.Join(err, os.RemoveAll(c.dir))
}

// Log returns the server's log, for failure messages.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}

func (c *Cluster) run(tool string, args ...string) error {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.asPG {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, out)
	}
	return nil
}

// binDir finds the newest installed server's bin directory.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no PostgreSQL server installed (looked for /usr/lib/postgresql/*/bin/initdb and initdb on PATH)")
}
