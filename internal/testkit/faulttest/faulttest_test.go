package faulttest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings/bindingtest"
	_ "github.com/tetherfn/tether/bindings/redis"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestMain(m *testing.M) { faulttest.Main(m) }

// The harness checks itself on Redis Streams (a real broker that outlives
// the function process), with a small count, with the single-message relay
// and the batch relay.
func TestHarnessOnRedis(t *testing.T) {
	faulttest.Variants(t, func(t *testing.T, batch bool) {
		yaml := faulttest.Components("bindings.redis", func(name, run string) map[string]string {
			return map[string]string{"redisHost": "127.0.0.1:6379", "stream": "faulttest-" + name + "-" + run, "consumerGroup": "g",
				"processingTimeout": "1s", "redeliverInterval": "200ms"}
		})
		r := faulttest.Run(t, faulttest.Config{Components: yaml, Messages: 2000, Batch: batch})
		if r.Delivered == 0 {
			t.Fatal("nothing delivered")
		}
	})
}

// The batch variant's handlerTimeout takes the place of the one Components
// writes: Run replaces that key's text, so the two must agree.
func TestBatchHandlerTimeout(t *testing.T) {
	yaml := faulttest.Components("bindings.redis", func(name, run string) map[string]string {
		return map[string]string{"redisHost": "127.0.0.1:6379", "stream": name}
	})
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{{yaml, 250 * time.Millisecond}, {faulttest.BatchComponents(yaml), 2 * time.Second}} {
		in, ok := bindingtest.LoadComponents(t, tc.yaml).Get("in")
		if !ok {
			t.Fatal("no component in")
		}
		if in.Delivery.HandlerTimeout != tc.want {
			t.Errorf("handlerTimeout %v, want %v", in.Delivery.HandlerTimeout, tc.want)
		}
	}
}

// The report line is what go run ./internal/bench reads: the prefix, then
// the test's name, its variant and the counts, by their JSON keys.
func TestReportLine(t *testing.T) {
	want := faulttest.Logged{Test: "TestFaults/ordered=true/batch", Batch: true,
		Report: faulttest.Report{Sent: 10000, Delivered: 9899, DeadLettered: 100, Both: 1, BatchPanics: 40, DuplicatesByPhase: [4]int{0, 1, 2, 3}}}
	line := "    fault_test.go:49: " + faulttest.ReportLine(want)
	if strings.Contains(line, "\n") || !strings.Contains(line, `"deadLettered":100`) {
		t.Fatalf("not one line with the report's keys: %q", line)
	}
	got, ok, err := faulttest.ParseLogged(line)
	if !ok || err != nil || got != want || got.Accounted() != 9998 {
		t.Errorf("ParseLogged: %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if _, ok, _ := faulttest.ParseLogged("    fault_test.go:49: single: sent 10000"); ok {
		t.Error("a line without the prefix parsed")
	}
	if _, ok, err := faulttest.ParseLogged(faulttest.ReportPrefix + "{"); !ok || err == nil {
		t.Errorf("a broken report: ok %v, err %v; want an error", ok, err)
	}
}
