// Package dlq reads, replays and purges the dead letters of a dead-letter
// binding through the binding's list, get and delete operations (the memory
// binding has them, so every dead-letter queue of tether dev can be read).
// tether dlq and tether dev's dashboard both use it, each with its own way
// to invoke a binding.
//
//	letters, err := dlq.List(ctx, invoke, "rejected")
//	for _, l := range letters {
//		err = dlq.Replay(ctx, invoke, "rejected", l, "", nil)
//	}
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
)

// Invoker calls operation on binding with data and metadata and returns the
// answer's data, as the Dapr-compatible bindings API does.
type Invoker func(ctx context.Context, binding, operation string, data []byte, md map[string]string) ([]byte, error)

// Letter is one message of a dead-letter binding.
type Letter struct {
	ID string `json:"id"`
	// State is ready, delayed or in-flight (received by someone and not
	// settled: not replayed).
	State    string               `json:"state,omitempty"`
	Envelope functions.DeadLetter `json:"envelope"`
}

// ErrInFlight is returned by Replay for a letter someone is receiving.
var ErrInFlight = errors.New("is being received by someone")

func decode(binding string, s memory.Stored) (Letter, error) {
	l := Letter{ID: s.ID, State: s.State}
	if err := json.Unmarshal(s.Data, &l.Envelope); err != nil {
		return l, fmt.Errorf("%s: message %s is not a dead-letter envelope: %w", binding, s.ID, err)
	}
	return l, nil
}

// List returns every dead letter of binding, oldest first.
func List(ctx context.Context, invoke Invoker, binding string) ([]Letter, error) {
	data, err := invoke(ctx, binding, "list", nil, nil)
	if err != nil {
		return nil, err
	}
	var all []memory.Stored
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("%s: list: %w", binding, err)
	}
	letters := []Letter{}
	for _, s := range all {
		l, err := decode(binding, s)
		if err != nil {
			return nil, err
		}
		letters = append(letters, l)
	}
	return letters, nil
}

// Get returns the dead letter id of binding.
func Get(ctx context.Context, invoke Invoker, binding, id string) (Letter, error) {
	data, err := invoke(ctx, binding, "get", nil, map[string]string{"id": id})
	if err != nil {
		return Letter{}, err
	}
	var s memory.Stored
	if err := json.Unmarshal(data, &s); err != nil {
		return Letter{}, fmt.Errorf("%s: get %s: %w", binding, id, err)
	}
	return decode(binding, s)
}

// Replay sends l's original payload (data instead, when not nil: an edited
// one) and metadata to the binding it came from (to instead, when not
// empty), then deletes it from binding. It is sent first and deleted after:
// a failure in between replays it twice rather than losing it.
func Replay(ctx context.Context, invoke Invoker, binding string, l Letter, to string, data []byte) error {
	if l.State == "in-flight" {
		return fmt.Errorf("%s: %s %w", binding, l.ID, ErrInFlight)
	}
	e := l.Envelope
	if to == "" {
		to = e.Binding
	}
	if to == "" {
		return fmt.Errorf("%s: dead letter %s names no binding it came from: pass --to", binding, l.ID)
	}
	if data == nil {
		data = e.Data
	}
	md := map[string]string{}
	for k, v := range e.Metadata {
		md[k] = v
	}
	if e.ContentType != "" && md["contentType"] == "" {
		md["contentType"] = e.ContentType
	}
	if _, err := invoke(ctx, to, "create", data, md); err != nil {
		return fmt.Errorf("replay %s to %s: %w", l.ID, to, err)
	}
	if err := Delete(ctx, invoke, binding, l.ID); err != nil {
		return fmt.Errorf("replayed %s to %s, but could not delete it from %s: %w", l.ID, to, binding, err)
	}
	return nil
}

// Delete deletes the dead letter id of binding.
func Delete(ctx context.Context, invoke Invoker, binding, id string) error {
	_, err := invoke(ctx, binding, "delete", nil, map[string]string{"id": id})
	return err
}

// Purge deletes every dead letter of binding and returns how many.
func Purge(ctx context.Context, invoke Invoker, binding string) (int, error) {
	letters, err := List(ctx, invoke, binding)
	if err != nil {
		return 0, err
	}
	for i, l := range letters {
		if err := Delete(ctx, invoke, binding, l.ID); err != nil {
			return i, err
		}
	}
	return len(letters), nil
}
