package kafka_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

func startRuntime(t testing.TB, set *component.Set, fns ...trigger.Function) *trigger.Runtime {
	t.Helper()
	var logger *slog.Logger
	if os.Getenv("TETHER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns, ShutdownGrace: 5 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Shutdown(context.Background()) })
	return rt
}

// TestPoisonHoldsOnlyItsPartition: a record that keeps failing is retried
// while the other partitions are handled and committed to their ends; its
// own partition's commit stays at it; once it fails for good it is
// dead-lettered and its partition moves on.
func TestPoisonHoldsOnlyItsPartition(t *testing.T) {
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			ctx := testContext(t)
			topic, deadTopic := newTopic(t, "poison", 4), newTopic(t, "poison-dead", 1)
			group := topic
			set := bindingtest.LoadComponents(t,
				bindingtest.ComponentYAML("in", "bindings.kafka", map[string]string{"brokers": brokers(t), "topics": topic, "consumerGroup": group,
					"initialOffset": "oldest", "ordered": fmt.Sprint(ordered), "deadLetter": "dead",
					"maxAttempts": "1000000", "initialInterval": "5ms", "maxInterval": "20ms", "direction": "input"}),
				bindingtest.ComponentYAML("dead", "bindings.kafka", map[string]string{"brokers": brokers(t), "publishTopic": deadTopic, "direction": "output"}),
			)

			const perPartition = 20
			var (
				mu       sync.Mutex
				handled  = map[string]bool{}
				attempts int
				others   = make(chan struct{}) // every record of partitions 1-3, and a-0, a-1
				release  = make(chan struct{})
				all      = make(chan struct{})
			)
			othersLeft := 3*perPartition + 2
			allLeft := 4*perPartition - 1
			startRuntime(t, set, trigger.Function{Name: "poison", Trigger: "in",
				Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
					data := string(m.Data)
					if data == "poison" {
						select {
						case <-release:
							return trigger.Result{}, functions.Permanent(errors.New("poison"))
						default:
						}
						mu.Lock()
						attempts++
						mu.Unlock()
						return trigger.Result{}, errors.New("not yet")
					}
					mu.Lock()
					defer mu.Unlock()
					if handled[data] {
						return trigger.Result{}, nil
					}
					handled[data] = true
					if !strings.HasPrefix(data, "a-") || data == "a-0" || data == "a-1" {
						if othersLeft--; othersLeft == 0 {
							close(others)
						}
					}
					if allLeft--; allLeft == 0 {
						close(all)
					}
					return trigger.Result{}, nil
				}})

			recs := records(0, "a", perPartition)
			recs[2].Value = []byte("poison")
			produce(t, topic, recs...)
			for p := int32(1); p < 4; p++ {
				produce(t, topic, records(p, fmt.Sprintf("p%d", p), perPartition)...)
			}

			select {
			case <-others:
			case <-ctx.Done():
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("the other partitions were held: %d of %d handled, poison tried %d times", 3*perPartition+2-othersLeft, 3*perPartition+2, attempts)
			}
			// The commits catch up with the acks; partition 0's stops at
			// the poison (offset 2), however much after it was acked.
			commits := waitForCommits(t, ctx, group, topic, map[int32]int64{1: perPartition, 2: perPartition, 3: perPartition})
			if commits[0] > 2 {
				t.Errorf("partition 0 committed at %d while its offset 2 is still failing", commits[0])
			}
			mu.Lock()
			if ordered && (handled["a-3"] || attempts < 2) {
				t.Errorf("ordered: a-3 handled %v, poison tried %d times; want a-3 held behind the retrying poison", handled["a-3"], attempts)
			}
			mu.Unlock()

			close(release)
			select {
			case <-all:
			case <-ctx.Done():
				t.Fatal("partition 0 did not move on after the poison was dead-lettered")
			}
			waitForCommits(t, ctx, group, topic, map[int32]int64{0: perPartition})
			dls := consume(t, ctx, deadTopic, 1)
			var env functions.DeadLetter
			if err := json.Unmarshal(dls[0].Value, &env); err != nil || string(env.Data) != "poison" || !env.Permanent {
				t.Errorf("dead letter %s: %v", dls[0].Value, err)
			}
		})
	}
}

// waitForCommits polls the group's commits until each partition in want has
// reached its offset, and returns them.
func waitForCommits(t *testing.T, ctx context.Context, group, topic string, want map[int32]int64) map[int32]int64 {
	t.Helper()
	for {
		got := committed(t, group, topic)
		reached := true
		for p, off := range want {
			if got[p] < off {
				reached = false
			}
		}
		if reached {
			return got
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("commits of %s: %v, waiting for %v", topic, got, want)
		}
	}
}
