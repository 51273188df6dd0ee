package main

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tetherfn/tether/internal/testkit/benchtest"
)

// suiteResult is one benchmark's run.
type suiteResult struct {
	suite
	// Benchtime, Count and Rounds are what the run used (Rounds 0: each
	// benchmark's own).
	Benchtime string
	Count     int
	Rounds    int
	Analysis  analysis
	Elapsed   time.Duration
	// Err is set when the run failed: its error and the output's tail.
	Err string
}

// Reproduce is the one command that runs this benchmark alone, as the
// harness ran it.
func (s suiteResult) Reproduce() string {
	var b strings.Builder
	if s.Rounds > 0 && s.hasPairs() {
		fmt.Fprintf(&b, "%s=%d ", benchtest.RoundsEnv, s.Rounds)
	}
	fmt.Fprintf(&b, "go test -run '^$' -bench '^%s$' -benchtime %s", s.Bench, s.Benchtime)
	if s.Count > 1 {
		fmt.Fprintf(&b, " -count %d", s.Count)
	}
	fmt.Fprintf(&b, " ./%s/", s.Pkg)
	return b.String()
}

// hasPairs says whether the benchmark compares sub-benchmarks in rounds
// (benchtest.Rounds's: more samples than runs).
func (s suiteResult) hasPairs() bool {
	for _, r := range s.Analysis.Ratios {
		if r.Candidate.Unit != "" && r.Stats.N > s.Count {
			return true
		}
	}
	return false
}

// report is everything BENCHMARKS.md says.
type report struct {
	Machine            machine
	Date               time.Time
	LoadStart, LoadEnd string
	Quick              bool
	Command            string
	Elapsed            time.Duration
	Suites             []suiteResult
	// Startup is nil when it was not selected, Faults too.
	Startup *startup
	Faults  *faultSection
}

