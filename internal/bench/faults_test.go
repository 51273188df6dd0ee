package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDiscoverFaults(t *testing.T) {
	tests, err := discoverFaults(filepath.Join("testdata", "good"))
	if err != nil {
		t.Fatal(err)
	}
	// The aliased call in a func literal is found; TestOther calls no Run,
	// and the fault suite's own package is left out.
	if len(tests) != 1 {
		t.Fatalf("found %d fault tests, want 1: %+v", len(tests), tests)
	}
	f := tests[0]
	if f.Pkg != "bindings/fake/internal/fault" || f.Test != "TestFaults" || f.Broker() != "fake" {
		t.Errorf("%+v", f)
	}
	if got, want := f.Reproduce(), "go test -count=1 -run '^TestFaults$' -v ./bindings/fake/internal/fault/"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestDiscoverFaultsRefusesAHiddenCall: a call outside a test function
// would leave its broker out of the report unnoticed.
func TestDiscoverFaultsRefusesAHiddenCall(t *testing.T) {
	_, err := discoverFaults(filepath.Join("testdata", "bad"))
	if err == nil || !strings.Contains(err.Error(), "fault_test.go:13:2: faulttest.Run called in runFaults, not in a test function") {
		t.Errorf("got %v", err)
	}
}

// TestRepositoryFaultTests keeps the discovery in step with the module:
// every broker's fault test is found, by its own name.
func TestRepositoryFaultTests(t *testing.T) {
	tests, err := discoverFaults(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, f := range tests {
		found[f.Pkg] = f.Test
	}
	for pkg, test := range map[string]string{"bindings/redis/internal/fault": "TestFault", "bindings/mqtt/internal/fault": "TestFault",
		"bindings/sqs": "TestFault", "bindings/kafka": "TestFaults"} {
		if found[pkg] != test {
			t.Errorf("%s: found %q, want %s", pkg, found[pkg], test)
		}
	}
	if _, ok := found[faulttestPkg]; ok {
		t.Errorf("the fault suite's own test is in: %+v", tests)
	}
}

// readFaults parses a captured -v output of a fault test (testdata/faults).
func readFaults(t *testing.T, name, top string) faultRun {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "faults", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := faultRun{faultTest: faultTest{Pkg: "bindings/" + strings.TrimSuffix(name, ".txt"), Test: top}, Elapsed: 20 * time.Second}
	run.Verdict, run.Variants, err = parseFaults(f, top)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func TestParseFaults(t *testing.T) {
	run := readFaults(t, "redis.txt", "TestFault")
	if run.Verdict != "PASS" || len(run.Variants) != 2 {
		t.Fatalf("%+v", run)
	}
	single, batch := run.Variants[0], run.Variants[1]
	if single.Test != "TestFault/single" || single.Batch || single.Verdict != "PASS" || single.Report == nil || single.Report.Sent != 10000 {
		t.Errorf("single: %+v", single)
	}
	if batch.Test != "TestFault/batch" || !batch.Batch || batch.Verdict != "PASS" || batch.Report == nil || !batch.lostNothing() {
		t.Errorf("batch: %+v", batch)
	}
	if r := batch.Report; r.Delivered+r.DeadLettered != 10000 || r.DeadLettered != 100 || r.BatchPanics == 0 || r.BatchTimeouts == 0 {
		t.Errorf("batch report: %+v", r)
	}

	// Kafka's variants are one level deeper, two of each.
	kafka := readFaults(t, "kafka.txt", "TestFaults")
	var names []string
	for _, v := range kafka.Variants {
		if v.Verdict != "PASS" || v.Report == nil || v.Batch != strings.HasSuffix(v.Test, "/batch") {
			t.Errorf("%+v", v)
		}
		names = append(names, v.Test)
	}
	if got := strings.Join(names, ","); strings.Count(got, "/batch") != 2 || strings.Count(got, "/single") != 2 || !strings.Contains(got, "TestFaults/ordered=true/batch") {
		t.Errorf("kafka variants: %s", got)
	}
}

// TestParseFaultsFailed reads a run whose batch variant lost two messages
// (an edited capture): failed, with its count; and one that timed out
// before its batch variant logged a report.
func TestParseFaultsFailed(t *testing.T) {
	lost := readFaults(t, "redis-lost.txt", "TestFault")
	if lost.Verdict != "FAIL" || len(lost.Variants) != 2 {
		t.Fatalf("%+v", lost)
	}
	if b := lost.Variants[1]; b.Verdict != "FAIL" || b.Report == nil || b.Report.Accounted() != 9998 || b.lostNothing() {
		t.Errorf("batch: %+v", b)
	}
	if got, want := lost.Variants[1].outcome(), "failed, 9,998 of 10,000 accounted for"; got != want {
		t.Errorf("outcome %q, want %q", got, want)
	}
	timedOut := readFaults(t, "nats-timeout.txt", "TestFault")
	if timedOut.Verdict != "" || len(timedOut.Variants) != 2 {
		t.Fatalf("%+v", timedOut)
	}
	if b := timedOut.Variants[1]; b.Verdict != "" || b.Report != nil || b.outcome() != "did not finish before its count" {
		t.Errorf("batch: %+v", b)
	}
}

func TestFaultsTargetRow(t *testing.T) {
	redis, kafka := readFaults(t, "redis.txt", "TestFault"), readFaults(t, "kafka.txt", "TestFaults")
	row := func(r report) string {
		t.Helper()
		return r.faultsTargetRow()
	}
	if got, want := row(report{Faults: &faultSection{Runs: []faultRun{redis, kafka}}}),
		"3 batch runs on redis, kafka (2): all passed, 10,000 of 10,000 accounted for in each | "+faultsAim+" | met"; got != want {
		t.Errorf("met:\n got %s\nwant %s", got, want)
	}

	lost := readFaults(t, "redis-lost.txt", "TestFault")
	lost.Pkg = "bindings/nats/internal/fault"
	skipped := faultRun{faultTest: faultTest{Pkg: "bindings/rabbitmq/internal/fault", Test: "TestFault"}, Verdict: "SKIP"}
	if got, want := row(report{Faults: &faultSection{Runs: []faultRun{redis, lost, skipped}}}),
		"nats batch failed, 9,998 of 10,000 accounted for; rabbitmq: no batch variant ran (TestFault skipped) | "+faultsAim+" | not met"; got != want {
		t.Errorf("not met:\n got %s\nwant %s", got, want)
	}
	if got := row(report{Faults: &faultSection{}}); !strings.HasSuffix(got, "| not met") {
		t.Errorf("no fault test: %s", got)
	}

	// Never met without a run.
	for _, r := range []report{{}, {Quick: true}} {
		if got := row(r); !strings.HasPrefix(got, "not run: ") || !strings.HasSuffix(got, "| not run") {
			t.Errorf("not run: %s", got)
		}
	}
}
