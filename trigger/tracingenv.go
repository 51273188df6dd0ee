package trigger

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// TracingSettings say how TracingFromEnv sets tracing up.
type TracingSettings struct {
	// Service is the service.name when neither OTEL_SERVICE_NAME nor
	// OTEL_RESOURCE_ATTRIBUTES names one.
	Service string
	// Recent, when above zero, keeps the last Recent finished spans in
	// memory for GET /v1.0/traces, and turns tracing on even without an
	// exporter (tether dev). TETHER_TRACES_RECENT sets it for RunSettings.
	Recent int
	// Getenv reads the environment; nil is os.Getenv.
	Getenv func(string) string
}

// Tracing is what TracingFromEnv set up. A nil *Tracing is tracing off.
type Tracing struct {
	// Provider makes the spans (Options.TracerProvider).
	Provider *sdktrace.TracerProvider
	// Recent holds the last finished spans (Options.RecentSpans); nil
	// without TracingSettings.Recent.
	Recent *RecentSpans
	// Exporter names what the spans are sent to: "otlp (grpc)",
	// "otlp (http/protobuf)", or "" for none.
	Exporter string
}

// Shutdown sends the spans not yet exported and stops the exporter.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.Provider.Shutdown(ctx)
}

// TracingFromEnv sets tracing up from OpenTelemetry's standard environment
// variables. Tracing is off (nil, nil) unless OTEL_TRACES_EXPORTER names
// otlp, or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or s.Recent asks for spans in memory;
// OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off whatever
// else is set.
//
// The exporter is OTLP over HTTP (http/protobuf, the specification's
// default) or gRPC, as OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL say; the exporters read the rest of
// OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, compression,
// certificates, insecure). The SDK reads OTEL_TRACES_SAMPLER(_ARG) (default
// parentbased_always_on), OTEL_BSP_* and OTEL_SPAN_*_LIMIT; the resource
// comes from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func TracingFromEnv(ctx context.Context, s TracingSettings) (*Tracing, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if b, _ := strconv.ParseBool(strings.TrimSpace(getenv("OTEL_SDK_DISABLED"))); b {
		return nil, nil
	}
	exporters := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")))
	if exporters == "" && (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		exporters = "otlp"
	}
	var opts []sdktrace.TracerProviderOption
	t := &Tracing{}
	for _, name := range strings.Split(exporters, ",") {
		switch name = strings.TrimSpace(name); name {
		case "", "none":
			if name == "none" {
				return nil, nil
			}
		case "otlp":
			exp, protocol, err := otlpExporter(ctx, getenv)
			if err != nil {
				return nil, err
			}
			opts = append(opts, sdktrace.WithBatcher(exp))
			t.Exporter = "otlp (" + protocol + ")"
		default:
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: Tether exports traces with otlp (or none)", name)
		}
	}
	if s.Recent > 0 {
		t.Recent = NewRecentSpans(s.Recent)
		opts = append(opts, sdktrace.WithSpanProcessor(t.Recent))
	}
	if len(opts) == 0 {
		return nil, nil
	}
	service := s.Service
	if service == "" {
		service = "tether"
	}
	// Later detectors win: the environment's service.name over ours.
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(service)),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	t.Provider = sdktrace.NewTracerProvider(append(opts, sdktrace.WithResource(res))...)
	return t, nil
}

// RecentSpans keeps the last finished spans in memory and serves them as
// JSON (GET /v1.0/traces on the control surface; ?trace_id= picks one
// trace): what tether dev's dashboard draws a message's waterfall from. It
// is an sdktrace.SpanProcessor.
type RecentSpans struct {
	mu    sync.Mutex
	ring  []sdktrace.ReadOnlySpan
	next  int
	full  bool
	total uint64
}

// NewRecentSpans keeps the last n spans.
func NewRecentSpans(n int) *RecentSpans {
	return &RecentSpans{ring: make([]sdktrace.ReadOnlySpan, max(n, 1))}
}

// OnStart implements sdktrace.SpanProcessor.
func (r *RecentSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor.
func (r *RecentSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	r.mu.Lock()
	r.ring[r.next] = s
	r.next++
	r.total++
	if r.next == len(r.ring) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// Shutdown implements sdktrace.SpanProcessor.
func (r *RecentSpans) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor.
func (r *RecentSpans) ForceFlush(context.Context) error { return nil }

// Spans returns the kept spans, oldest first, those of traceID only when
// it is valid.
func (r *RecentSpans) Spans(traceID trace.TraceID) []SpanJSON {
	r.mu.Lock()
	var spans []sdktrace.ReadOnlySpan
	if r.full {
		spans = append(spans, r.ring[r.next:]...)
	}
	spans = append(spans, r.ring[:r.next]...)
	r.mu.Unlock()
	out := make([]SpanJSON, 0, len(spans))
	for _, s := range spans {
		if traceID.IsValid() && s.SpanContext().TraceID() != traceID {
			continue
		}
		out = append(out, spanJSON(s))
	}
	return out
}

// SpanJSON is one finished span as GET /v1.0/traces shows it.
type SpanJSON struct {
	TraceID      string         `json:"traceId"`
	SpanID       string         `json:"spanId"`
	ParentSpanID string         `json:"parentSpanId,omitempty"`
	Name         string         `json:"name"`
	Kind         string         `json:"kind"`
	Service      string         `json:"service,omitempty"`
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`
	DurationMS   float64        `json:"durationMs"`
	Status       string         `json:"status"` // unset, ok, error
	StatusText   string         `json:"statusText,omitempty"`
	Attributes   map[string]any `json:"attributes,omitempty"`
	Events       []EventJSON    `json:"events,omitempty"`
}

// EventJSON is a span event (an error recorded, for one).
type EventJSON struct {
	Name       string         `json:"name"`
	Time       time.Time      `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

func spanJSON(s sdktrace.ReadOnlySpan) SpanJSON {
	j := SpanJSON{
		TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
		Name: s.Name(), Kind: s.SpanKind().String(), Start: s.StartTime(), End: s.EndTime(),
		DurationMS: float64(s.EndTime().Sub(s.StartTime()).Microseconds()) / 1000,
		Attributes: attrMap(s.Attributes()),
	}
	if p := s.Parent(); p.IsValid() {
		j.ParentSpanID = p.SpanID().String()
	}
	if res := s.Resource(); res != nil {
		if v, ok := res.Set().Value(semconv.ServiceNameKey); ok {
			j.Service = v.AsString()
		}
	}
	switch s.Status().Code {
	case codes.Error:
		j.Status = "error"
	case codes.Ok:
		j.Status = "ok"
	default:
		j.Status = "unset"
	}
	j.StatusText = s.Status().Description
	for _, e := range s.Events() {
		j.Events = append(j.Events, EventJSON{Name: e.Name, Time: e.Time, Attributes: attrMap(e.Attributes)})
	}
	return j
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	if len(kvs) == 0 {
		return nil
	}
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// ServeHTTP answers {"spans": [...], "total": n}: the kept spans, oldest
// first, of one trace with ?trace_id=<32 hex digits>; total counts every
// span finished since start, kept or not.
func (r *RecentSpans) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var id trace.TraceID
	if q := req.URL.Query().Get("trace_id"); q != "" {
		var err error
		if id, err = trace.TraceIDFromHex(q); err != nil {
			writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "trace_id: want 32 hex digits, not all zero")
			return
		}
	}
	r.mu.Lock()
	total := r.total
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Spans []SpanJSON `json:"spans"`
		Total uint64     `json:"total"`
	}{r.Spans(id), total})
}
