//go:build tether_nootlp

package trigger

import (
	"context"
	"errors"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// otlpExporter: this binary was built with -tags tether_nootlp, without the
// OTLP exporters (see tracingotlp.go).
func otlpExporter(context.Context, func(string) string) (sdktrace.SpanExporter, string, error) {
	return nil, "", errors.New("tracing: this binary was built without the OTLP exporters (-tags tether_nootlp); rebuild without the tag, or set OTEL_TRACES_EXPORTER=none")
}
