package main

import (
	"path"
	"slices"
	"strings"
)

// stats summarises samples: the median (of an even count, the mean of the
// middle two) and the range.
type stats struct {
	Median, Min, Max float64
	N                int
}

func summarize(v []float64) stats {
	if len(v) == 0 {
		return stats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// figure is one absolute measure: a benchmark's metric over its runs.
type figure struct {
	Name, Unit string
	Stats      stats
}

// ratio is one comparison with a baseline measured in the same process.
type ratio struct {
	// ID names the ratio for targets: "<benchmark>/<candidate> vs <baseline>"
	// for a pair of sub-benchmarks, "<benchmark>:<unit>" for a reported
	// ratio metric.
	ID string
	// Label is what the report shows in its first column.
	Label string
	Stats stats
	// LowerIsBetter for ratios of latencies and times (see isLatency).
	LowerIsBetter bool
	// Candidate and Baseline are the absolute figures of a pair; zero for a
	// reported ratio metric, whose figures are in analysis.Figures.
	Candidate, Baseline figure
}

// analysis is what a benchmark's results say by the naming convention of
// CONTRIBUTING.md.
type analysis struct {
	Ratios  []ratio
	Figures []figure
}

// isBaseline says whether a sub-benchmark is a baseline: "raw" or "raw-...".
func isBaseline(leaf string) bool { return leaf == "raw" || strings.HasPrefix(leaf, "raw-") }

// isLatency says whether a ratio or figure is of a latency or a time, where
// lower is better.
func isLatency(unit string) bool {
	for _, w := range []string{"p50", "p90", "p99", "latency", "start", "-ms", "-µs", "-us", "-s-ratio"} {
		if strings.Contains(unit, w) {
			return true
		}
	}
	return false
}

// ignoredUnits are the testing package's own columns: not figures of the
// report (a pair's ns/op is the run's total time over b.N messages).
var ignoredUnits = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": true}

// analyze applies the convention to one benchmark's results, in the order
// the names first appear:
//
//   - pairs: among sub-benchmarks of one parent, each "raw" or "raw-..."
//     leaf is a baseline (the first leaf when none is so named) and every
//     other leaf a candidate; each run of a candidate is divided by the run
//     of the baseline in the same round (the same #NN), by the first rate
//     unit ("/s") both report;
//   - reported ratios: a metric whose unit ends in "ratio" is a ratio
//     already, one sample per run, and "<unit>-min" and "<unit>-max" beside
//     it widen its range (a benchmark that runs its own rounds); the line's
//     other metrics are figures;
//   - anything else reporting a rate is a figure.
func analyze(results []result) analysis {
	var names []string
	runs := map[string][]result{}
	for _, r := range results {
		if _, ok := runs[r.Name]; !ok {
			names = append(names, r.Name)
		}
		runs[r.Name] = append(runs[r.Name], r)
	}
	var a analysis
	used := map[string]bool{}

	// Pairs.
	var parents []string
	leaves := map[string][]string{}
	for _, n := range names {
		parent, leaf := path.Split(n)
		parent = strings.TrimSuffix(parent, "/")
		if parent == "" {
			continue
		}
		if _, ok := leaves[parent]; !ok {
			parents = append(parents, parent)
		}
		leaves[parent] = append(leaves[parent], leaf)
	}
	for _, parent := range parents {
		if len(leaves[parent]) < 2 || reportsRatio(runs[parent+"/"+leaves[parent][0]][0]) {
			continue
		}
		var bases, cands []string
		for _, l := range leaves[parent] {
			if isBaseline(l) {
				bases = append(bases, l)
			} else {
				cands = append(cands, l)
			}
		}
		if len(bases) == 0 { // benchtest.RoundsOf's contract: the first
			bases, cands = cands[:1], cands[1:]
		}
		for _, base := range bases {
			for _, cand := range cands {
				br, cr := runs[parent+"/"+base], runs[parent+"/"+cand]
				unit := commonRate(br[0], cr[0])
				if unit == "" {
					continue
				}
				var rs, bs, cs []float64
				for _, b := range br {
					if v, ok := b.value(unit); ok {
						bs = append(bs, v)
					}
				}
				for _, c := range cr {
					cv, ok := c.value(unit)
					if !ok {
						continue
					}
					cs = append(cs, cv)
					// The baseline of the same round; none when its run
					// failed.
					for _, b := range br {
						if bv, ok := b.value(unit); ok && b.Rep == c.Rep && bv > 0 {
							rs = append(rs, cv/bv)
						}
					}
				}
				a.Ratios = append(a.Ratios, ratio{
					ID:            parent + "/" + cand + " vs " + base,
					Label:         prefixed(rel(parent), cand+" ÷ "+base),
					Stats:         summarize(rs),
					LowerIsBetter: isLatency(unit),
					Candidate:     figure{Name: parent + "/" + cand, Unit: unit, Stats: summarize(cs)},
					Baseline:      figure{Name: parent + "/" + base, Unit: unit, Stats: summarize(bs)},
				})
				used[parent+"/"+base], used[parent+"/"+cand] = true, true
			}
		}
	}

	// Reported ratios, and plain figures.
	for _, n := range names {
		if used[n] {
			continue
		}
		rs := runs[n]
		var units []string
		hasRatio := false
		for _, m := range rs[0].Metrics {
			if ignoredUnits[m.Unit] {
				continue
			}
			units = append(units, m.Unit)
			hasRatio = hasRatio || strings.HasSuffix(m.Unit, "ratio")
		}
		for _, u := range units {
			var v []float64
			for _, r := range rs {
				if x, ok := r.value(u); ok {
					v = append(v, x)
				}
			}
			switch {
			case strings.HasSuffix(u, "ratio"):
				st := summarize(v)
				// A benchmark that runs its rounds itself may report their
				// range beside the median: <unit>-min and <unit>-max.
				for _, r := range rs {
					if lo, ok := r.value(u + "-min"); ok {
						st.Min = min(st.Min, lo)
					}
					if hi, ok := r.value(u + "-max"); ok {
						st.Max = max(st.Max, hi)
					}
				}
				a.Ratios = append(a.Ratios, ratio{ID: n + ":" + u, Label: prefixed(rel(n), u), Stats: st, LowerIsBetter: isLatency(u)})
			case strings.HasSuffix(u, "ratio-min") || strings.HasSuffix(u, "ratio-max"):
				// Folded into the ratio's range above.
			case hasRatio || strings.HasSuffix(u, "/s") || isLatency(u):
				a.Figures = append(a.Figures, figure{Name: n, Unit: u, Stats: summarize(v)})
			}
		}
	}
	return a
}

// reportsRatio says whether a line reports a ratio metric of its own.
func reportsRatio(r result) bool {
	for _, m := range r.Metrics {
		if strings.HasSuffix(m.Unit, "ratio") {
			return true
		}
	}
	return false
}

// commonRate is the first unit ending in "/s" that both lines report.
func commonRate(a, b result) string {
	for _, m := range a.Metrics {
		if strings.HasSuffix(m.Unit, "/s") && !ignoredUnits[m.Unit] {
			if _, ok := b.value(m.Unit); ok {
				return m.Unit
			}
		}
	}
	return ""
}

// rel is a name below its top-level benchmark: "" for the benchmark itself.
func rel(name string) string {
	_, sub, _ := strings.Cut(name, "/")
	return sub
}

// prefixed is "p: s", or s when p is "".
func prefixed(p, s string) string {
	if p == "" {
		return s
	}
	return p + ": " + s
}

// allFigures are the analysis's figures and its pairs' absolute figures,
// each (name, unit) once, in order.
func (a analysis) allFigures() []figure {
	var out []figure
	seen := map[string]bool{}
	add := func(f figure) {
		if k := f.Name + " " + f.Unit; f.Unit != "" && !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	for _, r := range a.Ratios {
		add(r.Baseline)
		add(r.Candidate)
	}
	for _, f := range a.Figures {
		add(f)
	}
	return out
}
