package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// faultsName is the -bindings name of the fault section.
const faultsName = "faults"

// faulttestPkg is the fault suite's package, relative to the module root.
// Its own test checks the harness on 2,000 messages, not a broker: the
// section leaves it out.
const (
	faulttestPkg    = "internal/testkit/faulttest"
	faulttestImport = "github.com/tetherfn/tether/" + faulttestPkg
)

// faultTest is a test that runs the fault suite: a func TestX in a
// _test.go file whose body, or a func literal in it, calls faulttest.Run.
type faultTest struct {
	// Pkg and Dir are as a suite's.
	Pkg, Dir string
	// Test is the function's name.
	Test string
}

// Broker names the binding a fault test checks: the folder below
// bindings/ ("redis" of bindings/redis/internal/fault), else the package.
func (f faultTest) Broker() string {
	if rest, ok := strings.CutPrefix(f.Pkg, "bindings/"); ok {
		broker, _, _ := strings.Cut(rest, "/")
		return broker
	}
	return f.Pkg
}

// Reproduce is the one command that runs the fault test alone, as the
// harness runs it.
func (f faultTest) Reproduce() string {
	return fmt.Sprintf("go test -count=1 -run '^%s$' -v ./%s/", f.Test, f.Pkg)
}

// discoverFaults finds the tests that call faulttest.Run under root,
// sorted by package and name. A call outside a TestX function is an
// error: the harness could not tell which test to run, and would leave a
// broker out unnoticed.
func discoverFaults(root string) ([]faultTest, error) {
	var tests []faultTest
	var errs []error
	err := walkTestFiles(root, func(p string, src []byte) {
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		if rel == faulttestPkg || !bytes.Contains(src, []byte(strconv.Quote(faulttestImport))) {
			return
		}
		names, ferrs := faultTestsIn(p, src)
		errs = append(errs, ferrs...)
		for _, n := range names {
			tests = append(tests, faultTest{Pkg: rel, Dir: filepath.Dir(p), Test: n})
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(tests, func(a, b faultTest) int { return strings.Compare(a.Pkg+" "+a.Test, b.Pkg+" "+b.Test) })
	return tests, errors.Join(errs...)
}

// faultTestsIn names the test functions of a file that call faulttest.Run,
// under whatever name the file imports it.
func faultTestsIn(file string, src []byte) ([]string, []error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, []error{err}
	}
	local := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == faulttestImport {
			local = path.Base(p)
			if imp.Name != nil {
				local = imp.Name.Name
			}
		}
	}
	var names []string
	var errs []error
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		call := findCall(fn.Body, local, "Run")
		switch {
		case call == nil:
		case fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test"):
			names = append(names, fn.Name.Name)
		default:
			errs = append(errs, fmt.Errorf("%s: %s.Run called in %s, not in a test function: the report could not run it", fset.Position(call.Pos()), local, fn.Name.Name))
		}
	}
	return names, errs
}

// findCall returns the first call of pkg.name in n, or nil.
func findCall(n ast.Node, pkg, name string) *ast.CallExpr {
	var found *ast.CallExpr
	ast.Inspect(n, func(n ast.Node) bool {
		if found != nil {
			return false
		}
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
					found = call
				}
			}
		}
		return true
	})
	return found
}

// faultRun is one fault test's run.
type faultRun struct {
	faultTest
	// Verdict is the test's: "PASS", "FAIL", "SKIP", or "" when it printed
	// none (the binary failed to build, or timed out).
	Verdict  string
	Variants []faultVariant
	// Elapsed is zero when the test did not start (its binary did not
	// build).
	Elapsed time.Duration
	// Err is set when the run failed: its error and the output's tail.
	Err string
}

// status is the test's verdict in words, or why it has none.
func (r faultRun) status() string {
	if r.Verdict == "" && r.Elapsed == 0 {
		return "did not run"
	}
	return verdictWord(r.Verdict)
}

// took is how long the test ran, or "—" when it did not start.
func (r faultRun) took() string {
	if r.Elapsed == 0 {
		return "—"
	}
	return r.Elapsed.Round(time.Second).String()
}

// faultVariant is one function run through the faults: a subtest that
// faulttest.Variants names "single" or "batch" (Kafka's are one level
// deeper: TestFaults/ordered=true/batch).
type faultVariant struct {
	// Test is the subtest's full name.
	Test  string
	Batch bool
	// Verdict is as faultRun's.
	Verdict string
	Elapsed time.Duration
	// Report is the one the variant logged; nil when it ended before.
	Report *faulttest.Report
}

// lostNothing says whether the variant passed and accounted for every
// message it sent.
func (v faultVariant) lostNothing() bool {
	return v.Verdict == "PASS" && v.Report != nil && v.Report.Sent > 0 && v.Report.Accounted() == v.Report.Sent
}

// outcome says in a few words how the variant ended, for the target row.
func (v faultVariant) outcome() string {
	verdict := verdictWord(v.Verdict)
	if v.Report == nil {
		return verdict + " before its count"
	}
	return fmt.Sprintf("%s, %s of %s accounted for", verdict, group(int64(v.Report.Accounted())), group(int64(v.Report.Sent)))
}