// render writes the report as Markdown.
func (r report) render() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Benchmarks\n\n")
	p("Written by `%s`; do not edit by hand (run it again). ", r.Command)
	p("How it works and how a benchmark joins this page: CONTRIBUTING.md (Benchmarks).\n\n")
	mode := "full run"
	if r.Quick {
		mode = "quick run (-quick: fewer rounds and messages; indicative only)"
	}
	p("| | |\n| --- | --- |\n")
	p("| machine | %s, %d cores |\n", r.Machine.CPU, r.Machine.Cores)
	p("| Go | %s |\n", r.Machine.GoVersion)
	p("| date | %s |\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	p("| commit | %s |\n", mdEscape(r.Machine.Commit))
	p("| load average (1, 5, 15 min) | %s at the start, %s at the end |\n", orUnknown(r.LoadStart), orUnknown(r.LoadEnd))
	p("| mode | %s, %s |\n", mode, r.Elapsed.Round(time.Second))
	p("\n")
	p("Each ratio is Tether ÷ its baseline, both measured in the same process in alternating rounds, ")
	p("so that the machine's load (other work ran on it) touches both alike; the median is given with the range (min–max) over the rounds. ")
	p("Above 1× Tether is faster, except for latencies and times (p50, start), where below 1× is better. ")
	p("Absolute rates move with the load; the ratios are the figures to compare between runs.\n\n")

	p("## Targets (issue 17)\n\n")
	p("| target | measured: median (range) | aim | verdict |\n| --- | --- | --- | --- |\n")
	for _, t := range targets {
		rows := r.targetRows(t)
		if len(rows) == 0 {
			aim := t.Op + " " + fmtRatio(t.Value)
			switch t.Op {
			case "table":
				aim = "rising"
			case "max":
				aim = "<= " + strconv.FormatFloat(t.Value, 'g', -1, 64)
			case "":
				aim = "—"
			}
			p("| %s | not yet: no benchmark on main reports it | %s | not yet |\n", t.Figure, aim)
			continue
		}
		for _, row := range rows {
			p("| %s | %s |\n", t.Figure, row)
		}
	}
	p("\n")

	for _, s := range r.Suites {
		p("## %s: %s\n\n", s.Pkg, s.Bench)
		if s.Synopsis != "" {
			p("%s\n\n", s.Synopsis)
		}
		p("Reproduce: `%s` (took %s here).\n\n", s.Reproduce(), s.Elapsed.Round(time.Second))
		if s.Err != "" {
			p("**Failed**")
			if len(s.Analysis.Ratios)+len(s.Analysis.Figures) > 0 {
				p(" (the figures below are from the runs that finished; a round without its baseline is left out)")
			}
			p(":\n\n```\n%s\n```\n\n", s.Err)
		}
		if len(s.Analysis.Ratios) > 0 {
			p("| ratio | median | range | samples | measured | baseline |\n| --- | --- | --- | --- | --- | --- |\n")
			for _, rt := range s.Analysis.Ratios {
				cand, base := "", ""
				if rt.Candidate.Unit != "" {
					cand, base = fmtFigure(rt.Candidate.Stats.Median, rt.Candidate.Unit), fmtFigure(rt.Baseline.Stats.Median, rt.Baseline.Unit)
				}
				p("| %s | %s | %s | %d | %s | %s |\n", mdEscape(rt.Label), fmtRatio(rt.Stats.Median), fmtRange(rt.Stats, fmtRatio), rt.Stats.N, cand, base)
			}
			p("\n")
		}
		if len(s.Analysis.Figures) > 0 {
			p("| figure | median | range | samples |\n| --- | --- | --- | --- |\n")
			for _, f := range s.Analysis.Figures {
				name := strings.TrimSpace(rel(f.Name) + " " + f.Unit)
				fmtF := func(v float64) string { return strings.TrimSuffix(fmtFigure(v, f.Unit), " "+f.Unit) }
				p("| %s | %s | %s | %d |\n", mdEscape(name), fmtF(f.Stats.Median), fmtRange(f.Stats, fmtF), f.Stats.N)
			}
			p("\n")
		}
		if s.Err == "" && len(s.Analysis.Ratios) == 0 && len(s.Analysis.Figures) == 0 {
			p("No figure by the convention (pairs of raw and other sub-benchmarks reporting a rate, or a metric ending in \"ratio\").\n\n")
		}
	}

	if st := r.Startup; st != nil {
		p("## Start-up, memory and image size\n\n")
		p("The generated main of `%s` (function `%s`, on its memory components) against a bare `net/http` program, ", startExample, startFunction)
		p("both compiled as `tether build` compiles (static, `-trimpath`, stripped), started in turn %d times: ", st.Rounds)
		p("exec to the first 2xx of the readiness URL (the function's `/readyz`), polled every millisecond; VmRSS from `/proc` after 1 s idle. ")
		p("Reproduce: `go run ./internal/bench -bindings startup`.\n\n")
		if st.Err != "" {
			p("**Failed**:\n\n```\n%s\n```\n\n", st.Err)
		} else {
			ms := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }
			mb := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " MB" }
			p("| | function | net/http | ratio: median (range) |\n| --- | --- | --- | --- |\n")
			p("| start to ready | %s (%s) | %s (%s) | %s (%s) |\n", ms(st.FunctionStart.Median), fmtRange(st.FunctionStart, ms),
				ms(st.BareStart.Median), fmtRange(st.BareStart, ms), fmtRatio(st.StartRatio.Median), fmtRange(st.StartRatio, fmtRatio))
			p("| idle RSS | %s (%s) | %s (%s) | %s (%s) |\n", mb(st.FunctionRSS.Median), fmtRange(st.FunctionRSS, mb),
				mb(st.BareRSS.Median), fmtRange(st.BareRSS, mb), fmtRatio(st.RSSRatio.Median), fmtRange(st.RSSRatio, fmtRatio))
			p("| binary | %s | %s | %s |\n\n", fmtBytes(st.FunctionBinary), fmtBytes(st.BareBinary), fmtRatio(float64(st.FunctionBinary)/float64(max(st.BareBinary, 1))))
		}
		if st.ImageErr != "" {
			p("Image: **failed**: %s\n\n", st.ImageErr)
		} else if st.ImagePull > 0 {
			p("Image of `%s` as `tether build` makes it (`internal/image`, on scratch, no Docker daemon): %s to pull (manifest, config and compressed layers), %s unpacked.\n\n",
				startFunction, fmtBytes(st.ImagePull), fmtBytes(st.ImageUnpacked))
		}
	}
	if r.Faults != nil {
		r.Faults.render(p)
	}
	return b.String()
}

