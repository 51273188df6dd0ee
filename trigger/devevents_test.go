package trigger

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestDevEventsSendsAndCountsDropped: events go to the URL as JSON lines,
// with the process's pid; while the sender is stuck on a slow tether dev,
// Observe does not wait: what overflows the buffer is dropped, and the
// count reaches tether dev with a later batch. Close sends what is left.
func TestDevEventsSendsAndCountsDropped(t *testing.T) {
	var mu sync.Mutex
	var got []DeliveryEvent
	var dropped int
	firstIn, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(firstIn); <-release })
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type %q", ct)
		}
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		mu.Lock()
		defer mu.Unlock()
		for sc.Scan() {
			var ev DeliveryEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("line %q: %v", sc.Bytes(), err)
			}
			got = append(got, ev)
		}
		if v := r.Header.Get(DroppedHeader); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Errorf("%s: %q", DroppedHeader, v)
			}
			dropped += n
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	d := newDevEvents(srv.URL, nil)
	d.Observe(DeliveryEvent{Kind: EventReceived, MessageID: "first"})
	select {
	case <-firstIn: // the sender is now stuck in its first POST
	case <-time.After(time.Minute):
		t.Fatal("no POST after a minute")
	}
	const over = 5
	for i := range devEventsBuffer + over {
		d.Observe(DeliveryEvent{Kind: EventAttempt, MessageID: strconv.Itoa(i)})
	}
	close(release)
	d.Close(time.Minute)

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1+devEventsBuffer || dropped != over {
		t.Fatalf("tether dev got %d events and %d dropped, want %d and %d", len(got), dropped, 1+devEventsBuffer, over)
	}
	for i, ev := range got {
		if ev.PID != os.Getpid() {
			t.Fatalf("event %d: pid %d, want %d", i, ev.PID, os.Getpid())
		}
		if i > 0 && ev.MessageID != strconv.Itoa(i-1) {
			t.Fatalf("event %d is message %s, want %d: out of order", i, ev.MessageID, i-1)
		}
	}
}
