package bindings

import (
	"context"
	"net/http"
	"time"
)

// Input is the contract of an input (trigger) driver. Every message returned by
// Receive is settled exactly once, by Ack or Nack; until then the broker keeps
// it. Methods may be called from several goroutines at once.
type Input interface {
	// Receive blocks until at least one message is available and returns at
	// most max of them (max >= 1). It returns ctx.Err() when ctx is done and
	// ErrClosed after Close.
	Receive(ctx context.Context, max int) ([]*Message, error)
	// Ack settles m as handled: the broker will not deliver it again.
	Ack(ctx context.Context, m *Message) error
	// Nack gives m back to the broker for redelivery with DeliveryCount+1, not
	// before delay has passed when the driver declares DelayedNack (otherwise
	// the delay is a hint and the runtime keeps the message itself until then).
	Nack(ctx context.Context, m *Message, delay time.Duration) error
	// Close stops receiving. Messages received but not settled are redelivered
	// by the broker later; Ack and Nack keep working until Close returns.
	Close() error
}

// BatchAcker is implemented by inputs that settle many messages as handled
// at once more cheaply than one by one (one lock, one queued command). The
// runtime calls AckBatch, instead of Ack for each, with the messages of a
// batch function's call that its handler handled, and, for a single-message
// function, with the messages a worker handled in one run (several taken at
// once when handlers are fast). Each message is acked as
// Ack would ack it; the error joins the failures, each naming its message,
// and does not stop the others.
type BatchAcker interface {
	AckBatch(ctx context.Context, msgs []*Message) error
}

// LeaseExtender is implemented by inputs whose broker takes a message back when
// a lease (visibility timeout, ack deadline, pending idle time) runs out. The
// runtime keeps the lease of every message it received and has not settled
// (waiting for a worker, being handled, held for a retry) with one call per
// sweep, every half lease interval.
type LeaseExtender interface {
	// ExtendLeases makes the leases of msgs, received from this input and
	// not settled, end d from now (or as the broker counts it). msgs may be
	// many: the driver splits them as its broker's batch API requires (SQS
	// ChangeMessageVisibilityBatch takes 10, Redis XCLAIM many ids, one SQL
	// UPDATE all rows) and returns when every part is done or ctx ends. The
	// error joins the failures, each naming its message; messages it does not
	// name were extended. Settled messages are never passed.
	ExtendLeases(ctx context.Context, msgs []*Message, d time.Duration) error
}

// KeyBatcher is implemented by inputs that, on an ordered trigger, hand out
// one message of a key at a time (Kafka: one record per partition), so that
// the runtime never parks a key's messages behind the one being handled, at
// the cost of the other keys. A batch function's runtime keeps a key's
// messages in order within and across its batches, and a batch of one
// message per key would be small, so for an ordered trigger of a batch
// function the runtime calls SetKeyBatch(maxBatchSize) once, before the
// first Receive: the input may then have up to n messages of one key
// handed out and unsettled at once, in order.
type KeyBatcher interface {
	SetKeyBatch(n int)
}

// DeadLetterer is implemented by inputs whose broker can dead-letter a message
// itself (a RabbitMQ dead-letter exchange, say). The runtime calls DeadLetter
// for a message that failed for good when the trigger has no dead-letter
// binding; ok false means the component has no native dead letter configured,
// and the runtime nacks the message instead.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, m *Message, reason error) (ok bool, err error)
}

// HealthChecker is implemented by inputs that can tell, cheaply, whether
// they are still connected to their broker: the runtime's /readyz asks it on
// each probe (with a short deadline) and answers not ready while it fails,
// so that traffic and scaling decisions move away from a replica that
// cannot receive. Healthy must not block past ctx and should not do more
// than a ping.
type HealthChecker interface {
	Healthy(ctx context.Context) error
}

// Router is implemented by inputs that receive over the runtime's HTTP server
// (webhooks): the runtime mounts the input at Route() on its router, with the
// given methods (none means any).
type Router interface {
	http.Handler
	Route() (path string, methods []string)
}

