// Package memory is the in-process queue binding, type "bindings.memory": named
// queues shared by every input and output of one process. It needs no broker,
// so it is the default for running and testing functions locally, and it is
// the reference behaviour the conformance suite (package bindingtest) checks
// other drivers against.
//
// A component writes to a queue with the create operation and triggers a
// function from it:
//
//	out, _, _ := bindings.OpenOutput(ctx, bindings.Config{Name: "orders", Type: "bindings.memory"})
//	in, _, _ := bindings.OpenInput(ctx, bindings.Config{Name: "orders", Type: "bindings.memory"})
//	out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: []byte(`{"id":1}`)})
//	msgs, _ := in.Receive(ctx, 10)
//	in.Ack(ctx, msgs[0])
//
// list, get and delete read a queue without receiving from it (a dead-letter
// queue, say): see [Stored].
//
// Tests and the emulator reach queues directly with [Publish], [Len] and
// [Reset]. Queues live as long as the process, unless it calls [Persist].
//
// Several processes share queues through a broker process: one calls
// [Serve], and in the others [BrokerEnv] points every memory component at it,
// with the same semantics (the conformance suite runs both ways). tether dev
// is that broker for the functions it runs.
package memory

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding's type name in component files.
const TypeName = "bindings.memory"

// Errors of this driver, besides bindings.ErrClosed and
// bindings.ErrUnsupportedOperation.
var (
	// ErrFull: create found the queue at its output's maxLength.
	ErrFull = errors.New("queue full")
	// ErrSettled: the message was already acked or nacked (or dropped by
	// Reset); settling it again changes nothing.
	ErrSettled = errors.New("message already settled")
)

func init() {
	bindings.Register(bindings.Type{
		Name:       TypeName,
		Version:    "v1",
		Summary:    "In-process queue: no broker, for local runs and tests.",
		Directions: bindings.DirBoth,
		Metadata: []bindings.MetadataKey{
			{Name: "queue", Kind: bindings.KindString, Description: "Name of the queue, shared by every component of the process that names it. Default: the component's name."},
			{Name: "maxLength", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirOutput, Description: "Most messages the queue may hold (ready, in flight and waiting out a nack delay) for create to add one; at the limit create fails with a queue-full error (memory.ErrFull), it does not block. 0 means unbounded; negative is an error."},
		},
		Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpList, bindings.OpDelete},
		Capabilities: bindings.Capabilities{
			BatchReceive:  true,
			Ordering:      true,
			DelayedNack:   true,
			Metadata:      true,
			ContentType:   true,
			DeliveryCount: true,
		},
		// Both directions check every key, so one check serves both.
		Check: func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
		NewInput: func(_ context.Context, cfg bindings.Config) (bindings.Input, error) {
			if addr := os.Getenv(BrokerEnv); addr != "" {
				s, err := parse(cfg)
				if err != nil {
					return nil, err
				}
				return newRemoteInput(addr, s)
			}
			return newInput(cfg)
		},
		NewOutput: func(_ context.Context, cfg bindings.Config) (bindings.Output, error) {
			if addr := os.Getenv(BrokerEnv); addr != "" {
				s, err := parse(cfg)
				if err != nil {
					return nil, err
				}
				return &remoteOutput{b: brokerAt(addr), queue: s.queue, maxLength: s.maxLength}, nil
			}
			return newOutput(cfg)
		},
	})
}

// settings are a component's validated keys. Both directions check every key,
// so a component file is valid or not whichever side opens it first.
type settings struct {
	queue     string
	maxLength int
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{queue: md.String("queue"), maxLength: md.Int("maxLength")}
	if s.queue == "" {
		s.queue = cfg.Name
	}
	if s.queue == "" {
		return s, &bindings.KeyError{Key: "queue", Msg: "no queue name: set it, or give the component a name"}
	}
	if s.maxLength < 0 {
		return s, &bindings.KeyError{Key: "maxLength", Msg: fmt.Sprintf("must be 0 (unbounded) or more, got %d", s.maxLength)}
	}
	return s, nil
}
