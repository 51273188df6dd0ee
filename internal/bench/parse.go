package main

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// result is one line of `go test -bench` output: a benchmark's name and the
// metrics of one run of it, in the order they were printed.
type result struct {
	// Name is the full name without the -GOMAXPROCS suffix and without the
	// #NN the testing package adds to a repeated sub-benchmark name, so that
	// every round of BenchmarkTrigger/raw has the same Name.
	Name string
	// Rep is the NN of each element's #NN ("0/3"): the testing package
	// numbers each repeat of a sub-benchmark's name, so siblings with the
	// same Rep ran in the same round of a benchtest.Rounds run, and a round
	// whose run failed leaves a gap instead of shifting the rounds after it.
	Rep     string
	N       int
	Metrics []metric
}

type metric struct {
	Value float64
	Unit  string
}

// value returns the metric of that unit, if the line has one.
func (r result) value(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

var (
	repeatSuffix = regexp.MustCompile(`#\d+(/|$)`)
	elemRepeat   = regexp.MustCompile(`#(\d+)$`)
)

// parse reads `go test -bench` output of a test binary run with GOMAXPROCS
// procs and returns its result lines in the order they came; everything
// else (logs, PASS, ok) is skipped.
func parse(r io.Reader, procs int) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	// pending is a benchmark's name printed alone: the testing package
	// prints the name, runs the benchmark, then prints the figures, so
	// whatever the benchmark writes to stdout lands in between.
	pending := ""
	for sc.Scan() {
		line := sc.Text()
		if res, ok := parseLine(line, procs); ok {
			out = append(out, res)
			pending = ""
			continue
		}
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "Benchmark") && strings.HasPrefix(line, f[0]) {
			pending = f[0]
			continue
		}
		if pending != "" && strings.TrimLeft(line, " \t") != line {
			if res, ok := parseLine(pending+line, procs); ok {
				out = append(out, res)
				pending = ""
			}
		}
	}
	return out, sc.Err()
}

// cpuLine is the "cpu: " line of go test's header, or "".
func cpuLine(out []byte) string {
	for _, line := range strings.Split(string(out), "\n") {
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			return strings.TrimSpace(cpu)
		}
	}
	return ""
}

// parseLine parses "BenchmarkX/sub-2   100   123 ns/op   4.5 msgs/s ...".
func parseLine(line string, procs int) (result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return result{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return result{}, false
	}
	name, rep := cleanName(f[0], procs)
	res := result{Name: name, Rep: rep, N: n}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false
		}
		res.Metrics = append(res.Metrics, metric{Value: v, Unit: f[i+1]})
	}
	return res, true
}

// cleanName drops the -procs suffix the testing package adds when
// GOMAXPROCS is not 1, and the #NN of repeated names; it returns the NNs
// too, one per element ("0" without one), joined by "/".
func cleanName(name string, procs int) (string, string) {
	if procs > 1 {
		name = strings.TrimSuffix(name, "-"+strconv.Itoa(procs))
	}
	elems := strings.Split(name, "/")
	reps := make([]string, len(elems))
	for i, e := range elems {
		reps[i] = "0"
		if m := elemRepeat.FindStringSubmatch(e); m != nil {
			n, _ := strconv.Atoi(m[1])
			reps[i] = strconv.Itoa(n)
		}
	}
	return repeatSuffix.ReplaceAllString(name, "$1"), strings.Join(reps, "/")
}
