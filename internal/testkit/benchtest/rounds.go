package benchtest

import (
	"os"
	"strconv"
)

// RoundsEnv, when set to a positive number, overrides the rounds of every
// benchmark that runs in rounds here: internal/bench sets it (3 in its
// -quick mode) to bound the report's run. internal/bench pairs the
// rounds' sub-benchmarks by name (raw, raw-*, or the first, against the
// others; see CONTRIBUTING.md) to write BENCHMARKS.md.
const RoundsEnv = "TETHER_BENCH_ROUNDS"

// roundsOr is $TETHER_BENCH_ROUNDS when set, else n.
func roundsOr(n int) int {
	if r, err := strconv.Atoi(os.Getenv(RoundsEnv)); err == nil && r > 0 {
		return r
	}
	return n
}
