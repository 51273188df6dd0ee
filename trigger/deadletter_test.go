package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// recordingOutput keeps what was sent to it; it fails while fail is set.
type recordingOutput struct {
	mu   sync.Mutex
	reqs []*bindings.InvokeRequest
	fail error
}

func (o *recordingOutput) Invoke(_ context.Context, r *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return nil, o.fail
	}
	o.reqs = append(o.reqs, r)
	return nil, nil
}
func (o *recordingOutput) Close() error { return nil }

func TestDeadLetterEnvelope(t *testing.T) {
	out := &recordingOutput{}
	m := &bindings.Message{ID: "m1", Data: []byte{0, 1, 2, 0xff}, ContentType: "application/octet-stream",
		Metadata: map[string]string{"h": "v"}}
	h := DeadLetter("fn", "in", out, time.Minute)(failWith(errBoom))

	// A retried failure is remembered but not dead-lettered.
	retrying := func(ctx context.Context, m *bindings.Message) (Result, error) {
		return Result{}, &retryError{delay: time.Second, err: errBoom}
	}
	if _, err := DeadLetter("fn", "in", out, time.Minute)(retrying)(deliveryCtx(1, m), m); err == nil {
		t.Fatal("retry error swallowed")
	}
	_, err := h(deliveryCtx(3, m), m)
	var dl *deadLetteredError
	if !errors.As(err, &dl) || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v, want deadLetteredError wrapping boom", err)
	}
	if len(out.reqs) != 1 {
		t.Fatalf("%d dead letters sent, want 1", len(out.reqs))
	}
	req := out.reqs[0]
	if req.Operation != bindings.OpCreate || req.Metadata[functions.DeadLetterMetadataKey] != "true" || len(req.Metadata) != 1 {
		t.Errorf("request = %+v; want only the dead-letter marker as metadata (the original's is in the envelope)", req)
	}
	var env functions.DeadLetter
	if err := json.Unmarshal(req.Data, &env); err != nil {
		t.Fatal(err)
	}
	if env.Function != "fn" || env.Binding != "in" || env.MessageID != "m1" || env.Attempts != 3 ||
		env.Error != "boom" || string(env.Data) != string(m.Data) || env.ContentType != m.ContentType ||
		env.Metadata["h"] != "v" || env.FirstFailure.IsZero() || env.LastFailure.Before(env.FirstFailure) {
		t.Errorf("envelope = %+v", env)
	}
	if m.Metadata[functions.DeadLetterMetadataKey] != "" {
		t.Error("the original message's metadata was modified")
	}
}

func TestDeadLetterFailureIsRetriedNotDropped(t *testing.T) {
	out := &recordingOutput{fail: errors.New("dlq down")}
	m := &bindings.Message{ID: "m1"}
	_, err := DeadLetter("fn", "in", out, time.Minute)(failWith(functions.Permanent(errBoom)))(deliveryCtx(1, m), m)
	if r, ok := asRetry(err); !ok || r.delay != time.Minute {
		t.Fatalf("err = %v, want a retry after 1m", err)
	}
}

func TestDeadLetterWithoutOutputLeavesMessageToBroker(t *testing.T) {
	m := &bindings.Message{ID: "m1"}
	_, err := DeadLetter("fn", "in", nil, time.Minute)(failWith(errBoom))(deliveryCtx(5, m), m)
	var ex *exhaustedError
	if !errors.As(err, &ex) || ex.delay != time.Minute {
		t.Fatalf("err = %v, want exhaustedError with the keep delay", err)
	}
	if _, err := DeadLetter("fn", "in", nil, time.Minute)(succeed)(deliveryCtx(1, m), m); err != nil {
		t.Fatal(err)
	}
}
