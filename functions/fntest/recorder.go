package fntest

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

// RecorderType is the binding type of Recorders: an output with every
// common operation, so that functions.Output[T] (which needs create) binds
// to it. Typed clients that need their own binding type do not: see Open.
var RecorderType = &bindings.Type{
	Name:       "fntest.recorder",
	Summary:    "Records every call, in memory, for tests.",
	Directions: bindings.DirOutput,
	Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete, bindings.OpList, bindings.OpExec, bindings.OpQuery},
}

// Sent is one recorded call to an output.
type Sent struct {
	Operation   bindings.Operation
	Data        []byte
	ContentType string
	Metadata    map[string]string
	// Err is what the call returned when the recorder was failing (Fail,
	// FailWith); nil for calls that succeeded.
	Err error
}

// JSON decodes the data of a recorded call into v.
func (s Sent) JSON(v any) error { return json.Unmarshal(s.Data, v) }

// Decode decodes the data of a recorded call as JSON into a T, failing the
// test when it is not one.
func Decode[T any](t testing.TB, s Sent) T {
	t.Helper()
	var v T
	if err := s.JSON(&v); err != nil {
		t.Fatalf("fntest: decode %s %q as %T: %v", s.Operation, s.Data, v, err)
	}
	return v
}

// Recorder is an in-memory output binding that records every call, in
// order. A call it is told to fail is recorded too (it was attempted).
type Recorder struct {
	name string

	mu      sync.Mutex
	sent    []Sent
	fail    error
	respond func(*bindings.InvokeRequest) (*bindings.InvokeResponse, error)
}

// NewRecorder returns a Recorder for the output component name.
func NewRecorder(name string) *Recorder { return &Recorder{name: name} }

// Binding returns the recorder as the runtime hands outputs to a Bind.
func (r *Recorder) Binding() bindings.OutputBinding {
	return bindings.OutputBinding{Name: r.name, Type: RecorderType, Output: recorderOutput{r}}
}

// Sent returns the calls recorded so far, in order, failed ones included
// (with their Err).
func (r *Recorder) Sent() []Sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// FailWith makes later calls fail with err; nil makes them succeed again.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

// Respond sets how later calls are answered (for get, query... ); nil
// answers every call with no data.
func (r *Recorder) Respond(f func(*bindings.InvokeRequest) (*bindings.InvokeResponse, error)) {
	r.mu.Lock()
	r.respond = f
	r.mu.Unlock()
}

// Reset forgets the recorded calls.
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.sent = nil
	r.mu.Unlock()
}

// recorderOutput is the bindings.Output side of a Recorder.
type recorderOutput struct{ r *Recorder }

func (o recorderOutput) Invoke(_ context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	r := o.r
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Sent{
		Operation:   req.Operation,
		Data:        slices.Clone(req.Data),
		ContentType: req.ContentType,
		Metadata:    maps.Clone(req.Metadata),
	}
	if r.fail != nil {
		s.Err = &bindings.Error{Binding: r.name, Type: RecorderType.Name, Op: "invoke " + string(req.Operation), Err: r.fail}
		r.sent = append(r.sent, s)
		return nil, s.Err
	}
	r.sent = append(r.sent, s)
	if r.respond != nil {
		return r.respond(req)
	}
	return nil, nil
}

func (recorderOutput) Close() error { return nil }
