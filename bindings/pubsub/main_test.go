package pubsub_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// The tests run against pstest, the Pub/Sub fake of the client library, in
// the test process; the fault test runs it in a helper process (the test
// binary re-executed) that the function process can reach too. Where the
// Google Cloud SDK's Pub/Sub emulator is installed, the conformance suite
// runs against it as well.

// helperEnv makes the test binary a pstest server: it prints "listening
// <addr>" and serves until its standard input closes or it is signalled.
const helperEnv = "TETHER_PSTEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(servePstest())
	}
	faulttest.Main(m)
}

const project = "tether-test"

func servePstest() int {
	srv := pstest.NewServerWithAddress("127.0.0.1:0")
	fmt.Printf("listening %s\n", srv.Addr)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	}
	_ = srv.Close()
	return 0
}

// startPstestProcess runs pstest in a helper process for the test's
// duration and returns its address.
func startPstestProcess(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	addr, err := startServer(t, cmd, "listening ")
	if err != nil {
		t.Fatalf("pstest helper: %v", err)
	}
	return addr
}

// startServer starts cmd, waits for the line on its output that starts
// with prefix and returns the rest of it, and stops the process when the
// test ends. The process's standard input stays open until then.
func startServer(t testing.TB, cmd *exec.Cmd, prefix string) (string, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	found := make(chan string, 1)
	var seen strings.Builder
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			line := s.Text()
			if i := strings.Index(line, prefix); i >= 0 {
				found <- strings.TrimSpace(line[i+len(prefix):])
				break
			}
			seen.WriteString(line + "\n")
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-found:
		return addr, nil
	case <-exited:
		return "", fmt.Errorf("%s exited before it was ready", cmd.Path)
	case <-time.After(60 * time.Second):
		return "", fmt.Errorf("%s not ready within 60s", cmd.Path)
	}
}

var inProcess struct {
	once sync.Once
	addr string
}

// pstestAddr returns the address of the pstest server in this process.
func pstestAddr() string {
	inProcess.once.Do(func() {
		inProcess.addr = pstest.NewServerWithAddress("127.0.0.1:0").Addr
	})
	return inProcess.addr
}

// sdkEmulator returns the path of the Google Cloud SDK's Pub/Sub emulator,
// or an error saying why there is none: TETHER_PUBSUB_EMULATOR, else the
// one next to gcloud.
func sdkEmulator() (string, error) {
	if p := os.Getenv("TETHER_PUBSUB_EMULATOR"); p != "" {
		return p, nil
	}
	gcloud, err := exec.LookPath("gcloud")
	if err != nil {
		return "", errors.New("no gcloud on PATH and TETHER_PUBSUB_EMULATOR is not set")
	}
	if real, err := filepath.EvalSymlinks(gcloud); err == nil {
		gcloud = real
	}
	p := filepath.Join(filepath.Dir(gcloud), "..", "platform", "pubsub-emulator", "bin", "cloud-pubsub-emulator")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("the Pub/Sub emulator component is not installed (gcloud components install pubsub-emulator): %w", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("the Pub/Sub emulator needs java")
	}
	return p, nil
}

// startSDKEmulator starts the Google Cloud SDK's emulator on a free port for
// the test's duration.
func startSDKEmulator(t testing.TB, path string) string {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(path, "--host=127.0.0.1", fmt.Sprintf("--port=%d", port))
	if _, err := startServer(t, cmd, "Server started, listening on "); err != nil {
		t.Fatalf("Pub/Sub emulator: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// metadata is component metadata for a topic and subscription on the
// emulator at addr, with extra keys laid over it.
func metadata(addr, topic, subscription string, extra map[string]string) map[string]string {
	md := map[string]string{
		"projectId":    project,
		"endpoint":     addr,
		"topic":        topic,
		"subscription": subscription,
	}
	for k, v := range extra {
		md[k] = v
	}
	return md
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
