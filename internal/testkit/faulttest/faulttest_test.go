package faulttest_test

import (
	"encoding/json"
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
	want := faulttest.Report{Sent: 10000, Delivered: 9899, DeadLettered: 100, Both: 1, BatchPanics: 40, DuplicatesByPhase: [4]int{0, 1, 2, 3}}
	line := faulttest.ReportLine("TestFaults/ordered=true/batch", true, want)
	js, ok := strings.CutPrefix(line, faulttest.ReportPrefix)
	if !ok || strings.Contains(js, "\n") {
		t.Fatalf("not one line after the prefix: %q", line)
	}
	var got struct {
		Test  string `json:"test"`
		Batch bool   `json:"batch"`
		faulttest.Report
	}
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatal(err)
	}
	if got.Test != "TestFaults/ordered=true/batch" || !got.Batch || got.Report != want || got.Accounted() != 9998 {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(js, `"deadLettered":100`) {
		t.Errorf("keys: %s", js)
	}
}
