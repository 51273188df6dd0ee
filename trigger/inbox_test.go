package trigger

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
)

func inboxWorkers(n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{wake: make(chan struct{}, 1)}
	}
	return ws
}

// takeAll has w take runs and claim their messages until the inbox is
// closed and empty, giving each message it claims to out.
func takeAll(b *inbox, w *worker, out func(*bindings.Message)) {
	for b.take(w) {
		for m, ok := w.run.claim(); ok; m, ok = w.run.claim() {
			out(m)
		}
	}
}

func messages(n int) []*bindings.Message {
	ms := make([]*bindings.Message, n)
	for i := range ms {
		ms[i] = &bindings.Message{ID: fmt.Sprint(i)}
	}
	return ms
}

// TestInboxHandsOutEveryMessageOnceInOrder: workers taking runs
// concurrently, and stealing from each other's, get each message once, and
// one worker alone gets them in the order put.
func TestInboxHandsOutEveryMessageOnceInOrder(t *testing.T) {
	b := newInbox(32, 4)
	ws := inboxWorkers(4)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i, w := range ws {
		w.fast = true // they take runs
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			takeAll(b, w, func(m *bindings.Message) {
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
				if n++; i == 0 && n%10 == 0 {
					time.Sleep(100 * time.Microsecond) // a slow handler: the others steal from its run
				}
			})
		}()
	}
	all := messages(5000)
	for i := 0; i < len(all); i += 29 {
		if !b.awaitRoom(context.Background()) {
			t.Fatal("awaitRoom false with a live context")
		}
		b.put(all[i:min(i+29, len(all))]...)
	}
	b.close()
	wg.Wait()
	if len(seen) != len(all) {
		t.Fatalf("%d distinct messages taken, want %d", len(seen), len(all))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %s taken %d times", id, n)
		}
	}

	one := newInbox(4, 1)
	w := inboxWorkers(1)[0]
	one.put(all[:10]...)
	one.close()
	var got []*bindings.Message
	takeAll(one, w, func(m *bindings.Message) { got = append(got, m) })
	if !slices.Equal(got, all[:10]) {
		t.Fatalf("one worker took %v, want the 10 put, in order", got)
	}
}

// TestInboxWakesNoMoreWorkersThanMessages: a put of one message to four
// sleeping workers wakes one of them, and a second put before that one
// looked wakes no other: the woken worker wakes the next (below).
func TestInboxWakesNoMoreWorkersThanMessages(t *testing.T) {
	b := newInbox(8, 4)
	ws := inboxWorkers(4)
	b.idle = append(b.idle, ws...) // as if asleep in take
	b.put(messages(1)...)
	woken := 0
	for _, w := range ws {
		select {
		case <-w.wake:
			woken++
		default:
		}
	}
	if woken != 1 || b.woken != 1 || len(b.idle) != 3 {
		t.Fatalf("woken %d (counted %d), idle %d; want 1, 1, 3", woken, b.woken, len(b.idle))
	}
	b.put(messages(1)...)
	if b.woken != 1 || len(b.idle) != 3 {
		t.Fatalf("after a second put: counted %d woken, %d idle; want 1, 3", b.woken, len(b.idle))
	}
}

// TestInboxWakesWorkersInTurn: a batch put to sleeping workers wakes one;
// each woken worker that leaves messages waiting wakes the next, so that
// every message gets a worker though each keeps its own (a slow handler),
// and a worker stays asleep when no message is left for it.
func TestInboxWakesWorkersInTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newInbox(8, 4)
		taken := make(chan *bindings.Message)
		release := make(chan struct{})
		for _, w := range inboxWorkers(4) {
			go takeAll(b, w, func(m *bindings.Message) {
				taken <- m
				<-release // handling it
			})
		}
		synctest.Wait()
		b.put(messages(3)...)
		for range 3 {
			<-taken
		}
		synctest.Wait()
		b.mu.Lock()
		idle, woken := len(b.idle), b.woken
		b.mu.Unlock()
		if idle != 1 || woken != 0 {
			t.Errorf("with 3 messages each kept by a worker: %d asleep, %d woken; want 1, 0", idle, woken)
		}
		b.close()
		close(release)
	})
}

