package trigger

import (
	"testing"
	"testing/synctest"

	"github.com/tetherfn/tether/bindings"
)

// TestKeyOrder drives a keyOrder step by step: which messages go to a
// worker, which park, in what order the owners take them, and the room
// parked messages hold, through a stop.
func TestKeyOrder(t *testing.T) {
	type step struct {
		op   string // "admit", "next", "stop"
		key  string
		id   string // admit: the message; next: the one expected ("" for none)
		want string // admit: "worker", "parked" or "blocks"
		// after the step
		parked, inRoom int
	}
	tests := []struct {
		name  string
		limit int
		steps []step
	}{
		{"keys run in parallel, one message of a key at a time", 2, []step{
			{op: "admit", key: "a", id: "a1", want: "worker"},
			{op: "admit", key: "b", id: "b1", want: "worker"},
			{op: "admit", key: "a", id: "a2", want: "parked", parked: 1, inRoom: 1},
			{op: "admit", key: "a", id: "a3", want: "parked", parked: 2, inRoom: 2},
			{op: "next", key: "b", id: "", parked: 2, inRoom: 2},
			{op: "admit", key: "b", id: "b2", want: "worker", parked: 2, inRoom: 2},
			{op: "next", key: "a", id: "a2", parked: 1, inRoom: 1},
			{op: "next", key: "a", id: "a3", parked: 0, inRoom: 0},
			{op: "next", key: "a", id: ""},
			{op: "admit", key: "a", id: "a4", want: "worker"},
		}},
		{"parking is bounded", 1, []step{
			{op: "admit", key: "a", id: "a1", want: "worker"},
			{op: "admit", key: "a", id: "a2", want: "parked", parked: 1, inRoom: 1},
			{op: "admit", key: "a", id: "a3", want: "blocks", parked: 1, inRoom: 1},
		}},
		{"a stop parks without room, and gives none back", 1, []step{
			{op: "admit", key: "a", id: "a1", want: "worker"},
			{op: "admit", key: "b", id: "b1", want: "worker"},
			{op: "admit", key: "a", id: "a2", want: "parked", parked: 1, inRoom: 1},
			{op: "stop", parked: 1, inRoom: 1},
			{op: "admit", key: "b", id: "b2", want: "parked", parked: 2, inRoom: 1},
			{op: "admit", key: "b", id: "b3", want: "parked", parked: 3, inRoom: 1},
			// b's owner takes what parked without room: a2 keeps its room.
			{op: "next", key: "b", id: "b2", parked: 2, inRoom: 1},
			{op: "next", key: "b", id: "b3", parked: 1, inRoom: 1},
			{op: "next", key: "a", id: "a2", parked: 0, inRoom: 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				k := newKeyOrder(tt.limit)
				stopping := make(chan struct{})
				for i, s := range tt.steps {
					switch s.op {
					case "stop":
						close(stopping)
					case "admit":
						got := make(chan bool, 1)
						go func() { got <- k.admit(&bindings.Message{ID: s.id, Key: s.key}, stopping) }()
						synctest.Wait()
						select {
						case toWorker := <-got:
							if w := map[bool]string{true: "worker", false: "parked"}[toWorker]; w != s.want {
								t.Fatalf("step %d: admit %s = %s, want %s", i, s.id, w, s.want)
							}
						default:
							if s.want != "blocks" {
								t.Fatalf("step %d: admit %s blocks, want %s", i, s.id, s.want)
							}
							close(stopping) // let it end, as a stop would
							<-got
							return
						}
					case "next":
						var got string
						if m := k.next(s.key); m != nil {
							got = m.ID
						}
						if got != s.id {
							t.Fatalf("step %d: next of %s = %q, want %q", i, s.key, got, s.id)
						}
					}
					if all, inRoom := k.parked(); all != s.parked || inRoom != s.inRoom {
						t.Fatalf("step %d (%s %s): %d parked, %d in room; want %d, %d", i, s.op, s.id, all, inRoom, s.parked, s.inRoom)
					}
				}
			})
		})
	}
}

