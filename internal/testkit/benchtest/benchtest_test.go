package benchtest

import (
	"slices"
	"strings"
	"testing"
)

// TestRoundsOfRotates checks that each round starts with the next run, so
// that no run always follows the same other one.
func TestRoundsOfRotates(t *testing.T) {
	var order []string
	run := func(name string) Run {
		return Run{Name: name, F: func(b *testing.B) float64 {
			if b.N == 1 { // the probe: once per sub-benchmark
				order = append(order, name)
			}
			return 1
		}}
	}
	testing.Benchmark(func(b *testing.B) {
		RoundsOf(b, 3, run("raw"), run("driver"), run("tether"))
	})
	want := []string{"raw", "driver", "tether", "driver", "tether", "raw", "tether", "raw", "driver"}
	if !slices.Equal(order, want) {
		t.Errorf("runs in the order %s, want %s", strings.Join(order, " "), strings.Join(want, " "))
	}
}
