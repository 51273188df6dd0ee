package kafka_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
)

// TestScaffold renders a function with a Kafka trigger and a Kafka output
// (template/components/kafka.yaml.tmpl): the topics are named after the
// components, the consumer group after the function.
func TestScaffold(t *testing.T) {
	set := bindingtest.Scaffold(t, "kafka", "kafka")
	var in, out *component.Component
	for _, c := range set.Components() {
		switch c.Metadata["direction"] {
		case "input":
			in = c
		case "output":
			out = c
		}
	}
	if in == nil || out == nil {
		t.Fatalf("components %v: want one input and one output", set.Components())
	}
	if in.Metadata["topics"] != in.Name || in.Metadata["consumerGroup"] != "orders" {
		t.Errorf("trigger %s: topics %q, consumerGroup %q; want the component's and the function's names", in.Name, in.Metadata["topics"], in.Metadata["consumerGroup"])
	}
	if out.Metadata["publishTopic"] != out.Name {
		t.Errorf("output %s: publishTopic %q, want the component's name", out.Name, out.Metadata["publishTopic"])
	}
}
