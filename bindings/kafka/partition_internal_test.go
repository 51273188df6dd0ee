package kafka

import (
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWindowReusesItsArray: a window whose front is acked as fast as
// records are pushed moves back to the start of its array instead of
// growing, and keeps the offsets in order, the commit point at the first
// unacked record, through any pattern of acks.
func TestWindowReusesItsArray(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := newPartition(topicPartition{"t", 0})
	var out []*delivery // pushed and not acked, in offset order
	var offset int64
	grown := 0
	for range 20_000 {
		for range r.IntN(8) {
			d := &delivery{rec: &kgo.Record{Offset: offset}}
			offset++
			before := cap(p.slots)
			p.push(d)
			if cap(p.slots) != before {
				grown++
			}
			out = append(out, d)
		}
		for range r.IntN(9) {
			if len(out) == 0 {
				break
			}
			i := r.IntN(min(len(out), 4)) // mostly near the front
			p.done(out[i])
			out = append(out[:i], out[i+1:]...)
		}
		if len(out) > 0 {
			if eo, ok := p.commitPoint(); !ok || eo.Offset != out[0].rec.Offset {
				t.Fatalf("commit point %v, want %d", eo, out[0].rec.Offset)
			}
		}
		j := 0
		for _, s := range p.window {
			if s.d == nil {
				continue
			}
			if j >= len(out) || s.d != out[j] {
				t.Fatalf("window out of step with what was pushed and not acked")
			}
			j++
		}
		if j != len(out) {
			t.Fatalf("window holds %d unacked, want %d", j, len(out))
		}
	}
	if grown > 20 {
		t.Errorf("the window's array was replaced %d times for a window that stays small", grown)
	}
}
