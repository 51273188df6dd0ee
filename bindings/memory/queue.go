package memory

import (
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// state is where one delivery of a message is.
type state uint8

const (
	stateReady    state = iota // in the queue, waiting for a Receive
	stateInFlight              // received, not settled
	stateDelayed               // nacked with a delay, waiting for its timer
	stateAcked
	stateNacked
	stateReturned // its input closed before it was settled; a new delivery took its place
	stateDropped  // removed by Reset
)

// entry is one delivery of a message. A redelivery (nack, close) is a new
// entry, so that a late Ack or Nack of the old delivery can be told apart
// from the new one and changes nothing.
//
// The entry is the only allocation per message on the hot path: Receive hands
// out a pointer to msg, and a single-message batch is backed by one.
type entry struct {
	msg   bindings.Message // Handle points back to the entry
	seq   uint64           // creation order in the queue; redeliveries keep it
	state state
	owner *input      // the input holding it, when in flight
	prev  *entry      // links in the owner's in-flight list or the delayed list
	next  *entry      //
	timer *time.Timer // when delayed
	one   [1]*bindings.Message
}

// list is an intrusive doubly linked list of entries.
type list struct {
	head *entry
	n    int
}

func (l *list) push(e *entry) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	l.n++
}

func (l *list) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	l.n--
}

// queue is one named queue. Every field but name and wake is guarded by mu.
type queue struct {
	name string
	// wake holds a token when messages may be ready for a waiting receiver.
	// Whoever adds messages puts one; a receiver that leaves messages behind
	// passes it on, so one token is enough however many receivers wait.
	wake chan struct{}

	mu       sync.Mutex
	ready    ring
	inFlight int
	waiting  int // receivers blocked in Receive
	delayed  list
	inputs   map[*input]struct{}
	seq      uint64
	ids      idSource
	journal  *journal // nil unless the process persists its queues
}

// unlockAndWake releases mu and, when messages are ready and a receiver
// waits, puts the wake token. A receiver counts itself in waiting under mu
// before it blocks, so it never misses messages added after its check, and a
// busy queue with nobody waiting pays no channel operation.
func (q *queue) unlockAndWake() {
	wake := q.waiting > 0 && q.ready.n > 0
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default: // a token is already there
		}
	}
}

func (q *queue) stopWaiting() {
	q.mu.Lock()
	q.waiting--
	q.mu.Unlock()
}

// length counts every message the queue holds. Callers hold mu.
func (q *queue) length() int { return q.ready.n + q.inFlight + q.delayed.n }

// add appends a new message to the queue. Callers hold mu and release it
// with unlockAndWake.
func (q *queue) add(e *entry) {
	if e.msg.ID == "" {
		e.msg.ID = q.ids.next()
	}
	q.seq++
	e.seq = q.seq
	e.msg.Handle = e
	q.ready.pushBack(e)
	q.journal.add(e)
}

// redelivery returns the next delivery of old, with DeliveryCount+1. The
// metadata is copied so that the two deliveries' holders never share a map.
func redelivery(old *entry) *entry {
	e := &entry{seq: old.seq, msg: old.msg}
	e.msg.Metadata = maps.Clone(old.msg.Metadata)
	e.msg.DeliveryCount++
	e.msg.Handle = e
	return e
}

// requeue puts e back at its original place, after delay. Callers hold mu
// and release it with unlockAndWake.
func (q *queue) requeue(e *entry, delay time.Duration) {
	q.journal.count(e)
	if delay <= 0 {
		e.state = stateReady
		q.ready.insert(e)
		return
	}
	e.state = stateDelayed
	q.delayed.push(e)
	// The callback takes mu, which we hold, so it cannot see e.timer unset.
	e.timer = time.AfterFunc(delay, func() { q.release(e) })
}

// release moves a delayed entry back to the ready queue when its delay is up.
func (q *queue) release(e *entry) {
	q.mu.Lock()
	if e.state != stateDelayed { // Reset dropped it meanwhile
		q.mu.Unlock()
		return
	}
	q.delayed.remove(e)
	e.timer = nil
	e.state = stateReady
	q.ready.insert(e)
	q.unlockAndWake()
}

