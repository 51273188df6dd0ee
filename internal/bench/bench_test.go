package main

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.md")

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want stats
	}{
		{nil, stats{}},
		{[]float64{2}, stats{Median: 2, Min: 2, Max: 2, N: 1}},
		{[]float64{3, 1, 2}, stats{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, stats{Median: 2.5, Min: 1, Max: 4, N: 4}},
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		line  string
		procs int
		name  string
		ok    bool
	}{
		{"BenchmarkTrigger/raw#01-2   20000  10000 ns/op  100000 msgs/s", 2, "BenchmarkTrigger/raw", true},
		{"BenchmarkTrigger/raw#12/x#03-8   1  1 ns/op", 8, "BenchmarkTrigger/raw/x", true},
		// GOMAXPROCS 1: no suffix, so a name ending in -4 keeps it.
		{"BenchmarkRaw/maxConcurrency-4   1  1 ns/op", 1, "BenchmarkRaw/maxConcurrency-4", true},
		{"--- BENCH: BenchmarkTrigger-2", 2, "", false},
		{"    benchtest.go:52: median msgs/s over 3 rounds", 2, "", false},
		{"BenchmarkX-2  notanumber  1 ns/op", 2, "", false},
		{"ok  	github.com/tetherfn/tether/bindings/redis	12.345s", 2, "", false},
	} {
		r, ok := parseLine(c.line, c.procs)
		if ok != c.ok || r.Name != c.name {
			t.Errorf("parseLine(%q) = %q, %v; want %q, %v", c.line, r.Name, ok, c.name, c.ok)
		}
	}
}

func TestCleanName(t *testing.T) {
	for _, c := range []struct{ in, name, rep string }{
		{"BenchmarkTrigger/raw#01-2", "BenchmarkTrigger/raw", "0/1"},
		{"BenchmarkTrigger/batch#02/tether-2", "BenchmarkTrigger/batch/tether", "0/2/0"},
		{"BenchmarkRatio-2", "BenchmarkRatio", "0"},
	} {
		if name, rep := cleanName(c.in, 2); name != c.name || rep != c.rep {
			t.Errorf("cleanName(%q) = %q, %q; want %q, %q", c.in, name, rep, c.name, c.rep)
		}
	}
}

