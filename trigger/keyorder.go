package trigger

import (
	"sync"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// keyOrder keeps one key's messages of an ordered trigger in order while
// other keys run in parallel. A worker that takes a message owns its key
// until nothing of that key is left: messages of the key that arrive
// meanwhile are parked behind it, and the owner handles them next, one at a
// time. So a key whose message is retrying in place holds up only itself.
//
// Invariants, under mu:
//   - a key is in queues exactly while a worker owns it (or a message of it
//     waits in the inbox for a free worker); queues[key] holds the messages parked
//     behind it, in the order they arrived;
//   - inRoom counts the parked messages that took room, and never exceeds
//     limit: admit waits for room before parking. Only once stopping has
//     begun does admit park a message without room (its owner nacks it,
//     never handles it), and taking such a message out gives back no room,
//     so the bound holds after the stop too.
//
// admit is called by one goroutine (the receive loop); next by the owners.
type keyOrder struct {
	mu     sync.Mutex
	queues map[string][]parkedMessage
	inRoom int
	limit  int
	room   wake.Signal // fired when a parked message gives its room back
}

type parkedMessage struct {
	m    *bindings.Message
	room bool // took one of limit's places
}

func newKeyOrder(limit int) *keyOrder {
	return &keyOrder{queues: make(map[string][]parkedMessage), limit: max(limit, 1)}
}

// admit returns true when m is for a free worker: its key was free and is
// now owned by whoever takes m. Otherwise it parks m behind its key's owner
// and returns false, after waiting for room while limit messages are
// parked; once stopping is closed it waits no more and parks m without room.
func (k *keyOrder) admit(m *bindings.Message, stopping <-chan struct{}) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	for {
		q, busy := k.queues[m.Key]
		if !busy {
			k.queues[m.Key] = nil
			return true
		}
		select {
		case <-stopping:
			k.queues[m.Key] = append(q, parkedMessage{m: m})
			return false
		default:
		}
		if k.inRoom < k.limit {
			k.inRoom++
			k.queues[m.Key] = append(q, parkedMessage{m: m, room: true})
			return false
		}
		// Full: wait for an owner to take a parked message; the key may be
		// free by then, and m goes to a worker after all.
		ch := k.room.Wait()
		k.mu.Unlock()
		select {
		case <-ch:
		case <-stopping:
		}
		k.mu.Lock()
	}
}

// next returns the next message parked behind key, or nil after freeing
// the key. Called by the key's owner when it is done with a message.
func (k *keyOrder) next(key string) *bindings.Message { return k.pop(key, true) }

// take returns the next message parked behind key, or nil, and keeps the
// key owned either way: for an owner still holding messages of the key (a
// batch being built).
func (k *keyOrder) take(key string) *bindings.Message { return k.pop(key, false) }

func (k *keyOrder) pop(key string, free bool) *bindings.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	q := k.queues[key]
	if len(q) == 0 {
		if free {
			delete(k.queues, key)
		}
		return nil
	}
	p := q[0]
	q[0] = parkedMessage{}
	k.queues[key] = q[1:]
	if p.room {
		k.inRoom--
		k.room.Fire()
	}
	return p.m
}

// free frees key, which admit gave to a message that then never reached a
// worker (the receive loop is stopping). Nothing is parked behind it: only
// the receive loop parks.
func (k *keyOrder) free(key string) {
	k.mu.Lock()
	delete(k.queues, key)
	k.mu.Unlock()
}

// parked reports how many messages are parked, and how many of them took
// room; for tests.
func (k *keyOrder) parked() (all, inRoom int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, q := range k.queues {
		all += len(q)
	}
	return all, k.inRoom
}
