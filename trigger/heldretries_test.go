package trigger

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// TestHeldRetries: held messages come back through due when their delay
// ends, in the order of their delays; close cuts short the rest and
// returns them; nothing is held after close.
func TestHeldRetries(t *testing.T) {
	tests := []struct {
		name    string
		delays  []time.Duration // of m0, m1...
		closeAt time.Duration   // when close is called
		due     []string        // the messages due before close, in order
		cut     int             // how many close returns
	}{
		{"all due", []time.Duration{3 * time.Second, time.Second, 2 * time.Second}, time.Hour, []string{"m1", "m2", "m0"}, 0},
		{"some cut short", []time.Duration{time.Second, time.Minute, time.Hour}, 30 * time.Second, []string{"m0"}, 2},
		{"all cut short", []time.Duration{time.Minute, time.Minute}, time.Second, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var due []string
				h := newHeldRetries(10, func(m *bindings.Message, _ bool) { mu.Lock(); due = append(due, m.ID); mu.Unlock() })
				for i, d := range tt.delays {
					if !h.hold(&bindings.Message{ID: "m" + string(rune('0'+i))}, d, true) {
						t.Fatal("hold refused before close")
					}
				}
				time.Sleep(tt.closeAt)
				synctest.Wait()
				cut := h.close()
				h.wait()
				if len(cut) != tt.cut || h.len() != 0 {
					t.Fatalf("close cut %d short and left %d held; want %d and 0", len(cut), h.len(), tt.cut)
				}
				if len(due) != len(tt.due) {
					t.Fatalf("due %v, want %v", due, tt.due)
				}
				for i := range due {
					if due[i] != tt.due[i] {
						t.Fatalf("due %v, want %v", due, tt.due)
					}
				}
				if h.hold(&bindings.Message{ID: "late"}, time.Second, true) {
					t.Fatal("hold accepted a message after close")
				}
			})
		})
	}
}

// TestHeldRetriesAwaitRoom: intake waits while limit messages are held,
// resumes when one is due, and gives up when its context ends.
func TestHeldRetriesAwaitRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeldRetries(2, func(*bindings.Message, bool) {})
		h.hold(&bindings.Message{ID: "a"}, time.Minute, true)
		h.hold(&bindings.Message{ID: "b"}, time.Hour, true)
		ok := make(chan bool, 1)
		start := time.Now()
		go func() { ok <- h.awaitRoom(context.Background()) }()
		if !<-ok || time.Since(start) != time.Minute {
			t.Fatalf("room after %s, want when a is due (1m)", time.Since(start))
		}
		h.hold(&bindings.Message{ID: "c"}, time.Hour, true)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if h.awaitRoom(ctx) {
			t.Fatal("room while full")
		}
		for range h.close() {
		}
		h.wait()
	})
}

// TestHeldRetriesDueOutsideTheLock: due runs without the lock, so it may
// call back (hold the message again, read the count) as the dispatcher's
// settling does through the broker.
func TestHeldRetriesDueOutsideTheLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var h *heldRetries
		var again int // only one due runs at a time: each holds the next
		h = newHeldRetries(2, func(m *bindings.Message, _ bool) {
			_ = h.len()
			if again < 3 {
				again++
				h.hold(m, time.Second, true)
			}
		})
		h.hold(&bindings.Message{ID: "m"}, time.Second, true)
		time.Sleep(time.Minute)
		synctest.Wait()
		if again != 3 || h.len() != 0 {
			t.Fatalf("held again %d times, %d held now; want 3, 0", again, h.len())
		}
		h.close()
		h.wait()
	})
}