func readResults(t *testing.T) []result {
	t.Helper()
	f, err := os.Open("testdata/rounds.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parse(f, 2)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAnalyzePairsRatiosAndFigures(t *testing.T) {
	a := analyze(readResults(t))
	byID := map[string]ratio{}
	for _, r := range a.Ratios {
		byID[r.ID] = r
	}
	// Rounds: tether/raw = 0.4, (raw failed), 0.5: the failed round is
	// left out, the third is not paired with the second.
	tr, ok := byID["BenchmarkTrigger/tether vs raw"]
	if !ok {
		t.Fatalf("no tether vs raw in %+v", a.Ratios)
	}
	if want := (stats{Median: 0.45, Min: 0.4, Max: 0.5, N: 2}); tr.Stats != want {
		t.Errorf("tether vs raw: %+v, want %+v", tr.Stats, want)
	}
	if tr.Candidate.Stats.Median != 50000 || tr.Candidate.Stats.N != 3 || tr.Baseline.Stats.Median != 100000 || tr.Baseline.Stats.N != 2 || tr.Candidate.Unit != "msgs/s" {
		t.Errorf("tether vs raw figures: %+v / %+v", tr.Candidate, tr.Baseline)
	}
	if _, ok := byID["BenchmarkTrigger/driver vs raw"]; !ok {
		t.Error("no driver vs raw")
	}
	// No raw: the first sub-benchmark is the baseline.
	if bs := byID["BenchmarkBatchSize/batch-100 vs batch-10"].Stats; bs != (stats{Median: 2.5, Min: 2, Max: 3, N: 2}) {
		t.Errorf("batch-100 vs batch-10: %+v", bs)
	}
	// The figures of a benchmark that wrote to stdout while it ran.
	if hop := byID["BenchmarkHop:p50-ratio"].Stats; hop != (stats{Median: 1.024, Min: 1.024, Max: 1.024, N: 1}) {
		t.Errorf("BenchmarkHop:p50-ratio: %+v", hop)
	}
	// A ratio with its own rounds' range beside it.
	if br := byID["BenchmarkBatchRatio:batch/bare-ratio"].Stats; br != (stats{Median: 1.2, Min: 0.9, Max: 1.5, N: 1}) {
		t.Errorf("BenchmarkBatchRatio: %+v", br)
	}
	wh, ok := byID["BenchmarkWebhook/clients=16:ratio"]
	if !ok {
		t.Fatalf("no webhook ratio in %+v", a.Ratios)
	}
	if wh.Stats.Min != 0.8 || wh.Stats.Max != 0.9 || wh.Stats.N != 2 {
		t.Errorf("webhook ratio: %+v", wh.Stats)
	}
	var figures []string
	for _, f := range a.Figures {
		figures = append(figures, f.Name+" "+f.Unit)
	}
	want := "BenchmarkWebhook/clients=16 net-http-req/s,BenchmarkWebhook/clients=16 tether-req/s," +
		"BenchmarkRatio fixed-ns/event,BenchmarkRatio extra-allocs/event," +
		"BenchmarkConcurrency noop-c1-msgs/s,BenchmarkConcurrency noop-c4-msgs/s,BenchmarkConcurrency noop-c16-msgs/s,BenchmarkConcurrency waits1ms-c1-msgs/s," +
		"BenchmarkHop baseline-calls/s,BenchmarkHop baseline-p50-µs,BenchmarkHop tether-calls/s,BenchmarkHop tether-p50-µs," +
		"BenchmarkBatchRatio batch-events/s"
	if got := strings.Join(figures, ","); got != want {
		t.Errorf("figures:\n got %s\nwant %s", got, want)
	}
}

func TestDiscover(t *testing.T) {
	suites, err := discover(filepath.Join("testdata", "good"))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) != 2 {
		t.Fatalf("found %d suites, want 2: %+v", len(suites), suites)
	}
	s := suites[1]
	if s.Pkg != "bindings/fake" || s.Bench != "BenchmarkTrigger" || s.Benchtime != "1000x" || s.Quick != "100x" || s.Count != 1 || s.Name() != "fake" {
		t.Errorf("BenchmarkTrigger: %+v", s)
	}
	if s.Synopsis != "BenchmarkTrigger compares a raw loop with Tether." {
		t.Errorf("synopsis %q", s.Synopsis)
	}
	if r := suites[0]; r.Bench != "BenchmarkRatio" || r.Count != 7 || r.Quick != "1x" {
		t.Errorf("BenchmarkRatio: %+v", r)
	}
}