// verdictWord is a test's verdict in the report's words.
func verdictWord(v string) string {
	switch v {
	case "PASS":
		return "passed"
	case "FAIL":
		return "failed"
	case "SKIP":
		return "skipped"
	}
	return "did not finish"
}

var (
	runLine     = regexp.MustCompile(`^=== RUN\s+(\S+)$`)
	verdictLine = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): (\S+) \(([0-9.]+)s\)$`)
)

// parseFaults reads the -v output of a fault test named top: its verdict,
// and each variant's (a subtest whose last element is "single" or "batch",
// in the order they started) with the report it logged (the line after
// faulttest.ReportPrefix, which names its test, as the log lines of
// parallel subtests interleave).
func parseFaults(r io.Reader, top string) (string, []faultVariant, error) {
	var variants []faultVariant
	index := map[string]int{}
	variant := func(name string) *faultVariant {
		if i, ok := index[name]; ok {
			return &variants[i]
		}
		index[name] = len(variants)
		variants = append(variants, faultVariant{Test: name, Batch: path.Base(name) == "batch"})
		return &variants[len(variants)-1]
	}
	isVariant := func(name string) bool {
		leaf := path.Base(name)
		return strings.HasPrefix(name, top+"/") && (leaf == "single" || leaf == "batch")
	}
	verdict := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := runLine.FindStringSubmatch(line); m != nil && isVariant(m[1]) {
			variant(m[1])
		}
		if m := verdictLine.FindStringSubmatch(line); m != nil {
			secs, _ := strconv.ParseFloat(m[3], 64)
			switch {
			case m[2] == top:
				verdict = m[1]
			case isVariant(m[2]):
				v := variant(m[2])
				v.Verdict, v.Elapsed = m[1], time.Duration(secs*float64(time.Second))
			}
		}
		logged, ok, err := faulttest.ParseLogged(line)
		if err != nil {
			return verdict, variants, err
		}
		if ok {
			v := variant(logged.Test)
			v.Batch, v.Report = logged.Batch, &logged.Report
		}
	}
	return verdict, variants, sc.Err()
}

// runFaultTest runs one fault test in its package's test binary, in the
// package's folder as go test does, bounded by timeout.
func runFaultTest(ctx context.Context, bin string, f faultTest, timeout time.Duration, verbose bool, stderr io.Writer) faultRun {
	run := faultRun{faultTest: f}
	t0 := time.Now()
	out, err := runTestBinary(ctx, bin, f.Dir, timeout, nil, verbose, stderr, "-test.run", "^"+f.Test+"$", "-test.count", "1", "-test.v")
	run.Elapsed = time.Since(t0)
	verdict, variants, perr := parseFaults(bytes.NewReader(out), f.Test)
	run.Verdict, run.Variants = verdict, variants
	switch {
	case err != nil:
		run.Err = fmt.Sprintf("%v\n%s", err, tail(out, 30))
	case perr != nil:
		run.Err = perr.Error()
	case verdict == "":
		run.Err = fmt.Sprintf("no --- line of %s in the output\n%s", f.Test, tail(out, 30))
	}
	return run
}

// faultSection is the report's section on the fault suite.
type faultSection struct {
	Runs []faultRun
}

// runFaults runs the fault tests one after another: each kills and
// restarts processes and brokers, and two at once would only share the
// CPU. Test binaries already built for the benchmarks are reused.
func runFaults(ctx context.Context, root, tmp string, tests []faultTest, built map[string]string, c config, stderr io.Writer, logf func(string, ...any)) faultSection {
	var sec faultSection
	for _, f := range tests {
		if ctx.Err() != nil {
			break
		}
		logf("fault suite: %s %s (load %s)", f.Pkg, f.Test, loadAverage())
		bin, ok := built[f.Pkg]
		if !ok {
			bin = filepath.Join(tmp, strings.ReplaceAll(f.Pkg, "/", "_")+".test")
			if err := buildTest(ctx, root, f.Pkg, bin); err != nil {
				sec.Runs = append(sec.Runs, faultRun{faultTest: f, Err: err.Error()})
				logf("%s: %v", f.Pkg, err)
				continue
			}
			built[f.Pkg] = bin
		}
		run := runFaultTest(ctx, bin, f, c.timeout, c.verbose, stderr)
		sec.Runs = append(sec.Runs, run)
		logf("fault suite: %s %s: %s in %s", f.Pkg, f.Test, verdictWord(run.Verdict), run.Elapsed.Round(time.Second))
	}
	return sec
}

// faultsAim is the aim column of the "nothing lost" target.
const faultsAim = "every batch variant passes, delivered + dead-lettered = sent"

// faultsTargetRow is the "nothing lost" target's row, "measured | aim |
// verdict": met only when every fault test ran a batch variant and each
// passed and accounted for every message it sent; never met without a run.
func (r report) faultsTargetRow() string {
	if r.Faults == nil {
		why := "not run: `go run ./internal/bench -bindings faults` runs the fault suite"
		if r.Quick {
			why = "not run: -quick leaves the fault suite out; `go run ./internal/bench -bindings faults` runs it"
		}
		return why + " | " + faultsAim + " | not run"
	}
	var failed, brokers []string // brokers: one per batch variant
	sent := map[int]bool{}
	for _, run := range r.Faults.Runs {
		batches := 0
		for _, v := range run.Variants {
			if !v.Batch {
				continue
			}
			batches++
			brokers = append(brokers, run.Broker())
			if !v.lostNothing() {
				failed = append(failed, fmt.Sprintf("%s %s %s", run.Broker(), rel(v.Test), v.outcome()))
			} else {
				sent[v.Report.Sent] = true
			}
		}
		if batches == 0 {
			failed = append(failed, fmt.Sprintf("%s: no batch variant ran (%s %s)", run.Broker(), run.Test, run.status()))
		}
	}
	if len(r.Faults.Runs) == 0 {
		failed = append(failed, "no test calls faulttest.Run")
	}
	if len(failed) > 0 {
		return mdEscape(strings.Join(failed, "; ")) + " | " + faultsAim + " | not met"
	}
	each := "each accounted for every message it sent"
	if len(sent) == 1 {
		for n := range sent {
			each = fmt.Sprintf("%s of %s accounted for in each", group(int64(n)), group(int64(n)))
		}
	}
	return fmt.Sprintf("%d batch runs on %s: all passed, %s | %s | met", len(brokers), countedList(brokers), each, faultsAim)
}

// countedList joins names in order, each once, with how many times it
// came when more than once: "kafka (2), mqtt".
func countedList(names []string) string {
	var order []string
	n := map[string]int{}
	for _, s := range names {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	for i, s := range order {
		if n[s] > 1 {
			order[i] = fmt.Sprintf("%s (%d)", s, n[s])
		}
	}
	return strings.Join(order, ", ")
}

// render writes the fault section.
func (s faultSection) render(p func(string, ...any)) {
	p("## Fault suite: nothing lost\n\n")
	p("Each broker's fault test (`internal/testkit/faulttest`) sends 10,000 messages through a function process, ")
	p("SIGKILLs and restarts it at a quarter, restarts the broker (or cuts it off) at half, and stops the process with SIGTERM at three quarters. ")
	p("Every hundredth message is poison and must be dead-lettered; three in a hundred fail their first attempt (an error, a panic, an overrun handlerTimeout) and must be delivered by a retry. ")
	p("The batch variant runs a batch function, whose panics and overruns fail whole batches. ")
	p("Accounted for counts the distinct messages delivered or dead-lettered (delivered + dead-lettered − both): nothing was lost when it equals sent. ")
	p("Duplicates are counted, and allowed: delivery is at least once. The test's verdict checks more (every poison message dead-lettered, none both delivered and dead-lettered, every failed first attempt delivered by a retry). ")
	p("The tests ran one after another, without the race detector.\n\n")
	if len(s.Runs) == 0 {
		p("No test calls `faulttest.Run`.\n\n")
		return
	}
	p("| broker | variant | sent | delivered | dead-lettered | accounted for | duplicates: deliveries, dead letters, both | whole batches failed: panics, overruns | test | took |\n")
	p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, run := range s.Runs {
		if len(run.Variants) == 0 {
			p("| %s | — | | | | | | | %s | %s |\n", run.Broker(), run.status(), run.took())
		}
		for _, v := range run.Variants {
			took := "—" // the test printed no verdict, nor its time
			if v.Verdict != "" {
				took = v.Elapsed.Round(100 * time.Millisecond).String()
			}
			p("| %s | %s | %s | %s |\n", run.Broker(), mdEscape(rel(v.Test)), v.counts(), took)
		}
	}
	p("\nReproduce each (the time is the whole test's, its variants in parallel or in turn):\n\n")
	for _, run := range s.Runs {
		took := "took " + run.took()
		if run.Elapsed == 0 {
			took = run.status()
		}
		p("- %s: `%s` (%s)\n", run.Broker(), run.Reproduce(), took)
	}
	p("\n")
	for _, run := range s.Runs {
		if run.Err != "" {
			p("**%s failed**:\n\n```\n%s\n```\n\n", run.Pkg, run.Err)
		}
	}
}

// counts are a variant's columns from sent to the test's verdict.
func (v faultVariant) counts() string {
	verdict := verdictWord(v.Verdict)
	r := v.Report
	if r == nil {
		return "| | | | | | " + verdict
	}
	n := func(i int) string { return group(int64(i)) }
	batches := "—"
	if v.Batch {
		batches = n(r.BatchPanics) + ", " + n(r.BatchTimeouts)
	}
	return strings.Join([]string{n(r.Sent), n(r.Delivered), n(r.DeadLettered), n(r.Accounted()),
		n(r.DuplicateDeliveries) + ", " + n(r.DuplicateDeadLetters) + ", " + n(r.Both), batches, verdict}, " | ")
}
