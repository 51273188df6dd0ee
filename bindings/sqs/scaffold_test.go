package sqs_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
)

// TestScaffold renders a function with an SQS trigger and an SQS output
// (template/components/aws.sqs.yaml.tmpl): each queue is named after its
// component.
func TestScaffold(t *testing.T) {
	for _, c := range bindingtest.Scaffold(t, "aws.sqs", "aws.sqs").Components() {
		if c.Metadata["queueName"] != c.Name {
			t.Errorf("component %s: queueName %q, want the component's name", c.Name, c.Metadata["queueName"])
		}
	}
}
