package main

import (
	"regexp"
	"strings"
)

// target is a figure the project aims for (issue 17), checked against the
// ratios whose package and ID match. Op is ">=" or "<=" for a ratio, ""
// to show one without a verdict; "table" lists the matching figures
// (throughput by setting) in the setting's order, met when none falls;
// "max" bounds a figure (Match over "<name> <unit>", Value in its unit: a
// cost per message); "faults" is the fault section's verdict (Pkg, Match
// and Value unused: see report.faultsTargetRow).
type target struct {
	Figure string
	Pkg    string
	// Match is a glob over ratio IDs ("BenchmarkTrigger/tether vs raw*"),
	// or over figures' "<name> <unit>" for "table"; * matches any run of
	// characters.
	Match string
	Op    string
	Value float64
}

// targets are issue 17's, on this project's 2-core machine. Batch handler
// rows match sub-benchmarks with "batch" in their names.
var targets = []target{
	{"Redis Streams, single-message handler vs raw read/ack-per-batch loop", "bindings/redis", "BenchmarkTrigger/tether vs raw*", ">=", 0.5},
	{"Redis Streams, batch handler vs raw read/ack-per-batch loop", "bindings/redis", "*batch* vs raw*", ">=", 0.8},
	{"Kafka, single-message trigger vs franz-go poll loop", "bindings/kafka", "BenchmarkTrigger/tether vs raw", ">=", 0.4},
	{"Kafka, batch handler vs franz-go poll loop", "bindings/kafka", "*batch* vs raw", ">=", 0.6},
	{"Kafka, single-message trigger vs a franz-go loop with its guarantees (16 workers, each partition committed over its acked prefix; no figure in the issue)", "bindings/kafka", "BenchmarkTrigger/tether vs raw-workers", "", 0},
	{"Memory trigger vs channel + decode", "trigger", "BenchmarkRatio:ratio", ">=", 0.85},
	{"Memory trigger: fixed cost per message (its time per message less the channel loop's)", "trigger", "BenchmarkRatio fixed-ns/event", "max", 500},
	{"Memory trigger: allocations per message beyond the decode (one of them the memory queue's entry for the message)", "trigger", "BenchmarkRatio extra-allocs/event", "max", 2},
	{"NATS, single vs raw", "bindings/nats", "BenchmarkTrigger/tether vs raw*", ">=", 0.9},
	{"NATS, batch handler vs raw batch loop", "bindings/nats", "*batch* vs raw*", ">=", 0.9},
	{"RabbitMQ, single vs raw (same ack discipline)", "bindings/rabbitmq", "BenchmarkTrigger/tether vs raw*", ">=", 0.9},
	{"RabbitMQ, batch handler vs raw batch loop", "bindings/rabbitmq", "*batch* vs raw*", ">=", 0.9},
	{"PostgreSQL, single vs raw", "bindings/postgres", "BenchmarkTrigger/tether vs raw*", ">=", 0.9},
	{"PostgreSQL, batch handler vs raw batch loop", "bindings/postgres", "*batch* vs raw*", ">=", 0.9},
	{"SQS, single vs raw", "bindings/sqs", "BenchmarkTrigger/tether vs raw*", ">=", 0.9},
	{"SQS, batch handler vs raw batch loop", "bindings/sqs", "*batch* vs raw*", ">=", 0.9},
	{"Pub/Sub, single vs raw", "bindings/pubsub", "BenchmarkTrigger/tether vs raw*", ">=", 0.9},
	{"Pub/Sub, batch handler vs raw batch loop", "bindings/pubsub", "*batch* vs raw*", ">=", 0.9},
	{"Memory trigger, batch handler vs a bare loop handing slices (no figure in the issue)", "trigger", "BenchmarkBatchRatio:batch/bare-ratio", "", 0},
	{"Memory trigger, batch handler vs single-message handler (no figure in the issue)", "trigger", "BenchmarkBatchRatio:batch/single-ratio", "", 0},
	{"No-op throughput at maxConcurrency 1, 4, 16, 64: rising until CPU-bound", "trigger", "BenchmarkConcurrency noop-c*", "table", 0},
	{"Nothing lost: the fault suite passes with batch handlers on every broker (10,000 messages, every fault, delivered + dead-lettered = sent)", "", "", "faults", 0},
}

// match reports whether name matches the glob pattern (only * is special).
func match(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(name)
}

// met says whether a median meets the target.
func (t target) met(median float64) bool {
	switch t.Op {
	case ">=":
		return median >= t.Value
	case "<=", "max":
		return median <= t.Value
	}
	return false
}
