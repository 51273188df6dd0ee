package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetherfn/tether/internal/image"
)

// startFunction is the example whose generated main the start-up figures
// measure, and the function in it.
const (
	startExample  = "examples/hello"
	startFunction = "greet"
)

// bareMain is the baseline: a Go program that serves net/http and nothing
// else, built the same way.
const bareMain = `package main

import (
	"net/http"
	"os"
)

func main() {
	_ = http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) }))
}
`

// startup is the start-up section of the report.
type startup struct {
	Rounds                     int
	FunctionStart, BareStart   stats // ms from exec to the first 2xx
	FunctionRSS, BareRSS       stats // MB resident after 1 s idle
	StartRatio, RSSRatio       stats // function ÷ bare, per round
	FunctionBinary, BareBinary int64 // bytes
	ImagePull, ImageUnpacked   int64 // bytes, from internal/image
	Err, ImageErr              string
}

// measureStartup builds examples/hello's generated main and a bare
// net/http program as tether build compiles (static, stripped), then starts
// each in turn, rounds times, timing exec to the first 2xx of its readiness
// URL (polled every millisecond) and reading its VmRSS after 1 s idle. It
// also builds the function's image with internal/image, written nowhere, for
// its size.
func measureStartup(ctx context.Context, root, tmp string, rounds int, logf func(string, ...any)) startup {
	st := startup{Rounds: rounds}
	fn := filepath.Join(tmp, startFunction)
	bare := filepath.Join(tmp, "bare")
	if err := goBuild(ctx, root, "./"+startExample+"/cmd/"+startFunction, fn); err != nil {
		st.Err = err.Error()
		return st
	}
	src := filepath.Join(tmp, "baresrc")
	if err := os.MkdirAll(src, 0o755); err != nil {
		st.Err = err.Error()
		return st
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module bare\n\ngo 1.22\n"), 0o644); err != nil {
		st.Err = err.Error()
		return st
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(bareMain), 0o644); err != nil {
		st.Err = err.Error()
		return st
	}
	if err := goBuild(ctx, src, ".", bare); err != nil {
		st.Err = err.Error()
		return st
	}
	st.FunctionBinary, st.BareBinary = fileSize(fn), fileSize(bare)

	comps := filepath.Join(root, startExample, "components")
	var fs, bs, fr, br, sr, rr []float64
	for i := range rounds {
		runFn := func() (float64, float64, error) {
			port, err := freePort()
			if err != nil {
				return 0, 0, err
			}
			return startToReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), []string{
				"TETHER_COMPONENTS=" + comps, "TETHER_API_PORT=" + strconv.Itoa(port), "TETHER_LOG_LEVEL=warn",
			}, fn)
		}
		runBare := func() (float64, float64, error) {
			port, err := freePort()
			if err != nil {
				return 0, 0, err
			}
			return startToReady(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port), nil, bare, strconv.Itoa(port))
		}
		var f1, f2, b1, b2 float64
		var err1, err2 error
		if i%2 == 0 { // each first in turn
			f1, f2, err1 = runFn()
			b1, b2, err2 = runBare()
		} else {
			b1, b2, err2 = runBare()
			f1, f2, err1 = runFn()
		}
		if err1 != nil || err2 != nil {
			st.Err = fmt.Sprint(firstErr(err1, err2))
			return st
		}
		fs, fr, bs, br = append(fs, f1), append(fr, f2), append(bs, b1), append(br, b2)
		sr, rr = append(sr, f1/b1), append(rr, f2/b2)
		logf("start-up round %d: function %.1f ms %.1f MB, net/http %.1f ms %.1f MB", i+1, f1, f2, b1, b2)
	}
	st.FunctionStart, st.BareStart, st.FunctionRSS, st.BareRSS = summarize(fs), summarize(bs), summarize(fr), summarize(br)
	st.StartRatio, st.RSSRatio = summarize(sr), summarize(rr)

	res, err := image.Build(ctx, image.Options{Dir: filepath.Join(root, startExample), Functions: []string{startFunction}})
	switch {
	case err != nil:
		st.ImageErr = err.Error()
	case len(res.Images) != 1:
		st.ImageErr = fmt.Sprintf("built %d images, want 1", len(res.Images))
	default:
		st.ImagePull, st.ImageUnpacked = res.Images[0].Size, res.Images[0].Uncompressed
	}
	return st
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// goBuild compiles pkg in dir as tether build does.
func goBuild(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
	}
	return nil
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startToReady runs argv with env added, and returns the milliseconds from
// exec to the first 2xx of url and its VmRSS in MB after 1 s idle; it stops
// the program with SIGTERM.
func startToReady(ctx context.Context, url string, env []string, argv ...string) (float64, float64, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				break
			}
		}
		if time.Since(t0) > 30*time.Second || ctx.Err() != nil {
			return 0, 0, fmt.Errorf("%s: %s not ready after %s\n%s", filepath.Base(argv[0]), url, time.Since(t0).Round(time.Millisecond), stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	ms := float64(time.Since(t0).Microseconds()) / 1000
	time.Sleep(time.Second) // idle
	rss, err := vmRSS(cmd.Process.Pid)
	return ms, rss, err
}

// vmRSS is a process's resident set in MB, from /proc/<pid>/status.
func vmRSS(pid int) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
