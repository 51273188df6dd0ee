package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tetherfn/tether/bindings"
)

// settle finds m's delivery and checks that it is unsettled.
func (in *input) settleLocked(m *bindings.Message, verb string) (*delivery, error) {
	d, ok := m.Handle.(*delivery)
	if !ok || d == nil {
		return nil, fmt.Errorf("%s message %q: not received from this binding", verb, m.ID)
	}
	if d.msg != m || d.state != stateOut {
		return nil, fmt.Errorf("%s message %q: already settled", verb, m.ID)
	}
	return d, nil
}

// Ack implements bindings.Input. The record's partition commits past it once
// every record before it is acked too. An ack for a partition this member no
// longer owns is ignored: the new owner delivers the record again.
func (in *input) Ack(ctx context.Context, m *bindings.Message) error {
	return in.AckBatch(ctx, []*bindings.Message{m})
}

// AckBatch implements bindings.BatchAcker: Ack for each of msgs, under one
// lock, with one wake-up of whoever waits for a settled record.
func (in *input) AckBatch(_ context.Context, msgs []*bindings.Message) error {
	var errs []error
	revoked := 0
	in.mu.Lock()
	for _, m := range msgs {
		d, err := in.settleLocked(m, "ack")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.state = stateDone
		p := d.p
		if p.revoked {
			revoked++
			continue
		}
		p.outstanding--
		if p.done(d) {
			in.markLaterLocked(p)
			in.maybeResumeLocked(p)
		}
	}
	in.settled.Fire()
	if in.s.ordered {
		in.ready.Fire() // the partitions' next records may go
	}
	in.mu.Unlock()
	if revoked > 0 {
		in.log.Debug("kafka: acks after their partitions were revoked; their new owners deliver the records again", "records", revoked)
	}
	return errors.Join(errs...)
}

// Nack implements bindings.Input. Kafka cannot redeliver one record, so the
// driver keeps it and hands it out again once delay has passed, with
// DeliveryCount+1. The partition is not rewound: the records after it go on
// (in an ordered trigger none is handed out before it is settled), and its
// commit point stays before it until it is acked, so a restart or a new owner
// delivers it again too.
func (in *input) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	d, err := in.settleLocked(m, "nack")
	if err != nil {
		return err
	}
	p := d.p
	if p.revoked {
		d.state = stateDone
		return nil
	}
	d.state = stateRetry
	d.due = monoNow() + int64(max(delay, 0))
	p.outstanding--
	p.addRetry(d)
	in.settled.Fire()
	in.ready.Fire()
	return nil
}

// markLaterLocked has p's commit point marked within markDelay.
func (in *input) markLaterLocked(p *partition) {
	if p.dirty {
		return
	}
	p.dirty = true
	if len(in.dirty) == 0 {
		in.markTimer.Reset(markDelay)
	}
	in.dirty = append(in.dirty, p)
}

// flushMarks hands the moved commit points to kgo's autocommit. kgo never
// moves a mark backwards, so racing a revocation's commit is safe.
func (in *input) flushMarks() {
	in.mu.Lock()
	marks := map[string]map[int32]kgo.EpochOffset{}
	for _, p := range in.dirty {
		p.dirty = false
		if p.revoked || in.closed {
			continue // its commit was made when it was given up
		}
		if marks[p.topic] == nil {
			marks[p.topic] = map[int32]kgo.EpochOffset{}
		}
		marks[p.topic][p.partition] = p.mark()
	}
	clear(in.dirty)
	in.dirty = in.dirty[:0]
	in.mu.Unlock()
	if len(marks) > 0 {
		in.cl.MarkCommitOffsets(marks)
	}
}

// preCommit adds the window's state to every commit kgo makes on its own.
func (in *input) preCommit(req *kmsg.OffsetCommitRequest) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			if p := in.parts[topicPartition{t.Topic, rp.Partition}]; p != nil {
				md := p.commitMetadata(rp.Offset)
				rp.Metadata = &md
			}
		}
	}
	return nil
}