// reset drops every message of the queue. Callers hold mu.
func (q *queue) reset() {
	for e := q.ready.popFront(); e != nil; e = q.ready.popFront() {
		e.state = stateDropped
	}
	q.ready = ring{}
	for q.delayed.head != nil {
		e := q.delayed.head
		q.delayed.remove(e)
		e.timer.Stop()
		e.state = stateDropped
	}
	for in := range q.inputs {
		for in.flight.head != nil {
			e := in.flight.head
			in.flight.remove(e)
			e.owner = nil
			e.state = stateDropped
		}
	}
	q.inFlight = 0
	q.journal.truncate()
}

var queues = struct {
	sync.Mutex
	byName map[string]*queue
}{byName: map[string]*queue{}}

// lookup returns the named queue, creating it when create is true; nil when
// it does not exist and create is false.
func lookup(name string, create bool) *queue {
	queues.Lock()
	defer queues.Unlock()
	q := queues.byName[name]
	if q == nil && create {
		q = newQueue(name)
		q.journal = journalFor(name)
		queues.byName[name] = q
	}
	return q
}

func newQueue(name string) *queue {
	return &queue{name: name, wake: make(chan struct{}, 1), inputs: map[*input]struct{}{}}
}

// bindingsMessage is the message a Stored one holds.
func bindingsMessage(s Stored) bindings.Message {
	return bindings.Message{
		ID: s.ID, Data: s.Data, ContentType: s.ContentType, Metadata: s.Metadata,
		DeliveryCount: max(s.DeliveryCount, 1), Key: s.Key, Time: s.Time,
	}
}

// Publish adds messages to the named queue (created if needed), as create
// would, for tests and the emulator. Of each message it keeps Data,
// ContentType, Metadata (copied), Key, and ID, Time and DeliveryCount when
// set (a test can fake a redelivered message); it makes up the ones not set.
// Publish ignores maxLength, which belongs to output components.
func Publish(queue string, msgs ...*bindings.Message) {
	q := lookup(queue, true)
	now := time.Now()
	q.mu.Lock()
	for _, m := range msgs {
		if m == nil {
			continue
		}
		e := &entry{msg: bindings.Message{
			ID:            m.ID,
			Data:          m.Data,
			ContentType:   m.ContentType,
			Metadata:      maps.Clone(m.Metadata),
			DeliveryCount: max(m.DeliveryCount, 1),
			Key:           m.Key,
			Time:          m.Time,
		}}
		if e.msg.Time.IsZero() {
			e.msg.Time = now
		}
		q.add(e)
	}
	q.unlockAndWake()
}

// Len returns how many messages the named queue holds: ready, in flight
// (received, not settled) and waiting out a nack delay. An unknown queue has 0.
func Len(queue string) int {
	q := lookup(queue, false)
	if q == nil {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.length()
}

// Reset empties the named queue: ready, delayed and in-flight messages are
// dropped, and acking or nacking a dropped in-flight message fails with
// ErrSettled. Inputs and outputs on the queue stay open.
func Reset(queue string) {
	q := lookup(queue, false)
	if q == nil {
		return
	}
	q.mu.Lock()
	q.reset()
	q.mu.Unlock()
}

// idSource makes message ids: 16 hex digits of a process-wide counter that
// starts at a random value, so ids differ from one run to the next. Ids are
// cut from a shared string made for idBlock of them at once, which keeps id
// making off the per-message allocation count (1/128 of one); an id held
// keeps its block, 2 KB, alive.
type idSource struct {
	block string
	used  int
}

const (
	idLen   = 16
	idBlock = 128
)

var idCounter atomic.Uint64

func init() { idCounter.Store(rand.Uint64() >> 1) }

func (s *idSource) next() string {
	if s.used == len(s.block) {
		s.block, s.used = newIDBlock(idCounter.Add(idBlock)-idBlock), 0
	}
	id := s.block[s.used : s.used+idLen]
	s.used += idLen
	return id
}

// newIDBlock formats idBlock consecutive ids from first, counting in hex in
// place rather than formatting each number.
func newIDBlock(first uint64) string {
	const hex = "0123456789abcdef"
	var id [idLen]byte
	for i := range id {
		id[i] = hex[(first>>(4*(idLen-1-i)))&0xf]
	}
	var b strings.Builder
	b.Grow(idLen * idBlock)
	for range idBlock {
		b.Write(id[:])
		for i := idLen - 1; i >= 0; i-- { // id++
			switch id[i] {
			case '9':
				id[i] = 'a'
			case 'f':
				id[i] = '0'
				continue
			default:
				id[i]++
			}
			break
		}
	}
	return b.String()
}