// TestInboxStartsEveryMessageWithWorkersFree: fast workers asleep, three
// messages put, each handler blocking: the worker woken takes all three,
// and the others wake in turn to steal them, so that three handlers run.
func TestInboxStartsEveryMessageWithWorkersFree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newInbox(8, 4)
		var started sync.WaitGroup
		started.Add(3)
		release := make(chan struct{})
		for _, w := range inboxWorkers(4) {
			w.fast = true
			go takeAll(b, w, func(*bindings.Message) {
				started.Done()
				<-release // handling it
			})
		}
		synctest.Wait()
		b.put(messages(3)...)
		started.Wait() // a deadlock (synctest) if one waits behind a handler
		synctest.Wait()
		b.mu.Lock()
		idle := len(b.idle)
		b.mu.Unlock()
		if idle != 1 {
			t.Errorf("%d workers asleep with 3 handlers running of 4 workers, want 1", idle)
		}
		close(release)
		b.close()
	})
}

// TestInboxAwaitRoom waits while limit messages wait, and returns false when
// its context ends first.
func TestInboxAwaitRoom(t *testing.T) {
	b := newInbox(2, 1)
	b.put(messages(3)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.awaitRoom(ctx) {
		t.Fatal("awaitRoom true with 3 waiting of limit 2")
	}
	got := make(chan bool)
	go func() { got <- b.awaitRoom(context.Background()) }()
	w := inboxWorkers(1)[0]
	w.fast = true
	if !b.take(w) || len(w.run.msgs) != 3 {
		t.Fatalf("take: a run of %d, want the 3 waiting", len(w.run.msgs))
	}
	if !<-got {
		t.Fatal("awaitRoom false after room was made")
	}
	w.run.claim()
	b.put(messages(1)...)
	if n := len(b.drain()); n != 3 {
		t.Fatalf("drain gave %d messages, want 3: the one waiting and the 2 of the run not claimed", n)
	}
	if n := b.len(); n != 0 {
		t.Fatalf("%d wait after drain", n)
	}
}

// TestInboxRunIsAShareOfWaiting: a worker whose handlers are fast takes
// the waiting messages' share of each worker awake, at least one, at most
// maxRun; one whose handlers are slow takes one.
func TestInboxRunIsAShareOfWaiting(t *testing.T) {
	for _, c := range []struct{ workers, asleep, waiting, want int }{
		{4, 3, 40, maxRun}, // alone awake: all, up to maxRun
		{4, 2, 10, 5},
		{4, 0, 10, 2},
		{4, 0, 3, 1}, // fewer than the workers: one each
	} {
		b := newInbox(64, c.workers)
		ws := inboxWorkers(c.workers)
		ws[0].fast = true
		b.put(messages(c.waiting)...)
		b.idle = append(b.idle, ws[1:1+c.asleep]...) // asleep since
		if !b.take(ws[0]) || len(ws[0].run.msgs) != c.want {
			t.Errorf("%d workers, %d asleep, %d waiting: a run of %d, want %d", c.workers, c.asleep, c.waiting, len(ws[0].run.msgs), c.want)
		}
		ws[0].fast = false
		if !b.take(ws[0]) || len(ws[0].run.msgs) != 1 {
			t.Errorf("slow handlers: a run of %d, want 1", len(ws[0].run.msgs))
		}
	}
}

// TestInboxStealsFromARunBehindASlowHandler: a worker finding nothing
// waiting takes half of what another's run has not claimed, before it
// sleeps; the run's worker goes on after what was stolen, and every
// message is claimed once.
func TestInboxStealsFromARunBehindASlowHandler(t *testing.T) {
	b := newInbox(64, 2)
	slow, free := inboxWorkers(2)[0], inboxWorkers(1)[0]
	slow.fast = true // until now
	all := messages(8)
	b.put(all...)
	if !b.take(slow) || len(slow.run.msgs) != 4 {
		t.Fatalf("a run of %d, want 4 (8 waiting, 2 workers awake)", len(slow.run.msgs))
	}
	first, _ := slow.run.claim() // its handler is slow
	var got []*bindings.Message
	claimAll := func(w *worker) {
		for m, ok := w.run.claim(); ok; m, ok = w.run.claim() {
			got = append(got, m)
		}
	}
	for b.len() > 0 { // the 4 left waiting
		b.take(free)
		claimAll(free)
	}
	if !b.take(free) || len(free.run.msgs) != 2 { // nothing waits: half of the slow run's 3 unclaimed
		t.Fatalf("stole %d, want 2", len(free.run.msgs))
	}
	claimAll(free)
	claimAll(slow)
	got = append(got, first)
	slices.SortFunc(got, func(a, b *bindings.Message) int { return strings.Compare(a.ID, b.ID) })
	if !slices.Equal(got, all) {
		t.Fatalf("claimed %v, want each of the 8 once", got)
	}
	b.close()
	if b.take(free) {
		t.Fatal("take from a closed inbox with nothing left: true")
	}
}
