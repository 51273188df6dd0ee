package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

// spanLog records finished spans and lets a test wait until a condition on
// them holds, woken by each span that ends.
type spanLog struct {
	rec   *tracetest.SpanRecorder
	ended chan struct{}
}

func newSpanLog() *spanLog {
	return &spanLog{rec: tracetest.NewSpanRecorder(), ended: make(chan struct{}, 1)}
}

func (l *spanLog) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) { l.rec.OnStart(ctx, s) }
func (l *spanLog) OnEnd(s sdktrace.ReadOnlySpan) {
	l.rec.OnEnd(s)
	select {
	case l.ended <- struct{}{}:
	default:
	}
}
func (l *spanLog) Shutdown(ctx context.Context) error   { return l.rec.Shutdown(ctx) }
func (l *spanLog) ForceFlush(ctx context.Context) error { return l.rec.ForceFlush(ctx) }

// provider returns a tracer provider that records every span in l.
func (l *spanLog) provider(t testing.TB) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(l))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}

// await returns the ended spans once ok holds for them, or fails the test
// after a minute.
func (l *spanLog) await(t testing.TB, what string, ok func([]sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		spans := l.rec.Ended()
		if ok(spans) {
			return spans
		}
		select {
		case <-l.ended:
		case <-deadline:
			t.Fatalf("waited a minute for %s; spans ended: %s", what, describe(spans))
		}
	}
}

// all is an await condition: a span of each name has ended.
func all(names ...string) func([]sdktrace.ReadOnlySpan) bool {
	return func(spans []sdktrace.ReadOnlySpan) bool {
		for _, n := range names {
			if len(named(spans, n)) == 0 {
				return false
			}
		}
		return true
	}
}

func describe(spans []sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString("\n  " + s.Name() + " " + s.SpanContext().SpanID().String() + " parent " + s.Parent().SpanID().String())
	}
	return b.String()
}

// named returns the spans called name.
func named(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// wantChild fails unless child's parent is parent, in parent's trace.
func wantChild(t testing.TB, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.Parent().SpanID() != parent.SpanContext().SpanID() || child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span %q (trace %s) has parent %s; want %q (%s, trace %s)", child.Name(), child.SpanContext().TraceID(),
			child.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID(), parent.SpanContext().TraceID())
	}
}

// rootSpan starts a span standing for whoever sent the first message, and
// returns it with metadata carrying its trace context.
func rootSpan(tp trace.TracerProvider) (trace.Span, map[string]string) {
	ctx, span := tp.Tracer("test").Start(context.Background(), "send from test", trace.WithSpanKind(trace.SpanKindProducer))
	return span, trigger.Inject(ctx, map[string]string{"tenant": "acme"})
}

// TestTracingPipeline: function a (trigger "in", return "mid") and
// function b (trigger "mid") on memory queues. The chain of spans runs
// from the sender through a's delivery, attempt and send to b's delivery,
// and b sees a traceparent naming a's send span.
func TestTracingPipeline(t *testing.T) {
	in, mid := unique(t, "in"), unique(t, "mid")
	set := loadComponents(t, memoryComponent("in", in, nil), memoryComponent("mid", mid, nil))
	log := newSpanLog()
	tp := log.provider(t)
	seen := make(chan map[string]string, 1)
	startWith(t, trigger.Options{Components: set, TracerProvider: tp, Functions: []trigger.Function{
		{Name: "a", Trigger: "in", Return: "mid", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{Data: m.Data, Metadata: map[string]string{"traceparent": "00-relayed-by-hand-01"}}, nil
		}},
		{Name: "b", Trigger: "mid", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			seen <- m.ReadMetadata()
			return trigger.Result{}, nil
		}},
	}})
	root, md := rootSpan(tp)
	root.End()
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte(`{"n":1}`), Metadata: md})
	spans := log.await(t, "a's and b's spans", all("process "+in, "attempt a", "send "+mid, "process "+mid, "attempt b"))

	aDelivery := named(spans, "process "+in)
	aAttempt := named(spans, "attempt a")
	aSend := named(spans, "send "+mid)
	bDelivery := named(spans, "process "+mid)
	bAttempt := named(spans, "attempt b")
	if len(aDelivery) != 1 || len(aAttempt) != 1 || len(aSend) != 1 || len(bAttempt) != 1 {
		t.Fatalf("want one delivery, attempt and send span of a and one attempt of b; got %s", describe(spans))
	}
	rootSpan := named(spans, "send from test")[0]
	wantChild(t, aDelivery[0], rootSpan)
	wantChild(t, aAttempt[0], aDelivery[0])
	wantChild(t, aSend[0], aAttempt[0])
	wantChild(t, bDelivery[0], aSend[0])
	wantChild(t, bAttempt[0], bDelivery[0])

	d := aDelivery[0]
	if d.SpanKind() != trace.SpanKindConsumer || aSend[0].SpanKind() != trace.SpanKindProducer {
		t.Errorf("kinds: delivery %s, send %s; want consumer, producer", d.SpanKind(), aSend[0].SpanKind())
	}
	for key, want := range map[string]string{
		"messaging.system": "tether_memory", "messaging.destination.name": in, "messaging.operation.type": "process",
		"messaging.message.id": "m1", "tether.function": "a", "tether.binding": "in", "tether.outcome": "acked",
	} {
		if got := attr(d, key).String(); got != want {
			t.Errorf("a's delivery span: %s = %q; want %q", key, got, want)
		}
	}
	if got := attr(aSend[0], "messaging.operation.type").AsString(); got != "send" {
		t.Errorf("a's send span: messaging.operation.type = %q; want send", got)
	}
	got := <-seen
	sc := aSend[0].SpanContext()
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; got["traceparent"] != want {
		t.Errorf("b received traceparent %q; want a's send span, %q", got["traceparent"], want)
	}
	if got["tenant"] != "" {
		t.Errorf("b received the first message's metadata: %v", got)
	}
}

