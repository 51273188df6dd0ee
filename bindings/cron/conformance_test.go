package cron_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/cron"
)

// TestConformance runs the part of the suite that applies to a source: a
// cron input has no destination to send to, so the subtests that publish
// messages are skipped; cron_test.go and lock_test.go test what they would
// (delivery counts, nack delays, settling) with real ticks.
func TestConformance(t *testing.T) {
	const noSend = "a schedule is not a destination: nothing can be sent to it (see cron_test.go)"
	bindingtest.Run(t, bindingtest.Config{
		Type: cron.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			// Midnight of February 29th: never during a test.
			return map[string]string{"schedule": "0 0 29 2 *"}
		},
		InvalidMetadata: []map[string]string{
			{"schedule": ""},
			{"schedule": "every minute"},
			{"schedule": "61 * * * *"},
			{"schedule": "CRON_TZ=Mars/Olympus_Mons 0 * * * *"},
			{"schedule": "CRON_TZ=UTC"},
			{"schedule": "0 0 30 2 *"}, // February 30th
			{"lockRedisHost": "127.0.0.1:6379", "lockConnectionString": "postgres://postgres@127.0.0.1/test"},
			{"lockRedisHost": "localhost"},
			{"lockRedisHost": "127.0.0.1:1"}, // nothing listens
			{"lockTTL": "0"},
			{"lockTable": "locks; DROP TABLE users"},
			{"lockRedisDB": "-1"},
			{"allowOverlap": "sometimes"},
		},
		Skip: map[string]string{
			bindingtest.TestRoundTrip:           noSend,
			bindingtest.TestAckRemoves:          noSend,
			bindingtest.TestNackRedelivers:      noSend,
			bindingtest.TestNackDelay:           noSend,
			bindingtest.TestBatchReceive:        noSend,
			bindingtest.TestCloseInFlight:       noSend,
			bindingtest.TestConcurrentConsumers: noSend,
		},
	})
}
