package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tetherfn/tether/internal/scaffold"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
)

// exposedFunction scaffolds a function triggered by a webhook that writes
// to local files, as a new user would (tether new, go generate, go build),
// and returns its folder and binary, built once for the tests that use it.
// Its components/ are the scaffold's, with the files' root moved into a
// temporary folder (returned).
func exposedFunction(t *testing.T) (dir, bin, files string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a scaffolded function: not with -short")
	}
	exposed.once.Do(func() { exposed.dir, exposed.bin, exposed.files, exposed.err = buildExposed() })
	if exposed.err != nil {
		t.Fatal(exposed.err)
	}
	return exposed.dir, exposed.bin, exposed.files
}

var exposed struct {
	once            sync.Once
	work            string // removed by TestMain
	dir, bin, files string
	err             error
}

func buildExposed() (dir, bin, files string, err error) {
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		return "", "", "", err
	}
	work, err := os.MkdirTemp("", "tether-e2e-exposed-")
	if err != nil {
		return "", "", "", err
	}
	exposed.work = work
	env := newUser()
	run := func(dir string, env []string, name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s (in %s): %v\n%s", name, strings.Join(args, " "), dir, err, out)
		}
		return nil
	}
	args := []string{"new", "exposed", "--trigger", "http", "--output", "localstorage"}
	if scaffold.SourceCheckout() == "" {
		args = append(args, "--tether-path", root)
	}
	if err := run(work, append(env, asCLI+"=1"), os.Args[0], args...); err != nil {
		return "", "", "", err
	}
	dir = filepath.Join(work, "exposed")
	bin = filepath.Join(work, "exposed.bin")
	if err := run(dir, env, "go", "generate", "./..."); err != nil {
		return "", "", "", err
	}
	if err := run(dir, env, "go", "build", "-o", bin, "./cmd/exposed"); err != nil {
		return "", "", "", err
	}
	files = filepath.Join(work, "files")
	ls := filepath.Join(dir, "components", "exposed-localstorage.yaml")
	b, err := os.ReadFile(ls)
	if err != nil {
		return "", "", "", err
	}
	moved := bytes.ReplaceAll(b, []byte(`value: "/var/lib/exposed-localstorage"`), []byte(`value: "`+files+`"`))
	if bytes.Equal(moved, b) {
		return "", "", "", fmt.Errorf("%s: no rootPath /var/lib/exposed-localstorage to move:\n%s", ls, b)
	}
	return dir, bin, files, os.WriteFile(ls, moved, 0o644)
}

// nonLoopbackIP is an IPv4 address of this machine on an interface other
// than loopback: a connection from it is what a caller on the network
// looks like to the function (its peer address is not loopback, and it
// reaches only sockets bound beyond loopback).
func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to call the function from")
	return nil
}