// TestTracingRetriesAndDeadLetter: on an ordered trigger a message is
// retried in place, so its one delivery span has an attempt span per
// attempt, the last one the parent of the dead letter's send.
func TestTracingRetriesAndDeadLetter(t *testing.T) {
	in, dead := unique(t, "in"), unique(t, "dead")
	set := loadComponents(t, memoryComponent("in", in, map[string]string{
		"ordered": "true", "maxAttempts": "2", "initialInterval": "10ms", "deadLetter": "dead",
	}), memoryComponent("dead", dead, map[string]string{"direction": "output"}))
	log := newSpanLog()
	startWith(t, trigger.Options{Components: set, TracerProvider: log.provider(t), Functions: []trigger.Function{
		{Name: "fails", Trigger: "in", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{}, errors.New("no stock")
		}},
	}})
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte("x")})
	spans := log.await(t, "the delivery span", func(s []sdktrace.ReadOnlySpan) bool { return len(named(s, "process "+in)) == 1 })
	delivery := named(spans, "process "+in)[0]
	attempts := named(spans, "attempt fails")
	sends := named(spans, "send "+dead)
	if len(attempts) != 2 || len(sends) != 1 {
		t.Fatalf("want 2 attempts and a dead-letter send; got %s", describe(spans))
	}
	for i, want := range []string{"retry", "dead-lettered"} {
		a := attempts[i]
		wantChild(t, a, delivery)
		if got := attr(a, "tether.outcome").AsString(); got != want {
			t.Errorf("attempt %d: outcome %q; want %q", i+1, got, want)
		}
		if got := attr(a, "tether.attempt").AsInt64(); got != int64(i+1) {
			t.Errorf("attempt %d: tether.attempt = %d", i+1, got)
		}
		if a.Status().Code != codes.Error || len(a.Events()) == 0 || a.Events()[0].Name != "exception" {
			t.Errorf("attempt %d: status %v, events %v; want the error recorded", i+1, a.Status(), a.Events())
		}
	}
	if d := attr(attempts[0], "tether.retry.delay").AsFloat64(); d <= 0 {
		t.Errorf("first attempt: tether.retry.delay = %v; want the backoff", d)
	}
	if got := attr(attempts[1], "tether.dead_letter.binding").AsString(); got != "dead" {
		t.Errorf("last attempt: tether.dead_letter.binding = %q", got)
	}
	wantChild(t, sends[0], attempts[1])
	if got := attr(delivery, "tether.outcome").AsString(); got != "dead-lettered" || delivery.Status().Code != codes.Error {
		t.Errorf("delivery: outcome %q, status %v; want dead-lettered, error", got, delivery.Status())
	}
	if got := attr(delivery, "tether.attempts").AsInt64(); got != 2 {
		t.Errorf("delivery: tether.attempts = %d; want 2", got)
	}
}

// TestTracingLogLines: what a handler logs through functions.Logger, and
// the runtime's line about a failed attempt, carry the attempt span's ids.
func TestTracingLogLines(t *testing.T) {
	in := unique(t, "in")
	set := loadComponents(t, memoryComponent("in", in, map[string]string{"maxAttempts": "1"}))
	log := newSpanLog()
	var buf syncbuf.Buffer
	startWith(t, trigger.Options{Components: set, TracerProvider: log.provider(t),
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
		Functions: []trigger.Function{{Name: "logs", Trigger: "in", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			functions.Logger(ctx).Info("working")
			return trigger.Result{}, errors.New("broken")
		}}}})
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte("x")})
	spans := log.await(t, "the attempt span", func(s []sdktrace.ReadOnlySpan) bool { return len(named(s, "process "+in)) == 1 })
	sc := named(spans, "attempt logs")[0].SpanContext()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line["id"] == "m1" {
			lines = append(lines, line)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("want the handler's line and the runtime's; got %s", buf.String())
	}
	for _, line := range lines {
		if line["trace_id"] != sc.TraceID().String() || line["span_id"] != sc.SpanID().String() {
			t.Errorf("log line %v: want trace_id %s, span_id %s", line, sc.TraceID(), sc.SpanID())
		}
	}
}