// targetRows are the summary rows of a target: one per matching ratio (or
// one listing the matching figures for "table"), each "measured | aim |
// verdict".
func (r report) targetRows(t target) []string {
	if t.Op == "faults" {
		return []string{r.faultsTargetRow()}
	}
	var rows []string
	var table []figure
	for _, s := range r.Suites {
		if s.Pkg != t.Pkg {
			continue
		}
		if t.Op == "table" {
			for _, f := range s.Analysis.allFigures() {
				if match(t.Match, f.Name+" "+f.Unit) && strings.HasSuffix(f.Unit, "/s") {
					table = append(table, f)
				}
			}
			continue
		}
		if t.Op == "max" {
			for _, f := range s.Analysis.allFigures() {
				if !match(t.Match, f.Name+" "+f.Unit) || f.Stats.N == 0 {
					continue
				}
				verdict := "not met"
				if t.met(f.Stats.Median) {
					verdict = "met"
				}
				fmtF := func(v float64) string { return fmtFigure(v, f.Unit) }
				rows = append(rows, fmt.Sprintf("%s (%s) | <= %s | %s", fmtF(f.Stats.Median), fmtRange(f.Stats, fmtF),
					fmtF(t.Value), verdict))
			}
			continue
		}
		for _, rt := range s.Analysis.Ratios {
			if !match(t.Match, rt.ID) || rt.Stats.N == 0 {
				continue
			}
			aim, verdict := t.Op+" "+fmtRatio(t.Value), "not met"
			if t.Op == "" {
				aim, verdict = "—", "—"
			} else if t.met(rt.Stats.Median) {
				verdict = "met"
			}
			rows = append(rows, fmt.Sprintf("%s: %s (%s) | %s | %s", mdEscape(rt.Label), fmtRatioBeside(rt.Stats.Median, t.Value),
				fmtRange(rt.Stats, fmtRatio), aim, verdict))
		}
	}
	if len(table) > 0 {
		rows = append(rows, risingRow(table))
	}
	return rows
}

// risingRow is the row of a "table" target: the figures in the order of
// the setting their names end in (maxConcurrency=4, or c4 in a metric's
// unit), and whether each median is at least the one before it, less 5%
// for the noise of one run.
func risingRow(figs []figure) string {
	setting := func(f figure) (string, int) {
		name := rel(f.Name)
		if name == "" { // the setting is in the unit: noop-c4-msgs/s
			name = strings.TrimSuffix(f.Unit, "-"+lastUnit(f.Unit))
		}
		m := settingNumber.FindStringSubmatch(name)
		if m == nil {
			return name, 0
		}
		n, _ := strconv.Atoi(m[1])
		return name, n
	}
	slices.SortStableFunc(figs, func(a, b figure) int {
		_, na := setting(a)
		_, nb := setting(b)
		return na - nb
	})
	parts := make([]string, len(figs))
	verdict := "met"
	for i, f := range figs {
		name, _ := setting(f)
		parts[i] = name + " " + fmtFigure(f.Stats.Median, lastUnit(f.Unit))
		if i > 0 && f.Stats.Median < 0.95*figs[i-1].Stats.Median {
			verdict = "not met"
		}
	}
	return mdEscape(strings.Join(parts, "; ")) + " | rising | " + verdict
}

// settingNumber finds the setting's value in a figure's name.
var settingNumber = regexp.MustCompile(`(\d+)\D*$`)

// lastUnit is the unit proper of a metric named with a prefix:
// msgs/s of noop-c4-msgs/s.
func lastUnit(unit string) string {
	if i := strings.LastIndex(unit, "-"); i >= 0 {
		return unit[i+1:]
	}
	return unit
}

func fmtRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "×" }

// fmtRatioBeside is fmtRatio of a median shown beside its aim, with more
// decimals (up to five) while fewer would show the aim itself for a median
// that misses or passes it ("0.798×", not "0.80×", beside ">= 0.80×" and
// "not met").
func fmtRatioBeside(v, aim float64) string {
	prec := 2
	for ; prec < 5 && v != aim; prec++ {
		if strconv.FormatFloat(v, 'f', prec, 64) != strconv.FormatFloat(aim, 'f', prec, 64) {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + "×"
}

func fmtRange(s stats, f func(float64) string) string {
	if s.N < 2 && s.Min == s.Max {
		return "one sample"
	}
	lo, hi := f(s.Min), f(s.Max)
	if i := strings.LastIndex(hi, " "); i >= 0 && strings.HasSuffix(lo, hi[i:]) {
		lo = strings.TrimSuffix(lo, hi[i:]) // "1.2–3.4 ms", not "1.2 ms–3.4 ms"
	}
	return strings.TrimSuffix(lo, "×") + "–" + hi
}

// fmtFigure prints a metric's value with its unit, rates with thousands
// separators.
func fmtFigure(v float64, unit string) string {
	switch {
	case math.Abs(v) >= 1000:
		return group(int64(math.Round(v))) + " " + unit
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	default:
		return strconv.FormatFloat(v, 'f', 2, 64) + " " + unit
	}
}

// group writes n with commas between thousands.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtBytes(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB" }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// mdEscape keeps a value from breaking a table row.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
