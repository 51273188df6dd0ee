package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// onFetched reads the commit metadata of newly assigned partitions.
func (in *input) onFetched(_ context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	read := func(topic string, p kmsg.OffsetFetchResponseTopicPartition) {
		if p.Metadata == nil || p.Offset < 0 {
			return
		}
		s, err := parseSeed(*p.Metadata, p.Offset)
		if err != nil {
			in.log.Warn("kafka: ignoring unreadable commit metadata", "topic", topic, "partition", p.Partition, "error", err)
			return
		}
		tp := topicPartition{topic, p.Partition}
		in.mu.Lock()
		if in.parts[tp] == nil {
			in.seeds[tp] = s
		}
		in.mu.Unlock()
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			read(t.Topic, p)
		}
	}
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			for _, p := range t.Partitions {
				read(t.Topic, kmsg.OffsetFetchResponseTopicPartition{Partition: p.Partition, Offset: p.Offset, Metadata: p.Metadata})
			}
		}
	}
	return nil
}

// onRevoked gives up partitions: it stops handing out their records, waits a
// little for the handlers of those in flight (unless closing), commits what
// was acked, and forgets them. Acks that come later are ignored; the next
// owner starts at the commit.
func (in *input) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	parts := in.drain(revoked)
	if len(parts) == 0 {
		return
	}
	if !in.closing.Load() {
		in.awaitSettled(parts)
	}
	offsets, metas := in.forget(parts)
	in.commit(ctx, offsets, metas)
}

// onLost forgets partitions that are already someone else's: no commit.
func (in *input) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := in.drain(lost)
	in.forget(parts)
	if len(parts) > 0 {
		in.log.Warn("kafka: partitions lost (group session expired?); their unsettled records are delivered again", "partitions", lost)
	}
}

// drain stops handing out the partitions' records and drops what was not
// handed out.
func (in *input) drain(tps map[string][]int32) []*partition {
	in.mu.Lock()
	defer in.mu.Unlock()
	var parts []*partition
	for topic, ps := range tps {
		for _, n := range ps {
			p := in.parts[topicPartition{topic, n}]
			if p == nil {
				continue
			}
			parts = append(parts, p)
			if !p.paused {
				in.queued -= len(p.queue)
			}
			p.queue = nil
			p.retries = nil // unsettled; they stay in the window
			// Taken out of the hand-out order now; acks still count until
			// forget.
			in.order = slices.DeleteFunc(in.order, func(x *partition) bool { return x == p })
		}
	}
	for tp := range in.seeds {
		if slices.Contains(tps[tp.topic], tp.partition) {
			delete(in.seeds, tp)
		}
	}
	in.room.Fire()
	return parts
}

// awaitSettled waits, up to revokeGrace, until no record of parts is out.
func (in *input) awaitSettled(parts []*partition) {
	deadline := time.NewTimer(in.revokeGrace)
	defer deadline.Stop()
	for {
		in.mu.Lock()
		out := 0
		for _, p := range parts {
			out += p.outstanding
		}
		if out == 0 {
			in.mu.Unlock()
			return
		}
		ch := in.settled.Wait()
		in.mu.Unlock()
		select {
		case <-ch:
		case <-in.done:
			return
		case <-deadline.C:
			in.log.Warn("kafka: revoking partitions with records still being handled; their next owner delivers them again", "records", out)
			return
		}
	}
}

// forget removes the partitions and returns their commit points.
func (in *input) forget(parts []*partition) (map[string]map[int32]kgo.EpochOffset, map[topicPartition]string) {
	in.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	metas := map[topicPartition]string{}
	resume := map[string][]int32{}
	for _, p := range parts {
		if eo, ok := p.commitPoint(); ok {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[p.topic][p.partition] = eo
			metas[p.topicPartition] = p.commitMetadata(eo.Offset)
		}
		if p.paused {
			resume[p.topic] = append(resume[p.topic], p.partition)
		}
		p.revoked = true
		p.window, p.slots = nil, nil
		delete(in.parts, p.topicPartition)
	}
	in.mu.Unlock()
	if len(resume) > 0 {
		// Paused partitions stay paused across assignments otherwise.
		in.cl.ResumeFetchPartitions(resume)
	}
	return offsets, metas
}

// commit commits offsets now, with their window metadata.
func (in *input) commit(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset, metas map[topicPartition]string) {
	if len(offsets) == 0 {
		return
	}
	ctx = kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				rp := &t.Partitions[j]
				if md, ok := metas[topicPartition{t.Topic, rp.Partition}]; ok {
					rp.Metadata = &md
				}
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	var err error
	in.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, e error) {
		if e != nil {
			err = e
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
					err = errors.Join(err, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, e))
				}
			}
		}
	})
	if err != nil {
		in.log.Error("kafka: commit failed; the next owner delivers the records after the previous commit again", "error", err)
	}
}
