package component

import (
	"context"
	"errors"

	"github.com/tetherfn/tether/bindings"
)

// Binding types for these tests only: declarations to validate against.
// Their constructors are never called; the loader does not open bindings.
func init() {
	errTestOnly := errors.New("test-only type: the loader tests never open bindings")
	newInput := func(context.Context, bindings.Config) (bindings.Input, error) { return nil, errTestOnly }
	newOutput := func(context.Context, bindings.Config) (bindings.Output, error) { return nil, errTestOnly }

	bindings.Register(bindings.Type{
		Name:       "bindings.testqueue",
		Aliases:    []string{"bindings.tq"},
		Version:    "v1",
		Summary:    "A queue, for the loader's tests.",
		Directions: bindings.DirBoth,
		Metadata: []bindings.MetadataKey{
			{Name: "queueName", Required: true, Description: "Queue to use."},
			{Name: "password", Secret: true, Description: "Broker password."},
			{Name: "maxMessages", Kind: bindings.KindInt, Default: "10", Direction: bindings.DirInput, Description: "Messages per poll."},
			{Name: "mode", Kind: bindings.KindEnum, Enum: []string{"fifo", "lifo"}, Default: "fifo", Description: "Order."},
			{Name: "visibilityTimeout", Kind: bindings.KindDuration, Default: "30s", Direction: bindings.DirInput, Description: "Lease."},
			{Name: "ttl", Kind: bindings.KindDuration, Direction: bindings.DirOutput, Description: "Message lifetime."},
		},
		Operations: []bindings.Operation{bindings.OpCreate},
		NewInput:   newInput,
		NewOutput:  newOutput,
	})
	bindings.Register(bindings.Type{
		Name:       "bindings.testcron",
		Version:    "v1",
		Summary:    "A schedule, for the loader's tests.",
		Directions: bindings.DirInput,
		Metadata: []bindings.MetadataKey{
			{Name: "schedule", Required: true, Description: "Cron expression."},
		},
		NewInput: newInput,
	})
	bindings.Register(bindings.Type{
		Name:       "bindings.testbatch",
		Version:    "v1",
		Summary:    "A broker that reads best in large batches, for the loader's tests.",
		Directions: bindings.DirInput,
		Metadata: []bindings.MetadataKey{
			{Name: "schedule", Required: true, Description: "Cron expression."},
		},
		DeliveryDefaults: map[string]string{"batchSize": "100"},
		NewInput:         newInput,
	})
	bindings.Register(bindings.Type{
		Name:       "bindings.testhttp",
		Summary:    "An HTTP endpoint, for the loader's tests.",
		Directions: bindings.DirOutput,
		Metadata: []bindings.MetadataKey{
			{Name: "url", Required: true, Description: "Endpoint."},
			{Name: "token", Secret: true, Description: "Bearer token."},
		},
		Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet},
		NewOutput:  newOutput,
	})
}
