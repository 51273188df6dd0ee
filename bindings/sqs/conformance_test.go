package sqs_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/sqs"
)

var invalidMetadata = []map[string]string{
	{"queueName": ""},
	{"messageWaitTimeSeconds": "0"},
	{"messageWaitTimeSeconds": "21"},
	{"messageVisibilityTimeout": "1.5s"},
	{"messageVisibilityTimeout": "13h"},
	{"endpoint": "127.0.0.1:4566"},
	{"secretKey": ""}, // accessKey without it
	{"createQueue": "maybe"},
}

// TestConformance runs the suite on a standard queue and on a FIFO queue,
// each created by the binding (createQueue) under a fresh name per subtest.
func TestConformance(t *testing.T) {
	t.Run("standard", func(t *testing.T) {
		c := bindingtest.Config{
			Type: sqs.TypeName,
			Metadata: func(t *testing.T) map[string]string {
				return metadata(t, bindingtest.Unique("conformance"), map[string]string{"createQueue": "true"})
			},
			InvalidMetadata: invalidMetadata,
			Skip: map[string]string{
				bindingtest.TestOrdering: "standard queues keep no order; the FIFO run checks it",
			},
		}
		if testing.Short() {
			c.Messages = 1000
		}
		bindingtest.Run(t, c)
	})
	t.Run("fifo", func(t *testing.T) {
		c := bindingtest.Config{
			Type: sqs.TypeName,
			Metadata: func(t *testing.T) map[string]string {
				return metadata(t, bindingtest.Unique("conformance")+".fifo", map[string]string{"createQueue": "true"})
			},
			InvalidMetadata: invalidMetadata,
			// The suite sends without a key, so every message is in the
			// component's one message group, which SQS hands out strictly
			// one delivery after another: fewer messages keep the run short.
			Messages: 2000,
		}
		if testing.Short() {
			c.Messages = 500
		}
		bindingtest.Run(t, c)
	})
}
