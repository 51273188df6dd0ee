package bad

import "testing"

// BenchmarkNoTime has no benchtime.
//
//tether:bench count=3
func BenchmarkNoTime(b *testing.B) {}

// BenchmarkUnknownKey has a typo.
//
//tether:bench benchtime=10x rounds=3
func BenchmarkUnknownKey(b *testing.B) {}

// TestNotABenchmark is marked by mistake.
//
//tether:bench benchtime=10x
func TestNotABenchmark(t *testing.T) {}
