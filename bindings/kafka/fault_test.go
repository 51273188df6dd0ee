package kafka_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// TestFaults runs the relay function in a child process on a Kafka trigger,
// on a cluster of its own that keeps its state on disk (kfake.DataDir). It
// SIGKILLs the function mid-stream and restarts it, restarts the cluster,
// and stops the function with SIGTERM (internal/testkit/faulttest): every message
// must end delivered or dead-lettered. Before the cluster restart, after it
// and at the end it checks the invariant the binding is built for: no
// offset of "in" is committed past a record whose result is not written.
// Each of ordered and unordered runs with a single-message function and
// with a batch function, in parallel, each on a cluster of its own.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a function process through 10000 messages")
	}
	for _, ordered := range []string{"false", "true"} {
		t.Run("ordered="+ordered, func(t *testing.T) {
			faulttest.Variants(t, func(t *testing.T, batch bool) {
				k, err := startCluster(kfake.DataDir(t.TempDir()), kfake.GroupMinSessionTimeout(500*time.Millisecond))
				if err != nil {
					t.Fatalf("kfake cluster: %v", err)
				}
				t.Cleanup(k.close)
				in, done, dead := k.newTopic(t, "fault-in", 4), k.newTopic(t, "fault-done", 2), k.newTopic(t, "fault-dead", 1)
				group := in
				topics := map[string]string{"in": in, "done": done, "dead": dead}
				yaml := faulttest.Components("bindings.kafka", func(name, _ string) map[string]string {
					md := map[string]string{"brokers": k.addr, "initialOffset": "oldest", "sessionTimeout": "2s", "heartbeatInterval": "500ms",
						"topics": topics[name], "publishTopic": topics[name], "consumerGroup": topics[name]}
					if name == "in" {
						md["ordered"] = ordered
					}
					return md
				})
				faulttest.Run(t, faulttest.Config{
					Components: yaml,
					Messages:   10000,
					Batch:      batch,
					Ordered:    ordered == "true",
					Drained:    func(ctx context.Context, t *testing.T) { k.waitCommitted(ctx, t, group, in) },
					Restart: func(t *testing.T) {
						// Commits are a second apart: at this point there may be
						// none yet; whatever there is must be handled.
						n := k.checkCommitsHandled(t, group, in, done, dead)
						t.Logf("before the restart: %d records below the committed offsets, all handled", n)
						k.restart(t)
						n = k.checkCommitsHandled(t, group, in, done, dead)
						t.Logf("after the restart: %d records below the committed offsets, all handled", n)
					},
				})
				n := k.checkCommitsHandled(t, group, in, done, dead)
				t.Logf("at the end: %d records below the committed offsets, all handled", n)
				if n != 10000 {
					t.Errorf("at the end, %d records are committed, want all 10000", n)
				}
			})
		})
	}
}

// checkCommitsHandled reads the group's committed offsets of topic in and
// checks that every record below them has its result in done or dead. The
// function writes its result before the ack, and the ack comes before the
// commit, so reading the commits first and the results after is sound. It
// returns how many records it checked.
func (k *cluster) checkCommitsHandled(t *testing.T, group, in, done, dead string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	commits := k.committed(t, group, in)
	handled := map[string]bool{}
	for _, r := range k.readAll(t, ctx, done) {
		id, _ := faulttest.Result(r.Value)
		handled[id] = true
	}
	for _, r := range k.readAll(t, ctx, dead) {
		var env functions.DeadLetter
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatalf("dead letter %q: %v", r.Value, err)
		}
		handled[string(env.Data)] = true
	}
	checked := 0
	for _, r := range k.readUpTo(t, ctx, in, commits) {
		if !handled[string(r.Value)] {
			t.Errorf("%s/%d: offset %d (%s) is below the committed offset %d, but was never handled",
				in, r.Partition, r.Offset, r.Value, commits[r.Partition])
		}
		checked++
	}
	return checked
}

// waitCommitted returns once group's committed offsets of topic are at the
// partitions' ends: every record committed.
func (k *cluster) waitCommitted(ctx context.Context, t *testing.T, group, topic string) {
	t.Helper()
	ends, err := k.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for {
		commits, behind := k.committed(t, group, topic), 0
		ends.Each(func(o kadm.ListedOffset) { behind += int(o.Offset - commits[o.Partition]) })
		if behind == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("every record handled, but %d are still not committed", behind)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// readAll reads every record topic holds now.
func (k *cluster) readAll(t *testing.T, ctx context.Context, topic string) []*kgo.Record {
	t.Helper()
	ends, err := k.admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	upTo := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { upTo[o.Partition] = o.Offset })
	return k.readUpTo(t, ctx, topic, upTo)
}

// readUpTo reads the records of topic below the given offset of each
// partition.
func (k *cluster) readUpTo(t *testing.T, ctx context.Context, topic string, upTo map[int32]int64) []*kgo.Record {
	t.Helper()
	start := map[string]map[int32]kgo.Offset{topic: {}}
	left := 0
	for p, end := range upTo {
		if end > 0 {
			start[topic][p] = kgo.NewOffset().AtStart()
			left++
		}
	}
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.addr), kgo.ConsumePartitions(start))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	finished := map[int32]bool{}
	for len(finished) < left {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s up to %v: %v", topic, upTo, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < upTo[r.Partition] {
				out = append(out, r)
			}
			if r.Offset >= upTo[r.Partition]-1 {
				finished[r.Partition] = true
			}
		})
	}
	return out
}
