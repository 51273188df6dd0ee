package memory

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// TestJournalReplay: what a queue journals, replayed, is the queue's live
// messages with their delivery counts, in order; a torn last line is
// ignored.
func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q"+journalExt)
	j, err := rewrite(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := newQueue("journal-" + t.Name())
	q.journal = j
	in := &input{q: q, done: make(chan struct{})}
	q.inputs[in] = struct{}{}
	Publish2 := func(data string) {
		q.mu.Lock()
		q.add(&entry{msg: bindings.Message{Data: []byte(data), DeliveryCount: 1, Time: time.Now()}})
		q.mu.Unlock()
	}
	for _, d := range []string{"a", "b", "c", "d"} {
		Publish2(d)
	}
	msgs, err := in.Receive(t.Context(), 3) // a, b, c
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(t.Context(), msgs[1]); err != nil { // b done
		t.Fatal(err)
	}
	if err := in.Nack(t.Context(), msgs[0], 0); err != nil { // a counted 2
		t.Fatal(err)
	}
	o := &output{q: q}
	if _, err := o.Invoke(t.Context(), &bindings.InvokeRequest{Operation: bindings.OpDelete, Metadata: map[string]string{"id": msgs[0].ID}}); err != nil {
		t.Fatal(err) // a deleted
	}
	// c stays in flight: a broker that stops now must find it again.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"done","id`) // a kill mid-write
	f.Close()

	live, err := replay(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 2 || string(live[0].Data) != "c" || string(live[1].Data) != "d" {
		t.Fatalf("replayed %+v, want c and d", live)
	}
	if _, err := rewrite(path, live); err != nil {
		t.Fatal(err)
	}
	again, err := replay(path)
	if err != nil || len(again) != 2 || again[0].ID != live[0].ID {
		t.Fatalf("after rewrite: %+v, %v", again, err)
	}
}
