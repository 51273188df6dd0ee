// Command bench runs Tether's benchmarks against their baselines and writes
// BENCHMARKS.md at the module root:
//
//	go run ./internal/bench                  # everything: about 3.5 minutes on a quiet machine, 15 on a loaded one, plus 5.5 for the fault suite
//	go run ./internal/bench -quick           # about 1.5 minutes on a quiet machine, indicative only; no fault suite
//	go run ./internal/bench -bindings redis,kafka -out -
//	go run ./internal/bench -bindings faults # the fault suite alone: about 5.5 minutes
//
// It runs every benchmark marked with a //tether:bench line (see
// CONTRIBUTING.md), each in one process of its package's test binary, so
// that a benchmark's alternating rounds of Tether and its baseline see the
// same machine; it reads the results by the naming convention (sub-benchmarks
// "raw" against the others, metrics ending in "ratio"), and adds the start-up
// time, idle memory and image size of a generated function. Last, it runs
// every test that calls faulttest.Run (each broker's fault test), one after
// another and without the race detector, and reads what each variant
// counted from the line faulttest.Run logs (faulttest.ReportPrefix) and its
// verdict from its --- PASS or --- FAIL line: issue 17's "nothing lost"
// target is met only when every batch variant passed and accounted for
// every message sent. -quick leaves the fault suite out (it would more than
// double a quick run, and has nothing to shorten: the target is 10,000
// messages). It is not part of CI: the harness's own test is.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// startupName is the -bindings name of the start-up section (faultsName
// that of the fault section).
const startupName = "startup"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	bindings []string
	quick    bool
	rounds   int
	count    int
	out      string
	verbose  bool
	list     bool
	timeout  time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var c config
	var bindings string
	fl.StringVar(&bindings, "bindings", "", "comma-separated names to run (a package's last element: redis, kafka, trigger, http... or startup, faults); empty: all (-list shows them)")
	fl.BoolVar(&c.quick, "quick", false, "a short run (about 1.5 minutes on a quiet machine, a full one about 3.5 plus 5.5 for the fault suite): each benchmark's quick= -benchtime, 3 rounds, half the count, no fault suite unless -bindings names it")
	fl.IntVar(&c.rounds, "rounds", 0, "rounds of every benchtest.Rounds benchmark and of the start-up measure (0: each benchmark's own; 3 with -quick)")
	fl.IntVar(&c.count, "count", 0, "-count of every benchmark (0: each one's count=)")
	fl.StringVar(&c.out, "out", "", "where to write the report; - for stdout (default BENCHMARKS.md at the module root)")
	fl.BoolVar(&c.verbose, "v", false, "show the benchmarks' and the fault tests' output as they run")
	fl.BoolVar(&c.list, "list", false, "list the benchmarks that would run, and exit")
	fl.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound on each benchmark's run and each fault test's")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./internal/bench [-quick] [-bindings redis,kafka,...] [-rounds n] [-count n] [-out file|-]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if c.rounds < 0 || c.count < 0 {
		return errors.New("-rounds and -count must not be negative")
	}
	for _, b := range strings.Split(bindings, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.bindings = append(c.bindings, b)
		}
	}

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	all, err := discover(root)
	if err != nil {
		return fmt.Errorf("reading the //tether:bench lines: %w", err)
	}
	faultTests, err := discoverFaults(root)
	if err != nil {
		return fmt.Errorf("finding the fault tests: %w", err)
	}
	sel, err := selectSuites(all, c.bindings, c.quick)
	if err != nil {
		return err
	}
	if c.list {
		for _, s := range sel.suites {
			fmt.Fprintf(stdout, "%-10s %s %s\t%s (quick %s, count %d)\n", s.Name(), s.Pkg, s.Bench, s.Benchtime, s.Quick, s.Count)
		}
		if sel.startup {
			fmt.Fprintf(stdout, "%-10s start-up, idle RSS and image size of %s\n", startupName, startExample)
		}
		if sel.faults {
			for _, f := range faultTests {
				fmt.Fprintf(stdout, "%-10s %s %s\tthe fault suite, single and batch functions\n", faultsName, f.Pkg, f.Test)
			}
		}
		return nil
	}

	tmp, err := os.MkdirTemp("", "tether-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }

	rep := report{
		Machine: describeMachine(root), Date: time.Now(), LoadStart: loadAverage(), Quick: c.quick,
		Command: strings.TrimSpace("go run ./internal/bench " + strings.Join(args, " ")),
	}
	start := time.Now()
	built := map[string]string{} // package → test binary
	goCPU := ""
	for _, s := range sel.suites {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res := suiteResult{suite: s, Benchtime: s.Benchtime, Count: s.Count, Rounds: c.rounds}
		if c.quick {
			res.Benchtime, res.Count = s.Quick, max(1, s.Count/2)
			if res.Rounds == 0 {
				res.Rounds = 3
			}
		}
		if c.count > 0 {
			res.Count = c.count
		}
		logf("%s %s: -benchtime %s -count %d (load %s)", s.Pkg, s.Bench, res.Benchtime, res.Count, loadAverage())
		bin, ok := built[s.Pkg]
		if !ok {
			bin = filepath.Join(tmp, strings.ReplaceAll(s.Pkg, "/", "_")+".test")
			if err := buildTest(ctx, root, s.Pkg, bin); err != nil {
				res.Err = err.Error()
				rep.Suites = append(rep.Suites, res)
				logf("%s: %v", s.Pkg, err)
				continue
			}
			built[s.Pkg] = bin
		}
		t0 := time.Now()
		results, err := runBench(ctx, bin, res, c.timeout, c.verbose, stderr, &goCPU)
		res.Elapsed = time.Since(t0)
		if err != nil {
			res.Err = err.Error()
			logf("%s %s failed after %s", s.Pkg, s.Bench, res.Elapsed.Round(time.Second))
		}
		res.Analysis = analyze(results)
		rep.Suites = append(rep.Suites, res)
		logf("%s %s: %d results in %s", s.Pkg, s.Bench, len(results), res.Elapsed.Round(time.Second))
	}
	if sel.startup && ctx.Err() == nil {
		rounds := 7
		if c.quick {
			rounds = 3
		}
		if c.rounds > 0 {
			rounds = c.rounds
		}
		logf("start-up of %s, %d rounds (load %s)", startExample, rounds, loadAverage())
		st := measureStartup(ctx, root, tmp, rounds, logf)
		rep.Startup = &st
	}
	// Last: the fault tests restart brokers and load the machine, which
	// the benchmarks' rates should not see.
	if sel.faults && ctx.Err() == nil {
		sec := runFaults(ctx, root, tmp, faultTests, built, c, stderr, logf)
		rep.Faults = &sec
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rep.Elapsed, rep.LoadEnd = time.Since(start), loadAverage()
	if goCPU != "" && goCPU != rep.Machine.CPU {
		rep.Machine.CPU = goCPU + " (/proc/cpuinfo: " + rep.Machine.CPU + ")"
	}

	text := rep.render()
	if c.out == "-" {
		_, err := io.WriteString(stdout, text)
		return err
	}
	out := c.out
	if out == "" {
		out = filepath.Join(root, "BENCHMARKS.md")
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return err
	}
	logf("wrote %s in %s", out, rep.Elapsed.Round(time.Second))
	return nil
}

// moduleRoot is the folder of Tether's go.mod, from the working directory.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not in a Go module: run it from Tether's clone (go run ./internal/bench)")
	}
	return filepath.Dir(gomod), nil
}

