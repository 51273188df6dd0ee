// Package wire holds the messages a memory component in one process
// exchanges with the broker process that hosts its queue (see
// memory.Serve). They travel over net/rpc with gob, which wants exported
// types; they are not part of the memory package's API.
package wire

import "time"

// Service is the name the broker registers its methods under.
const Service = "Queues"

// Message is one delivery, as bindings.Message without the driver's handle:
// Handle names the delivery on the broker.
type Message struct {
	ID            string
	Data          []byte
	ContentType   string
	Metadata      map[string]string
	DeliveryCount int
	Key           string
	Time          time.Time
	Handle        uint64
}

// Error codes, so that a client can wrap the sentinel errors the broker's
// queue returned.
const (
	CodeClosed      = "closed"
	CodeSettled     = "settled"
	CodeFull        = "full"
	CodeUnsupported = "unsupported"
)

// Status is the error part of every reply: empty Error means success.
type Status struct {
	Error string
	Code  string
}

// OpenArgs opens an input on a queue.
type OpenArgs struct{ Queue string }

// OpenReply names the input opened.
type OpenReply struct {
	Status
	Input uint64
}

// ReceiveArgs asks an input for up to Limit messages. Call names the
// request, so that Cancel can end it.
type ReceiveArgs struct {
	Input, Call uint64
	Limit       int
}

// ReceiveReply holds the messages received.
type ReceiveReply struct {
	Status
	Messages []Message
}

// CancelArgs ends a pending Receive.
type CancelArgs struct{ Input, Call uint64 }

// SettleArgs acks (Nack false) or nacks a delivery.
type SettleArgs struct {
	Input, Handle uint64
	Nack          bool
	Delay         time.Duration
}

// CloseArgs closes an input: what it holds goes back to the queue.
type CloseArgs struct{ Input uint64 }

// InvokeArgs runs an output operation on a queue.
type InvokeArgs struct {
	Queue       string
	MaxLength   int
	Operation   string
	Data        []byte
	ContentType string
	Metadata    map[string]string
}

// InvokeReply is the operation's answer.
type InvokeReply struct {
	Status
	Data        []byte
	ContentType string
	Metadata    map[string]string
	HasResponse bool
}

// Empty is the reply of calls that only report success.
type Empty struct{ Status }