// TestTracingOffLeavesMetadata: without a tracer provider an output call's
// metadata goes out as the handler made it.
func TestTracingOffLeavesMetadata(t *testing.T) {
	in, out := unique(t, "in"), unique(t, "out")
	set := loadComponents(t, memoryComponent("in", in, nil), memoryComponent("out", out, nil))
	seen := make(chan map[string]string, 1)
	startRuntime(t, set,
		trigger.Function{Name: "a", Trigger: "in", Return: "out", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{Data: m.Data, Metadata: map[string]string{"k": "v"}}, nil
		}},
		trigger.Function{Name: "b", Trigger: "out", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			seen <- m.ReadMetadata()
			return trigger.Result{}, nil
		}})
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte("x"), Metadata: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}})
	if got := <-seen; len(got) != 1 || got["k"] != "v" {
		t.Errorf("b received metadata %v; want only k=v", got)
	}
}

// TestRecentSpans: GET /v1.0/traces?trace_id= answers one trace's
// finished spans as JSON, with their parents.
func TestRecentSpans(t *testing.T) {
	in := unique(t, "in")
	set := loadComponents(t, memoryComponent("in", in, nil))
	log := newSpanLog()
	recent := trigger.NewRecentSpans(100)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recent), sdktrace.WithSpanProcessor(log))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rt := startWith(t, trigger.Options{Components: set, TracerProvider: tp, RecentSpans: recent, ControlAddr: "127.0.0.1:0",
		Functions: []trigger.Function{{Name: "f", Trigger: "in", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			return trigger.Result{}, nil
		}}}})
	root, md := rootSpan(tp)
	root.End()
	memory.Publish(in, &bindings.Message{ID: "m1", Data: []byte("x"), Metadata: md})
	log.await(t, "the delivery span", func(s []sdktrace.ReadOnlySpan) bool { return len(named(s, "process "+in)) == 1 })

	resp, err := http.Get("http://" + rt.ControlAddr() + "/v1.0/traces?trace_id=" + root.SpanContext().TraceID().String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Spans []trigger.SpanJSON `json:"spans"`
		Total int                `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	byName := map[string]trigger.SpanJSON{}
	for _, s := range got.Spans {
		byName[s.Name] = s
	}
	root2, delivery, attempt := byName["send from test"], byName["process "+in], byName["attempt f"]
	if len(got.Spans) != 3 || delivery.ParentSpanID != root2.SpanID || attempt.ParentSpanID != delivery.SpanID {
		t.Fatalf("GET /v1.0/traces answered %+v; want the root, the delivery and the attempt, chained", got.Spans)
	}
	if delivery.Kind != "consumer" || delivery.Attributes["messaging.message.id"] != "m1" || delivery.DurationMS < 0 {
		t.Errorf("delivery span as JSON: %+v", delivery)
	}
	resp2, err := http.Get("http://" + rt.ControlAddr() + "/v1.0/traces?trace_id=nothex")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad trace_id: %s; want 400", resp2.Status)
	}
}

// TestExtractInject: the trace context is read under any letter case and
// the CloudEvents binary-mode prefixes, and written into a copy of the
// metadata in place of any other spelling of its keys.
func TestExtractInject(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, md := range []map[string]string{
		{"traceparent": tp}, {"Traceparent": tp}, {"ce-traceparent": tp}, {"ce_traceparent": tp}, {"Ce-Traceparent": tp},
	} {
		sc := trace.SpanContextFromContext(trigger.Extract(context.Background(), md))
		if sc.SpanID().String() != "b7ad6b7169203331" {
			t.Errorf("Extract(%v) found %v", md, sc)
		}
	}
	if sc := trace.SpanContextFromContext(trigger.Extract(context.Background(), map[string]string{"x": "y"})); sc.IsValid() {
		t.Errorf("Extract of metadata without a traceparent found %v", sc)
	}
	ctx := trigger.Extract(context.Background(), map[string]string{"traceparent": tp})
	md := map[string]string{"Traceparent": "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01", "TRACESTATE": "a=b", "k": "v"}
	got := trigger.Inject(ctx, md)
	if len(got) != 2 || got["traceparent"] != tp || got["k"] != "v" {
		t.Errorf("Inject = %v; want k and the context's traceparent only", got)
	}
	if len(md) != 3 || md["Traceparent"] == tp {
		t.Errorf("Inject changed its argument: %v", md)
	}
	if got := trigger.Inject(context.Background(), md); len(got) != 3 {
		t.Errorf("Inject without a span = %v; want the metadata as it is", got)
	}
}
