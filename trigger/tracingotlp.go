//go:build !tether_nootlp

package trigger

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP exporters link gRPC and the OTLP protobuf types: about 5 MB of a
// function's binary. Built with -tags tether_nootlp, a binary has none
// (tracingnootlp.go) and OTEL_TRACES_EXPORTER=otlp is refused at start-up.

func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, string, error) {
	protocol, from := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if protocol == "" {
		protocol, from = getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	switch strings.ToLower(strings.TrimSpace(protocol)) {
	case "", "http/protobuf":
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("OTLP exporter (http/protobuf): %w", err)
		}
		return exp, "http/protobuf", nil
	case "grpc":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("OTLP exporter (grpc): %w", err)
		}
		return exp, "grpc", nil
	}
	return nil, "", fmt.Errorf("%s=%q: want grpc or http/protobuf", from, protocol)
}