// TestDiscoverReportsEveryBadDirective: each with its file:line.
func TestDiscoverReportsEveryBadDirective(t *testing.T) {
	_, err := discover(filepath.Join("testdata", "bad"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"bench_test.go:7: benchtime is required",
		`bench_test.go:12: unknown key "rounds"`,
		"bench_test.go:17: //tether:bench on TestNotABenchmark, which is not a benchmark",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestRepositoryDirectivesParse keeps the marks in this module valid: a
// broken one would fail the report only when someone runs it.
func TestRepositoryDirectivesParse(t *testing.T) {
	suites, err := discover(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if len(suites) == 0 {
		t.Fatal("no //tether:bench benchmark in the module")
	}
}

func TestSelectSuites(t *testing.T) {
	all := []suite{{Pkg: "bindings/redis", Bench: "BenchmarkTrigger"}, {Pkg: "trigger", Bench: "BenchmarkRatio"}}
	sel, err := selectSuites(all, []string{"redis"}, false)
	if err != nil || len(sel.suites) != 1 || sel.suites[0].Pkg != "bindings/redis" || sel.startup || sel.faults {
		t.Errorf("redis: %+v %v", sel, err)
	}
	if sel, _ := selectSuites(all, nil, false); len(sel.suites) != 2 || !sel.startup || !sel.faults {
		t.Errorf("all: %+v", sel)
	}
	// -quick leaves the fault suite out, unless named.
	if sel, _ := selectSuites(all, nil, true); len(sel.suites) != 2 || !sel.startup || sel.faults {
		t.Errorf("all, quick: %+v", sel)
	}
	if sel, _ := selectSuites(all, []string{"faults"}, true); len(sel.suites) != 0 || sel.startup || !sel.faults {
		t.Errorf("faults, quick: %+v", sel)
	}
	if _, err := selectSuites(all, []string{"redsi"}, false); err == nil || !strings.Contains(err.Error(), "known: faults, redis, startup, trigger") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"BenchmarkTrigger/tether vs raw*", "BenchmarkTrigger/tether vs raw", true},
		{"BenchmarkTrigger/tether vs raw*", "BenchmarkTrigger/tether vs raw-multi", true},
		{"BenchmarkTrigger/tether vs raw*", "BenchmarkTrigger/batch/tether vs raw", false},
		{"*batch* vs raw*", "BenchmarkTrigger/batch/tether vs raw-batch", true},
		{"BenchmarkRatio:ratio", "BenchmarkRatio:ratio", true},
		{"BenchmarkRatio:ratio", "BenchmarkRatioTraced:ratio", false},
	} {
		if got := match(c.pattern, c.name); got != c.want {
			t.Errorf("match(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

func TestReproduce(t *testing.T) {
	s := suiteResult{suite: suite{Pkg: "bindings/redis", Bench: "BenchmarkTrigger"}, Benchtime: "20000x", Count: 1, Rounds: 3,
		Analysis: analysis{Ratios: []ratio{{Stats: stats{N: 3}, Candidate: figure{Unit: "msgs/s"}}}}}
	if got, want := s.Reproduce(), "TETHER_BENCH_ROUNDS=3 go test -run '^$' -bench '^BenchmarkTrigger$' -benchtime 20000x ./bindings/redis/"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	s = suiteResult{suite: suite{Pkg: "trigger", Bench: "BenchmarkRatio"}, Benchtime: "1x", Count: 7, Rounds: 3}
	if got, want := s.Reproduce(), "go test -run '^$' -bench '^BenchmarkRatio$' -benchtime 1x -count 7 ./trigger/"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestRender checks the whole page against testdata/report.golden.md
// (go test -run TestRender -update ./internal/bench/ rewrites it).
func TestRender(t *testing.T) {
	res := readResults(t)
	a := analyze(res)
	r := report{
		Machine:   machine{CPU: "Test CPU", Cores: 2, GoVersion: "go1.26 linux/amd64", Commit: "abc1234 a change | with a bar"},
		Date:      time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC),
		LoadStart: "18.00 15.00 12.00", LoadEnd: "20.00 16.00 13.00",
		Command: "go run ./internal/bench", Elapsed: 754 * time.Second,
		Suites: []suiteResult{
			{suite: suite{Pkg: "bindings/redis", Bench: "BenchmarkTrigger", Synopsis: "BenchmarkTrigger compares."}, Benchtime: "20000x", Count: 1, Rounds: 3, Analysis: a, Elapsed: 12 * time.Second},
			{suite: suite{Pkg: "bindings/kafka", Bench: "BenchmarkTrigger"}, Benchtime: "1000x", Count: 1, Err: "exit status 1\nFAIL"},
		},
		Startup: &startup{Rounds: 3,
			FunctionStart: stats{Median: 12, Min: 10, Max: 20, N: 3}, BareStart: stats{Median: 3, Min: 2, Max: 4, N: 3},
			FunctionRSS: stats{Median: 14.2, Min: 14, Max: 15, N: 3}, BareRSS: stats{Median: 6.1, Min: 6, Max: 6.5, N: 3},
			StartRatio: stats{Median: 4, Min: 3, Max: 5, N: 3}, RSSRatio: stats{Median: 2.3, Min: 2.2, Max: 2.4, N: 3},
			FunctionBinary: 9_500_000, BareBinary: 5_000_000, ImagePull: 4_200_000, ImageUnpacked: 9_700_000},
	}
	// The Concurrency figures are in trigger's package for the target table.
	r.Suites = append(r.Suites, suiteResult{suite: suite{Pkg: "trigger", Bench: "BenchmarkConcurrency"}, Benchtime: "5x", Count: 1,
		Analysis: analyze(slices.DeleteFunc(slices.Clone(res), func(r result) bool { return r.Name != "BenchmarkConcurrency" && r.Name != "BenchmarkRatio" }))})
	// The fault section: one broker that passed, one that lost messages,
	// one whose test timed out, one that did not build.
	lost, timedOut := readFaults(t, "redis-lost.txt", "TestFault"), readFaults(t, "nats-timeout.txt", "TestFault")
	lost.Pkg, timedOut.Pkg = "bindings/postgres/internal/fault", "bindings/nats/internal/fault"
	lost.Err = "exit status 1\n--- FAIL: TestFault/batch (9.35s)\nFAIL"
	timedOut.Err = "exit status 2\npanic: test timed out after 15m0s"
	broken := faultRun{faultTest: faultTest{Pkg: "bindings/sqs", Test: "TestFault"}, Err: "go test -c ./bindings/sqs/: exit status 1"}
	r.Faults = &faultSection{Runs: []faultRun{readFaults(t, "kafka.txt", "TestFaults"), lost, timedOut, broken}}
	got := r.render()
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("render differs from %s (run with -update and review the diff):\n%s", golden, got)
	}
	for _, s := range []string{
		"| Redis Streams, single-message handler vs raw read/ack-per-batch loop | tether ÷ raw: 0.45× (0.40–0.50×) | >= 0.50× | not met |",
		"| Kafka, single-message trigger vs franz-go poll loop | not yet: no benchmark on main reports it",
		"| No-op throughput at maxConcurrency 1, 4, 16, 64: rising until CPU-bound | noop-c1 200,000 msgs/s; noop-c4 250,000 msgs/s; noop-c16 240,000 msgs/s | rising | met |",
		`abc1234 a change \| with a bar`,
		"| Memory trigger: fixed cost per message (its time per message less the channel loop's) | 450.0 fixed-ns/event (one sample) | <= 500.0 fixed-ns/event | met |",
		"| Memory trigger: allocations per message beyond the decode (one of them the memory queue's entry for the message) | 2.05 extra-allocs/event (one sample) | <= 2.00 extra-allocs/event | not met |",
		"| Nothing lost: the fault suite passes with batch handlers on every broker (10,000 messages, every fault, delivered + dead-lettered = sent) | " +
			"postgres batch failed, 9,998 of 10,000 accounted for; nats batch did not finish before its count; sqs: no batch variant ran (TestFault did not run) | " + faultsAim + " | not met |",
		"| kafka | ordered=true/batch | 10,000 | 9,900 | 100 | 10,000 | 775, 7, 0 | 83, 13 | passed | 28.3s |",
		"| postgres | batch | 10,000 | 9,898 | 100 | 9,998 | 0, 0, 0 | 40, 9 | failed | 9.4s |",
		"| nats | batch | | | | | | | did not finish | — |",
		"| sqs | — | | | | | | | did not run | — |",
		"- kafka: `go test -count=1 -run '^TestFaults$' -v ./bindings/kafka/` (took 20s)",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}

func TestRatioBesideItsAim(t *testing.T) {
	for _, c := range []struct {
		v, aim float64
		want   string
	}{
		{0.798, 0.8, "0.798×"},
		{0.7996, 0.8, "0.7996×"},
		{0.7999999999999999, 0.8, "0.80000×"},
		{0.8031, 0.8, "0.803×"},
		{0.8, 0.8, "0.80×"},
		{0.79, 0.8, "0.79×"},
		{0.95, 0.9, "0.95×"},
	} {
		if got := fmtRatioBeside(c.v, c.aim); got != c.want {
			t.Errorf("fmtRatioBeside(%v, %v) = %q, want %q", c.v, c.aim, got, c.want)
		}
	}
}
