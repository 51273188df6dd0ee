package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSidecarStart builds the sidecar binary as tether build
// --sidecar does (every driver) and, in each of b.N rounds, starts it with
// one output component and measures exec to the first 204 of
// /v1.0/healthz (polled every millisecond), then its resident memory once
// idle (VmRSS 1 s after ready); and, as a baseline in the same rounds, a Go
// program that only serves 204 on a port. It reports the binary's size,
// the medians, and the ratio of start times.
//
//	go test -run '^$' -bench SidecarStart -benchtime 7x ./cmd/tether-sidecar/
func BenchmarkSidecarStart(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "tether")
	goBuild(b, ".", bin, "-tags", "grpcnotrace")
	base := filepath.Join(dir, "baseline")
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		b.Fatal(err)
	}
	for name, text := range map[string]string{
		"go.mod":  "module baseline\n\ngo 1.22\n",
		"main.go": "package main\n\nimport (\n\t\"net/http\"\n\t\"os\"\n)\n\nfunc main() {\n\t_ = http.ListenAndServe(\"127.0.0.1:\"+os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))\n}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, "src", name), []byte(text), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	goBuild(b, filepath.Join(dir, "src"), base)
	comps := filepath.Join(dir, "components")
	if err := os.MkdirAll(comps, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(comps, "out.yaml"), []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: out\nspec:\n  type: bindings.memory\n  version: v1\n  metadata:\n  - name: queue\n    value: bench\n  - name: direction\n    value: output\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}

	var starts, baseStarts, rss []float64
	for range b.N {
		port := freePort(b)
		d, mem := startToReady(b, port, "/v1.0/healthz", bin, "sidecar", "--app-id", "bench", "--dapr-http-port", strconv.Itoa(port),
			"--dapr-grpc-port", strconv.Itoa(freePort(b)), "--resources-path", comps, "--log-level", "warn")
		starts, rss = append(starts, d), append(rss, mem)
		port = freePort(b)
		d, _ = startToReady(b, port, "/", base, strconv.Itoa(port))
		baseStarts = append(baseStarts, d)
	}
	b.ReportMetric(float64(fi.Size())/1e6, "binary-MB")
	b.ReportMetric(median(starts), "start-ms")
	b.ReportMetric(median(baseStarts), "baseline-start-ms")
	b.ReportMetric(median(starts)/median(baseStarts), "start-ratio")
	b.ReportMetric(median(rss), "idle-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

func goBuild(b *testing.B, dir, out string, args ...string) {
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath", "-ldflags=-s -w"}, args...), "-o", out, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build in %s: %v\n%s", dir, err, msg)
	}
}

// startToReady runs the program, returns the milliseconds from exec to the
// first 2xx of path on port and, for the sidecar, its VmRSS in MB 1 s
// later; it stops the program.
func startToReady(b *testing.B, port int, path string, argv ...string) (float64, float64) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				break
			}
		}
		if time.Since(t0) > 30*time.Second {
			b.Fatalf("%s not ready after 30s", argv[0])
		}
		time.Sleep(time.Millisecond)
	}
	d := float64(time.Since(t0).Microseconds()) / 1000
	if path == "/" {
		return d, 0
	}
	time.Sleep(time.Second) // idle
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return d, 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return d, kb / 1024
		}
	}
	return d, 0
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
