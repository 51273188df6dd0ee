package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// TestRingInsert checks that the ring stays in seq order through pushes, pops
// and inserts at every position, across wrap-around and growth.
func TestRingInsert(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var r ring
	var model []uint64 // the seqs the ring should hold, in order
	next := uint64(0)
	capBefore, shrank := 0, false
	for step := range 40000 {
		// Phases of growth and of draining, so the ring grows past and
		// shrinks back below its shrinking threshold.
		pushBelow, popBelow := 4, 7
		if step/5000%2 == 1 {
			pushBelow, popBelow = 1, 9
		}
		switch op := rng.IntN(10); {
		case op < pushBelow:
			next += 2 // leave odd seqs free for inserts
			r.pushBack(&entry{seq: next})
			model = append(model, next)
		case op < popBelow:
			e := r.popFront()
			if len(model) == 0 {
				if e != nil {
					t.Fatalf("step %d: popFront of empty ring = seq %d", step, e.seq)
				}
				continue
			}
			if e == nil || e.seq != model[0] {
				t.Fatalf("step %d: popFront = %v, want seq %d", step, e, model[0])
			}
			model = model[1:]
		default:
			seq := uint64(rng.IntN(int(next)+2)) | 1
			r.insert(&entry{seq: seq})
			i, _ := slices.BinarySearch(model, seq)
			for i < len(model) && model[i] <= seq {
				i++
			}
			model = slices.Insert(model, i, seq)
		}
		if len(r.buf) < capBefore {
			shrank = true
		}
		capBefore = len(r.buf)
		if r.n != len(model) {
			t.Fatalf("step %d: ring holds %d, want %d", step, r.n, len(model))
		}
		if step%97 == 0 {
			for i, seq := range model {
				if got := r.at(i).seq; got != seq {
					t.Fatalf("step %d: at(%d) = seq %d, want %d", step, i, got, seq)
				}
			}
		}
	}
	if !shrank {
		t.Error("the ring never shrank; the test does not cover resize on pop")
	}
}

func TestIDsUnique(t *testing.T) {
	var s idSource
	seen := map[string]bool{}
	for range 5 * idBlock {
		id := s.next()
		if len(id) != idLen || seen[id] {
			t.Fatalf("id %q: repeated or not %d characters", id, idLen)
		}
		seen[id] = true
	}
}

// TestWaitingReceiversAllWake: messages added at once while several receivers
// wait reach all of them, not just the one that took the wake-up token.
func TestWaitingReceiversAllWake(t *testing.T) {
	q := lookup("wake-"+t.Name(), true)
	const receivers = 4
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan string, receivers)
	for range receivers {
		in := &input{q: q, done: make(chan struct{})}
		go func() {
			msgs, err := in.Receive(ctx, 1)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- string(msgs[0].Data)
		}()
	}
	for { // until every receiver waits
		q.mu.Lock()
		n := q.waiting
		q.mu.Unlock()
		if n == receivers {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d receivers waiting", n, receivers)
		}
		runtime.Gosched()
	}
	Publish(q.name, &bindings.Message{Data: []byte("a")}, &bindings.Message{Data: []byte("b")},
		&bindings.Message{Data: []byte("c")}, &bindings.Message{Data: []byte("d")})
	seen := map[string]bool{}
	for range receivers {
		seen[<-got] = true
	}
	if len(seen) != receivers || !seen["a"] || !seen["d"] {
		t.Errorf("receivers got %v, want a, b, c, d once each", seen)
	}
}

func TestIDBlockCounts(t *testing.T) {
	for _, first := range []uint64{0, 0xe, 0xffff_ffff_ffff_fff0, 0x7fff_ffff_ffff_ffef} {
		block := newIDBlock(first)
		for i := range uint64(idBlock) {
			want := fmt.Sprintf("%016x", first+i)
			if got := block[i*idLen : (i+1)*idLen]; got != want {
				t.Fatalf("id %d from %x = %s, want %s", i, first, got, want)
			}
		}
	}
}