// TestKeyOrderFreedKeyTakesNoRoom: a message that waited for room and found
// its key free meanwhile goes to a worker, and leaves the room as it was.
func TestKeyOrderFreedKeyTakesNoRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKeyOrder(1)
		never := make(chan struct{})
		k.admit(&bindings.Message{ID: "a1", Key: "a"}, never)
		k.admit(&bindings.Message{ID: "a2", Key: "a"}, never) // parked, in the only room
		got := make(chan bool, 1)
		go func() { got <- k.admit(&bindings.Message{ID: "a3", Key: "a"}, never) }()
		synctest.Wait() // a3 waits for room
		if m := k.next("a"); m == nil || m.ID != "a2" {
			t.Fatalf("next = %v, want a2", m)
		}
		synctest.Wait()
		if <-got {
			t.Fatal("a3 went to a worker while a's owner has yet to finish a2")
		}
		if m := k.next("a"); m == nil || m.ID != "a3" {
			t.Fatalf("next = %v, want a3", m)
		}
		if k.next("a") != nil {
			t.Fatal("a not free")
		}
		if all, inRoom := k.parked(); all != 0 || inRoom != 0 {
			t.Fatalf("%d parked, %d in room after all were taken", all, inRoom)
		}
	})
}

// TestKeyOrderStopKeepsTheBound: a message waiting for room when the stop
// begins, whose key was freed meanwhile, goes to a worker without giving
// back room it never took (that would let limit+1 messages park).
func TestKeyOrderStopKeepsTheBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		k := newKeyOrder(1)
		stopping := make(chan struct{})
		k.admit(&bindings.Message{ID: "a1", Key: "a"}, stopping)
		k.admit(&bindings.Message{ID: "b1", Key: "b"}, stopping)
		k.admit(&bindings.Message{ID: "a2", Key: "a"}, stopping) // the only room
		got := make(chan bool, 1)
		go func() { got <- k.admit(&bindings.Message{ID: "b2", Key: "b"}, stopping) }()
		synctest.Wait() // b2 waits for room
		if k.next("b") != nil {
			t.Fatal("nothing was parked behind b1")
		}
		close(stopping)
		if !<-got {
			t.Fatal("b2 parked behind a free key")
		}
		if all, inRoom := k.parked(); all != 1 || inRoom != 1 {
			t.Fatalf("%d parked, %d in room; want a2 alone, in its room", all, inRoom)
		}
	})
}

// TestKeyOrderTakeKeepsTheKey: take hands out what is parked behind a key
// and, unlike next, keeps the key owned when nothing is: a batch still
// holding messages of the key must not lose it to another worker.
func TestKeyOrderTakeKeepsTheKey(t *testing.T) {
	k := newKeyOrder(10)
	never := make(chan struct{})
	first, second := &bindings.Message{ID: "1", Key: "k"}, &bindings.Message{ID: "2", Key: "k"}
	if !k.admit(first, never) || k.admit(second, never) {
		t.Fatal("want the first message to take the key and the second parked")
	}
	if m := k.take("k"); m != second {
		t.Fatalf("take = %v, want the parked message", m)
	}
	if m := k.take("k"); m != nil {
		t.Fatalf("take = %v, want nil", m)
	}
	if k.admit(&bindings.Message{ID: "3", Key: "k"}, never) {
		t.Fatal("the key was freed by take: a third message went to a free worker")
	}
	if m := k.next("k"); m == nil || m.ID != "3" {
		t.Fatalf("next = %v, want 3", m)
	}
	if m := k.next("k"); m != nil {
		t.Fatalf("next = %v, want nil (and the key freed)", m)
	}
	if !k.admit(&bindings.Message{ID: "4", Key: "k"}, never) {
		t.Fatal("next freed nothing: the key is still owned")
	}
}

// TestKeyOrderFreeGivesTheKeyBack: a key admitted for a message that never
// reached a worker is free again once freed: the next message of it goes to
// a worker.
func TestKeyOrderFreeGivesTheKeyBack(t *testing.T) {
	k := newKeyOrder(1)
	never := make(chan struct{})
	if !k.admit(&bindings.Message{ID: "a1", Key: "a"}, never) {
		t.Fatal("a1 parked behind a free key")
	}
	k.free("a")
	if !k.admit(&bindings.Message{ID: "a2", Key: "a"}, never) {
		t.Fatal("a2 parked behind a freed key")
	}
}