// Direct is implemented by inputs whose messages arrive on goroutines of
// their own (a webhook's on the goroutine serving its request) and that can
// have the runtime handle each one there instead of queueing it for Receive:
// no hand-off to the runtime's receive loop, none to a worker, none back.
//
// The runtime calls SetDirect once, before it starts the trigger and before
// the input can see a message, when it handles the trigger's messages so: a
// trigger whose messages are ordered, or go to a batch handler, is still
// received. An input that was given no DirectHandler goes on with Receive.
type Direct interface {
	SetDirect(h DirectHandler)
}

// DirectHandler handles m on the caller's goroutine, through the trigger's
// whole delivery chain and within its maxConcurrency, and settles it on the
// input (Reply, then Ack or Nack) before it returns nil. It waits at most
// wait for one of the trigger's maxConcurrency handlers to be free. An error
// says it did not take m, which stays the input's to answer: ErrBusy when
// wait passed, an error wrapping ErrClosed once the trigger stops, ctx's
// error when ctx ended before the handler started (a worker freed at that
// moment does not start it).
type DirectHandler func(ctx context.Context, m *Message, wait time.Duration) error

// Firer is implemented by inputs that make their messages themselves (cron:
// a tick per schedule) and can make one on demand. The runtime's bindings
// API calls Fire for the operation OpFire on such a trigger (tether send
// <cron-binding> under tether dev); the message goes through the trigger like
// any other, and its ID is returned.
type Firer interface {
	Fire(ctx context.Context) (id string, err error)
}

// OpFire is the operation that fires a Firer trigger now.
const OpFire Operation = "fire"

// Replier is implemented by inputs whose sender waits for an answer (HTTP
// webhooks): the runtime calls Reply with the function's result before it acks
// or nacks the message.
type Replier interface {
	Reply(m *Message, r Reply)
}

// CredentialKeys is implemented by inputs whose messages carry the sender's
// credentials in metadata (a webhook's Authorization, Cookie or signature
// header): the runtime keeps those keys out of dead-letter envelopes, which
// more people read, and where a credential could be replayed from.
type CredentialKeys interface {
	CredentialKeys() []string
}

// Reply is what a request/response input sends back to its caller.
type Reply struct {
	// Status is an HTTP-style status code: 200 success, 500 handler failure...
	Status      int
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// Capabilities declares what an input driver can do, so the runtime and the
// conformance suite never have to guess.
type Capabilities struct {
	// BatchReceive: Receive may return more than one message per call.
	BatchReceive bool
	// Ordering: messages carry a Key and the broker delivers the messages of
	// one key in order.
	Ordering bool
	// Lease: the input implements LeaseExtender.
	Lease bool
	// NativeDeadLetter: the broker itself can move failed messages aside
	// (RabbitMQ DLX, SQS redrive, JetStream MaxDeliver advisories...).
	NativeDeadLetter bool
	// DelayedNack: Nack honours its delay; redelivery is not seen before it.
	DelayedNack bool
	// RequestReply: the input implements Replier.
	RequestReply bool
	// Metadata: the metadata given to the output's create arrives in the
	// input's Message.ReadMetadata() (as broker headers, attributes or user
	// properties). MQTT 3 has nowhere to carry it.
	Metadata bool
	// ContentType: the content type given to create arrives as
	// Message.ContentType.
	ContentType bool
	// DeliveryCount: Message.DeliveryCount counts deliveries (1, then one more
	// per redelivery), kept by the broker or the driver. Without it the count
	// is always 1 and the runtime cannot tell a redelivery from a first try.
	DeliveryCount bool
	// Duplicates: the broker may deliver a message again although it was
	// acked, or to two consumers at once (consumer-group rebalance, lease
	// expiry). At-least-once always allows a redelivery after a failure; this
	// flag says duplicates may happen without one.
	Duplicates bool
}
