package memory

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Stored is one message held by a queue, as the list and get operations
// answer it (JSON): a dead-letter queue can be read back, and a message
// taken out with delete, without receiving it.
type Stored struct {
	ID            string            `json:"id"`
	Data          []byte            `json:"data"`
	ContentType   string            `json:"contentType,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	DeliveryCount int               `json:"deliveryCount"`
	Key           string            `json:"key,omitempty"`
	Time          time.Time         `json:"time"`
	// State is ready, delayed (nacked, waiting out its delay) or in-flight
	// (received and not settled).
	State string `json:"state"`
}

func stored(e *entry, state string) Stored {
	return Stored{
		ID: e.msg.ID, Data: e.msg.Data, ContentType: e.msg.ContentType,
		Metadata: maps.Clone(e.msg.Metadata), DeliveryCount: e.msg.DeliveryCount,
		Key: e.msg.Key, Time: e.msg.Time, State: state,
	}
}

// snapshot returns every message of the queue in queue order. Callers hold
// mu.
func (q *queue) snapshot() []Stored {
	type held struct {
		seq uint64
		s   Stored
	}
	var all []held
	for i := range q.ready.n {
		e := q.ready.at(i)
		all = append(all, held{e.seq, stored(e, "ready")})
	}
	for e := q.delayed.head; e != nil; e = e.next {
		all = append(all, held{e.seq, stored(e, "delayed")})
	}
	for in := range q.inputs {
		for e := in.flight.head; e != nil; e = e.next {
			all = append(all, held{e.seq, stored(e, "in-flight")})
		}
	}
	slices.SortStableFunc(all, func(a, b held) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]Stored, len(all))
	for i, h := range all {
		out[i] = h.s
	}
	return out
}

// list answers every message of the queue as a JSON array of Stored.
func (o *output) list() (*bindings.InvokeResponse, error) {
	o.q.mu.Lock()
	all := o.q.snapshot()
	o.q.mu.Unlock()
	if all == nil {
		all = []Stored{}
	}
	data, err := json.Marshal(all)
	if err != nil {
		return nil, err
	}
	return &bindings.InvokeResponse{Data: data, ContentType: "application/json"}, nil
}

// get answers the message whose id is metadata "id", as a JSON Stored.
func (o *output) get(md map[string]string) (*bindings.InvokeResponse, error) {
	id := md["id"]
	if id == "" {
		return nil, fmt.Errorf("memory queue %q: get: metadata id is missing", o.q.name)
	}
	o.q.mu.Lock()
	all := o.q.snapshot()
	o.q.mu.Unlock()
	for _, s := range all {
		if s.ID == id {
			data, err := json.Marshal(s)
			if err != nil {
				return nil, err
			}
			return &bindings.InvokeResponse{Data: data, ContentType: "application/json"}, nil
		}
	}
	return nil, fmt.Errorf("memory queue %q: get: no message %q", o.q.name, id)
}

// delete removes the ready or delayed message whose id is metadata "id". A
// message in flight belongs to its receiver until settled, so deleting it
// fails.
func (o *output) delete(md map[string]string) (*bindings.InvokeResponse, error) {
	id := md["id"]
	if id == "" {
		return nil, fmt.Errorf("memory queue %q: delete: metadata id is missing", o.q.name)
	}
	q := o.q
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.ready.n {
		if e := q.ready.at(i); e.msg.ID == id {
			q.ready.removeAt(i)
			e.state = stateDropped
			q.journal.done(e)
			return nil, nil
		}
	}
	for e := q.delayed.head; e != nil; e = e.next {
		if e.msg.ID == id {
			q.delayed.remove(e)
			e.timer.Stop()
			e.state = stateDropped
			q.journal.done(e)
			return nil, nil
		}
	}
	for in := range q.inputs {
		for e := in.flight.head; e != nil; e = e.next {
			if e.msg.ID == id {
				return nil, fmt.Errorf("memory queue %q: delete: message %q is in flight; it can be deleted once its receiver settles it", q.name, id)
			}
		}
	}
	return nil, fmt.Errorf("memory queue %q: delete: no message %q", q.name, id)
}
