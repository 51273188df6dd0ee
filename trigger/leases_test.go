package trigger

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// TestLeasesSweepsInOneBatch: every sweep extends all unsettled messages,
// in one call, for two intervals; untracked messages drop out.
func TestLeasesSweepsInOneBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		var calls [][]string
		l := newLeases(interval, func(_ context.Context, msgs []*bindings.Message, d time.Duration) error {
			if d != 2*interval {
				t.Errorf("extension for %s, want %s", d, 2*interval)
			}
			var ids []string
			for _, m := range msgs {
				ids = append(ids, m.ID)
			}
			calls = append(calls, ids)
			return nil
		}, context.Background(), discardLogger)
		msgs := []*bindings.Message{{ID: "a"}, {ID: "b"}, {ID: "c"}}
		l.track(msgs...)
		done := make(chan struct{})
		go l.run(done)
		time.Sleep(interval / 2)
		synctest.Wait()
		l.untrack(msgs[1])
		time.Sleep(interval / 2)
		synctest.Wait()
		close(done)
		if len(calls) != 2 || len(calls[0]) != 3 || len(calls[1]) != 2 {
			t.Fatalf("calls %v; want [a b c] then [a c], in any order within each", calls)
		}
		if l.len() != 2 {
			t.Fatalf("%d unsettled, want 2", l.len())
		}
	})
}

// TestLeasesUntrackWaitsForTheExtension: settling a message whose extension
// is under way waits for that call to end (a broker refuses to extend a
// settled message, or extends one a nack made visible again), and no
// longer.
func TestLeasesUntrackWaitsForTheExtension(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		l := newLeases(time.Minute, func(ctx context.Context, _ []*bindings.Message, _ time.Duration) error {
			<-release
			return nil
		}, context.Background(), discardLogger)
		m := &bindings.Message{ID: "m"}
		l.track(m)
		go l.sweep()
		synctest.Wait()
		untracked := make(chan struct{})
		go func() { l.untrack(m); close(untracked) }()
		synctest.Wait()
		select {
		case <-untracked:
			t.Fatal("untrack returned during the extension of m's lease")
		default:
		}
		close(release)
		<-untracked
	})
}

// TestLeasesHungBrokerBounded: an extension call that hangs is cut at half
// an interval, so settling waits no longer.
func TestLeasesHungBrokerBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		l := newLeases(interval, func(ctx context.Context, _ []*bindings.Message, _ time.Duration) error {
			<-ctx.Done()
			return ctx.Err()
		}, context.Background(), discardLogger)
		m := &bindings.Message{ID: "m"}
		l.track(m)
		start := time.Now()
		go l.sweep()
		synctest.Wait()
		l.untrack(m)
		if waited := time.Since(start); waited > interval/2 {
			t.Fatalf("untrack waited %s, past half an interval", waited)
		}
	})
}

// TestNilLeasesTrackNothing: a trigger whose broker has no leases has a nil
// *leases, which must be safe to call.
func TestNilLeasesTrackNothing(t *testing.T) {
	var l *leases
	l.track(&bindings.Message{})
	l.untrack(&bindings.Message{})
}

// TestLeasesUntrackWaitsForOneCallOnly: on a broker whose every extension
// takes the whole half interval, one call follows another without a gap;
// settling a message still waits for the call under way only, not for the
// next one too (which would starve it).
func TestLeasesUntrackWaitsForOneCallOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		l := newLeases(interval, func(ctx context.Context, _ []*bindings.Message, _ time.Duration) error {
			<-ctx.Done()
			return nil
		}, context.Background(), discardLogger)
		msgs := []*bindings.Message{{ID: "a"}, {ID: "b"}, {ID: "c"}}
		l.track(msgs...)
		done := make(chan struct{})
		defer close(done)
		go l.run(done)
		time.Sleep(interval/2 + time.Second) // the first call is under way
		for _, m := range msgs {
			start := time.Now()
			l.untrack(m)
			if waited := time.Since(start); waited > interval/2 {
				t.Fatalf("untrack of %s waited %s, past one call", m.ID, waited)
			}
		}
	})
}
