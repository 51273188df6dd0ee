package trigger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/tetherfn/tether/bindings"
)

func inboxWorkers(n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{wake: make(chan struct{}, 1)}
	}
	return ws
}

func messages(n int) []*bindings.Message {
	ms := make([]*bindings.Message, n)
	for i := range ms {
		ms[i] = &bindings.Message{ID: fmt.Sprint(i)}
	}
	return ms
}

// TestInboxHandsOutEveryMessageOnceInOrder: workers taking concurrently get
// each message once, and one worker alone gets them in the order put.
func TestInboxHandsOutEveryMessageOnceInOrder(t *testing.T) {
	b := newInbox(8)
	ws := inboxWorkers(4)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, ok := b.take(w)
				if !ok {
					return
				}
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
			}
		}()
	}
	all := messages(1000)
	for i := 0; i < len(all); i += 7 {
		if !b.awaitRoom(context.Background()) {
			t.Fatal("awaitRoom false with a live context")
		}
		b.put(all[i:min(i+7, len(all))]...)
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

	one := newInbox(4)
	w := inboxWorkers(1)[0]
	one.put(all[:10]...)
	one.close()
	for i := range 10 {
		m, ok := one.take(w)
		if !ok || m != all[i] {
			t.Fatalf("take %d: got %v %v, want message %d", i, m, ok, i)
		}
	}
	if _, ok := one.take(w); ok {
		t.Fatal("take after close and drain: ok")
	}
}

// TestInboxWakesNoMoreWorkersThanMessages: a put of one message to four
// sleeping workers wakes one of them, and a second put before that one
// looked wakes no other: the woken worker wakes the next (below).
func TestInboxWakesNoMoreWorkersThanMessages(t *testing.T) {
	b := newInbox(8)
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
		b := newInbox(8)
		taken := make(chan *bindings.Message)
		release := make(chan struct{})
		for _, w := range inboxWorkers(4) {
			go func() {
				for {
					m, ok := b.take(w)
					if !ok {
						return
					}
					taken <- m
					<-release // handling it
				}
			}()
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

// TestInboxAwaitRoom waits while limit messages wait, and returns false when
// its context ends first.
func TestInboxAwaitRoom(t *testing.T) {
	b := newInbox(2)
	b.put(messages(3)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.awaitRoom(ctx) {
		t.Fatal("awaitRoom true with 3 waiting of limit 2")
	}
	got := make(chan bool)
	go func() { got <- b.awaitRoom(context.Background()) }()
	w := inboxWorkers(1)[0]
	for range 2 {
		if _, ok := b.take(w); !ok {
			t.Fatal("take: nothing")
		}
	}
	if !<-got {
		t.Fatal("awaitRoom false after room was made")
	}
	if n := len(b.drain()); n != 1 {
		t.Fatalf("drain gave %d messages, want 1", n)
	}
	if n := b.len(); n != 0 {
		t.Fatalf("%d wait after drain", n)
	}
}
