package memory

import (
	"context"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// output adds messages to one queue with the create operation.
type output struct {
	q         *queue
	maxLength int
	closed    atomic.Bool
}

func newOutput(cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	return &output{q: lookup(s.queue, true), maxLength: s.maxLength}, nil
}

// Invoke runs an operation. create adds a message: the request's Data (not
// copied: the caller must not change it afterwards, as with a slice sent on a
// channel), its ContentType or else metadata "contentType", its metadata
// (copied) and metadata "partitionKey" as the message's Key; the answer has no
// data. list answers every message the queue holds, get the one whose id is
// metadata "id", both as JSON (see Stored); delete removes that one, unless
// it is in flight.
func (o *output) Invoke(_ context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("memory queue %q: nil request", o.q.name)
	}
	if o.closed.Load() {
		return nil, fmt.Errorf("memory queue %q: %s: %w", o.q.name, req.Operation, bindings.ErrClosed)
	}
	switch req.Operation {
	case bindings.OpCreate:
	case bindings.OpList:
		return o.list()
	case bindings.OpGet:
		return o.get(req.Metadata)
	case bindings.OpDelete:
		return o.delete(req.Metadata)
	default:
		return nil, fmt.Errorf("memory queue %q: %w %q (supported: create, get, list, delete)", o.q.name, bindings.ErrUnsupportedOperation, req.Operation)
	}
	e := &entry{msg: bindings.Message{
		Data:          req.Data,
		ContentType:   req.ContentType,
		DeliveryCount: 1,
		Time:          time.Now(),
	}}
	if len(req.Metadata) > 0 {
		e.msg.Metadata = maps.Clone(req.Metadata)
		e.msg.Key = req.Metadata["partitionKey"]
		if e.msg.ContentType == "" {
			e.msg.ContentType = req.Metadata["contentType"]
		}
	}
	q := o.q
	q.mu.Lock()
	if o.maxLength > 0 && q.length() >= o.maxLength {
		q.mu.Unlock()
		return nil, fmt.Errorf("memory queue %q: create: %w (maxLength %d)", q.name, ErrFull, o.maxLength)
	}
	q.add(e)
	q.unlockAndWake()
	return nil, nil
}

// Close makes later creates fail; messages already created stay queued.
func (o *output) Close() error {
	o.closed.Store(true)
	return nil
}
