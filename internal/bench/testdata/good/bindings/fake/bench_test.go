package fake

import "testing"

// BenchmarkTrigger compares a raw loop with Tether. More words.
//
//tether:bench benchtime=1000x quick=100x
func BenchmarkTrigger(b *testing.B) {}

// BenchmarkRatio reports a ratio.
//
//tether:bench benchtime=1x count=7
func BenchmarkRatio(b *testing.B) {}

// BenchmarkUnmarked is not in the report.
func BenchmarkUnmarked(b *testing.B) {}