// selection is what a run does: its benchmarks, and whether the start-up
// and fault sections run.
type selection struct {
	suites          []suite
	startup, faults bool
}

// selectSuites keeps the suites -bindings names (all when it names none),
// and says whether the start-up and fault sections run: the fault section
// when named, or in a full run of everything (-quick leaves it out: it
// would more than double a quick run, and has nothing to shorten). An
// unknown name is an error listing the known ones.
func selectSuites(all []suite, names []string, quick bool) (selection, error) {
	if len(names) == 0 {
		return selection{suites: all, startup: true, faults: !quick}, nil
	}
	known := []string{startupName, faultsName}
	for _, s := range all {
		if !slices.Contains(known, s.Name()) {
			known = append(known, s.Name())
		}
	}
	var sel selection
	for _, n := range names {
		if !slices.Contains(known, n) {
			slices.Sort(known)
			return selection{}, fmt.Errorf("-bindings: unknown name %q; known: %s", n, strings.Join(known, ", "))
		}
		sel.startup = sel.startup || n == startupName
		sel.faults = sel.faults || n == faultsName
	}
	for _, s := range all {
		if slices.Contains(names, s.Name()) {
			sel.suites = append(sel.suites, s)
		}
	}
	return sel, nil
}

// buildTest compiles a package's test binary once, so that each of its
// benchmarks runs in a process of its own without linking again.
func buildTest(ctx context.Context, root, pkg, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./"+pkg+"/")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c ./%s/: %v\n%s", pkg, err, tail(out, 20))
	}
	return nil
}

// runBench runs one benchmark in the test binary, in the package's folder as
// go test does, and parses its output.
// The "cpu:" line of its header, the processor's brand as Go reads it, goes
// to *goCPU.
func runBench(ctx context.Context, bin string, s suiteResult, timeout time.Duration, verbose bool, stderr io.Writer, goCPU *string) ([]result, error) {
	var env []string
	if s.Rounds > 0 {
		env = []string{benchtest.RoundsEnv + "=" + strconv.Itoa(s.Rounds)}
	}
	out, err := runTestBinary(ctx, bin, s.Dir, timeout, env, verbose, stderr,
		"-test.run", "^$", "-test.bench", "^"+s.Bench+"$", "-test.benchtime", s.Benchtime, "-test.count", strconv.Itoa(s.Count))
	if cpu := cpuLine(out); cpu != "" {
		*goCPU = cpu
	}
	results, perr := parse(bytes.NewReader(out), gomaxprocs())
	if err != nil {
		return results, fmt.Errorf("%v\n%s", err, tail(out, 30))
	}
	if perr != nil {
		return results, perr
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("no benchmark results\n%s", tail(out, 30))
	}
	return results, nil
}

// runTestBinary runs a package's test binary with args, in the package's
// folder dir as go test does, with env added to the environment and
// -test.timeout set to timeout (and killed a minute past it), and returns
// its output, which it also copies to stderr when verbose.
func runTestBinary(ctx context.Context, bin, dir string, timeout time.Duration, env []string, verbose bool, stderr io.Writer, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "-test.timeout", timeout.String())...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	var w io.Writer = &out
	if verbose {
		w = io.MultiWriter(&out, stderr)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	return out.Bytes(), err
}

// gomaxprocs is the GOMAXPROCS the test binaries run with.
func gomaxprocs() int {
	if n, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && n > 0 {
		return n
	}
	return runtime.NumCPU()
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