// clientFrom is an HTTP client whose connections come from ip.
func clientFrom(ip net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func freeTCPPort(t *testing.T, host string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// process is a running function binary.
type process struct {
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	exited chan struct{}
	err    error
}

// start runs bin in dir with exactly env (no inherited environment).
func start(t *testing.T, dir, bin string, env ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin), stderr: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.cmd.Dir, p.cmd.Env, p.cmd.Stderr = dir, env, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitReady polls readyz on the loopback control address, as a probe
// would, until the process is ready or exits.
func (p *process) waitReady(t *testing.T, control string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + control + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("the function exited: %v\n%s", p.err, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("not ready within a minute:\n%s", p.stderr)
}

// post sends body and returns the status, or the error of the exchange.
func postWith(c *http.Client, url, body string, header ...string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func invokeBody(file string) string {
	return `{"operation":"create","data":{"id":"` + file + `"},"metadata":{"fileName":"` + file + `"}}`
}

// TestSafeByDefault: a function scaffolded by tether new and started with
// nothing but its ports set serves its webhook to the network, and no
// caller on the network can invoke its output binding, whichever port it
// tries; with TETHER_API_TOKEN (and the control API bound beyond
// loopback), a caller with the token can, and one without cannot; bound
// beyond loopback without a token, it refuses to start.
func TestSafeByDefault(t *testing.T) {
	ip := nonLoopbackIP(t)
	dir, bin, files := exposedFunction(t)
	remote := clientFrom(ip)
	exists := func(name string) bool { _, err := os.Stat(filepath.Join(files, name)); return err == nil }

	t.Run("no token", func(t *testing.T) {
		// TETHER_API_PORT only moves the loopback control port off 3500,
		// which another process on this machine may hold.
		public, api := freeTCPPort(t, ""), freeTCPPort(t, "127.0.0.1")
		p := start(t, dir, bin, "TETHER_HTTP_PORT="+public, "TETHER_API_PORT="+api)
		p.waitReady(t, "127.0.0.1:"+api)

		// The webhook is public: reachable from the network.
		if code, err := postWith(remote, "http://"+net.JoinHostPort(ip.String(), public)+"/exposed-in", `{"id":"from-webhook","text":"hi"}`); err != nil || code != http.StatusNoContent {
			t.Fatalf("webhook from %s: %d %v, want 204\n%s", ip, code, err, p.stderr)
		}
		// The API is not, on any port the function has.
		for _, port := range []string{public, api} {
			base := "http://" + net.JoinHostPort(ip.String(), port)
			code, err := postWith(remote, base+"/v1.0/bindings/exposed-localstorage", invokeBody("pwned-"+port))
			switch {
			case err == nil && code/100 == 2:
				t.Errorf("POST %s/v1.0/bindings/exposed-localstorage from %s: %d: an output binding invoked from the network", base, ip, code)
			case port == public && (err != nil || code != http.StatusNotFound):
				t.Errorf("POST %s/v1.0/bindings/... on the public port: %d %v, want 404", base, code, err)
			case port == api && !errors.Is(err, syscall.ECONNREFUSED):
				t.Errorf("POST %s/v1.0/bindings/... on the control port from %s: %d %v, want the connection refused (loopback only)", base, ip, code, err)
			}
			if exists("pwned-" + port) {
				t.Errorf("the call on port %s from %s wrote a file", port, ip)
			}
		}
		for _, path := range []string{"/v1.0/status", "/metrics", "/v1.0/metadata"} {
			if code, err := postWith(remote, "http://"+net.JoinHostPort(ip.String(), public)+path, ""); err != nil || code != http.StatusNotFound {
				t.Errorf("%s on the public port from %s: %d %v, want 404", path, ip, code, err)
			}
		}
		// From loopback, the API works as Dapr's does.
		if code, err := postWith(http.DefaultClient, "http://127.0.0.1:"+api+"/v1.0/bindings/exposed-localstorage", invokeBody("local")); err != nil || code != http.StatusOK || !exists("local") {
			t.Errorf("invoke from loopback: %d %v (file written: %v), want 200", code, err, exists("local"))
		}
	})

	t.Run("exposed without token", func(t *testing.T) {
		p := start(t, dir, bin, "TETHER_HTTP_PORT="+freeTCPPort(t, ""), "TETHER_API_HOST=0.0.0.0", "TETHER_API_PORT="+freeTCPPort(t, ""))
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			t.Fatalf("still running a minute after start with its API on 0.0.0.0 and no token:\n%s", p.stderr)
		}
		if p.err == nil || !strings.Contains(p.stderr.String(), "TETHER_API_TOKEN") {
			t.Errorf("exit %v, stderr:\n%s\nwant a failure naming TETHER_API_TOKEN", p.err, p.stderr)
		}
	})

	t.Run("token", func(t *testing.T) {
		public, api := freeTCPPort(t, ""), freeTCPPort(t, "")
		p := start(t, dir, bin, "TETHER_HTTP_PORT="+public, "TETHER_API_HOST=0.0.0.0", "TETHER_API_PORT="+api, "TETHER_API_TOKEN=let-me-in")
		p.waitReady(t, "127.0.0.1:"+api)
		url := "http://" + net.JoinHostPort(ip.String(), api) + "/v1.0/bindings/exposed-localstorage"
		if code, err := postWith(remote, url, invokeBody("no-token")); err != nil || code != http.StatusUnauthorized || exists("no-token") {
			t.Errorf("without the token from %s: %d %v, want 401 and no file", ip, code, err)
		}
		if code, err := postWith(remote, url, invokeBody("wrong-token"), "dapr-api-token", "let-me-out"); err != nil || code != http.StatusUnauthorized || exists("wrong-token") {
			t.Errorf("with a wrong token from %s: %d %v, want 401 and no file", ip, code, err)
		}
		if code, err := postWith(remote, url, invokeBody("with-token"), "dapr-api-token", "let-me-in"); err != nil || code != http.StatusOK || !exists("with-token") {
			t.Errorf("with the token from %s: %d %v (file written: %v), want 200", ip, code, err, exists("with-token"))
		}
		// The public port still serves no API, token or not.
		if code, err := postWith(remote, "http://"+net.JoinHostPort(ip.String(), public)+"/v1.0/bindings/exposed-localstorage",
			invokeBody("public-token"), "dapr-api-token", "let-me-in"); err != nil || code != http.StatusNotFound {
			t.Errorf("the API on the public port with the token: %d %v, want 404", code, err)
		}
	})
}

// repeat is an endless reader of one byte.
type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// onlyReader hides Len, so the client sends the body chunked, without a
// Content-Length.
type onlyReader struct{ io.Reader }

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestFlood: the scaffolded function, its webhook signed (github), under
// 40 concurrent 16 MB bodies (half to the API, half to the webhook with a
// bad signature; half of each with a Content-Length, half chunked) keeps
// its peak RSS under 300 MB and keeps serving; then 3,000 idle or slow
// connections are all closed by its timeouts (short ones, set for the
// test), and it still serves.
func TestFlood(t *testing.T) {
	dir, bin, _ := exposedFunction(t)
	const secret = "flood-secret"
	comps := t.TempDir()
	for _, name := range []string{"exposed-in.yaml", "exposed-localstorage.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "components", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "exposed-in.yaml" {
			b = append(b, []byte("\n  - name: signature\n    value: github\n  - name: secret\n    value: "+secret+"\n")...)
		}
		if err := os.WriteFile(filepath.Join(comps, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var p *process
	var public, api, hook, invoke string
	// run starts the function with the default settings and extra ones.
	run := func(extra ...string) {
		if p != nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.exited
		}
		public, api = freeTCPPort(t, "127.0.0.1"), freeTCPPort(t, "127.0.0.1")
		p = start(t, dir, bin, append([]string{"TETHER_COMPONENTS=" + comps, "TETHER_HTTP_HOST=127.0.0.1", "TETHER_HTTP_PORT=" + public,
			"TETHER_API_PORT=" + api, "TETHER_LOG_LEVEL=warn"}, extra...)...)
		p.waitReady(t, "127.0.0.1:"+api)
		hook, invoke = "http://127.0.0.1:"+public+"/exposed-in", "http://127.0.0.1:"+api+"/v1.0/bindings/exposed-localstorage"
	}
	run()
	serves := func(when string) {
		t.Helper()
		body := `{"id":"ok-` + when + `","text":"hi"}`
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(body))
		if code, err := postWith(http.DefaultClient, hook, body, "X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil))); err != nil || code != http.StatusNoContent {
			t.Errorf("%s: a signed webhook: %d %v, want 204\n%s", when, code, err, p.stderr)
		}
		if code, err := postWith(http.DefaultClient, invoke, invokeBody("ok-"+when)); err != nil || code != http.StatusOK {
			t.Errorf("%s: an invoke: %d %v, want 200", when, code, err)
		}
	}
	serves("before")
	base := peakRSS(t, p.cmd.Process.Pid)

	const big = 16 << 20
	var wg sync.WaitGroup
	var refused, failed atomic.Int64
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body io.Reader = io.LimitReader(repeat('a'), big)
			if i%4 >= 2 {
				body = onlyReader{body}
			}
			url := invoke
			if i%2 == 1 {
				url = hook
			}
			req, _ := http.NewRequest(http.MethodPost, url, body)
			if _, ok := body.(onlyReader); !ok {
				req.ContentLength = big
			}
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Do(req)
			switch {
			case err != nil:
				// The server answered and closed while the body was still
				// being sent: the client may see the reset first.
				refused.Add(1)
			case resp.StatusCode == http.StatusRequestEntityTooLarge:
				resp.Body.Close()
				refused.Add(1)
			default:
				resp.Body.Close()
				failed.Add(1)
				t.Errorf("a 16 MB body to %s: %s, want 413", url, resp.Status)
			}
		}()
	}
	wg.Wait()
	peak := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("40 bodies of 16 MB: %d refused (413 or cut off), %d accepted; peak RSS %.1f MB (%.1f MB before)",
		refused.Load(), failed.Load(), float64(peak)/(1<<20), float64(base)/(1<<20))
	if peak >= 300<<20 {
		t.Errorf("peak RSS %.1f MB, want under 300 MB", float64(peak)/(1<<20))
	}
	serves("after the bodies")

	// 3,000 connections that send nothing, half a header, or half a body,
	// to the function restarted with short timeouts.
	run("TETHER_HTTP_READ_HEADER_TIMEOUT=2s", "TETHER_HTTP_READ_TIMEOUT=3s", "TETHER_HTTP_IDLE_TIMEOUT=2s")
	serves("with short timeouts")
	const conns = 3000
	var closed atomic.Int64
	var open sync.WaitGroup
	started := time.Now()
	var dialErrs atomic.Int64
	for i := range conns {
		open.Add(1)
		go func() {
			defer open.Done()
			addr := "127.0.0.1:" + public
			var greeting string
			switch i % 3 {
			case 1:
				greeting = "POST /exposed-in HTTP/1.1\r\nHost: x\r\nContent-Type: applic"
			case 2:
				addr = "127.0.0.1:" + api
				greeting = "POST /v1.0/bindings/exposed-localstorage HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"operation\""
			}
			c, err := net.DialTimeout("tcp", addr, time.Minute)
			if err != nil {
				dialErrs.Add(1)
				return
			}
			defer c.Close()
			if greeting != "" {
				if _, err := c.Write([]byte(greeting)); err != nil {
					closed.Add(1)
					return
				}
			}
			// The server closes it (perhaps after a 408 or 400): reads
			// end. The deadline only bounds a server that never does.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			closed.Add(1)
		}()
	}
	open.Wait()
	t.Logf("%d idle or slow connections: %d closed by the function in %s (timeouts 2s header, 3s request; at most 1024 served at once per listener); %d not dialled",
		conns, closed.Load(), time.Since(started).Round(100*time.Millisecond), dialErrs.Load())
	if closed.Load() != conns {
		t.Errorf("%d of %d idle or slow connections closed by the function, want all", closed.Load(), conns)
	}
	serves("after the connections")
}
