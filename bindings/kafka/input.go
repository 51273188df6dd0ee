package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/wake"
)

// revokeGrace bounds how long a revocation waits for the handlers of the
// revoked partitions' records, so that their acks make it into the last
// commit instead of the next owner handling them again. Well under kgo's
// default rebalance timeout (60s). A variable for tests.
var revokeGrace = 10 * time.Second

const (
	// commitTimeout bounds the commit at revocation and close.
	commitTimeout = 10 * time.Second
	// windowMax is how many records of one partition may wait behind an
	// unsettled one (handed out, acked, not committable) before the
	// partition stops fetching until it settles: memory stays bounded when
	// a record fails for long without a dead-letter binding.
	windowMax = 100_000
)

// input is a consumer-group member. A pump goroutine polls records into
// per-partition queues; Receive hands them out, in offset order per
// partition, at most one unsettled per partition when the trigger is ordered
// (the runtime then never holds one partition's record behind another's), as
// many as asked otherwise. Acks move each partition's commit point over its
// contiguous acked prefix and mark it for kgo's autocommit; revocations and
// Close commit synchronously.
type input struct {
	cl  *kgo.Client
	log *slog.Logger
	s   settings

	// Flow control. Unordered, every partition's queue drains at once, so
	// one budget over all of them is enough. Ordered, a partition drains
	// one record at a time, at its handler's pace: each is paused on its
	// own when its queue is full, so that a slow or failing partition
	// neither starves the others nor fills memory.
	queueLimit   int // records queued in unpaused partitions before the pump waits
	partQueueMax int // ordered: records queued in one partition before it is paused
	keyBatch     int // ordered: records of one partition out at once (SetKeyBatch; 1 unless a batch function's)
	revokeGrace  time.Duration

	mu      sync.Mutex
	parts   map[topicPartition]*partition
	order   []*partition // round-robin order of hand-out
	rr      int
	queued  int                     // records queued in unpaused partitions
	full    bool                    // the pump filled the budget and waits for half of it
	seeds   map[topicPartition]seed // commit metadata of partitions just assigned
	ready   wake.Signal             // something may be handed out: Receive waits for it
	room    wake.Signal             // the queues drained to half the budget: the pump waits for it
	settled wake.Signal             // a record out was acked or nacked: revocations wait for it
	closed  bool

	closing   atomic.Bool // Close started: revocations do not wait
	done      chan struct{}
	pumpStop  context.CancelFunc
	pumpDone  chan struct{}
	closeOnce sync.Once

	// Partitions whose commit point moved since kgo last heard of it.
	// Marking a point for kgo's autocommit takes kgo's lock and walks its
	// marks, so it is done for all of them once per markDelay, not per
	// ack. Guarded by mu; markTimer is armed while dirty is not empty.
	dirty     []*partition
	markTimer *time.Timer

	slab []delivery // deliveries not handed out yet: newDeliveryLocked
}

// markDelay bounds how long a moved commit point waits to be marked for
// kgo's autocommit (every second): a crash so redelivers at most about
// 1.1 seconds of acked records.
const markDelay = 100 * time.Millisecond

// delivery states, in delivery.state.
const (
	stateOut   = iota // handed out, unsettled
	stateRetry        // nacked, waiting for redelivery
	stateDone         // acked
)

func openInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if len(s.topics) == 0 {
		return nil, &bindings.KeyError{Key: "topics", Msg: "is empty: list the topics the input consumes"}
	}
	if s.group == "" {
		return nil, &bindings.KeyError{Key: "consumerGroup", Msg: "is empty: the input needs a consumer group"}
	}
	in := &input{
		log:          cfg.Logger,
		s:            s,
		queueLimit:   max(1024, 4*s.batchSize),
		partQueueMax: max(512, 4*s.batchSize),
		keyBatch:     1,
		revokeGrace:  revokeGrace,
		parts:        map[topicPartition]*partition{},
		seeds:        map[topicPartition]seed{},
		done:         make(chan struct{}),
		pumpDone:     make(chan struct{}),
	}
	in.markTimer = time.AfterFunc(time.Hour, in.flushMarks)
	in.markTimer.Stop()
	reset := kgo.NewOffset().AtEnd()
	if s.oldest {
		reset = kgo.NewOffset().AtStart()
	}
	opts := append(clientOptions(s, cfg.Logger),
		kgo.ConsumeTopics(s.topics...),
		kgo.ConsumerGroup(s.group),
		kgo.ConsumeResetOffset(reset),
		kgo.Balancers(balancer(s.balancer)),
		kgo.SessionTimeout(s.session),
		kgo.HeartbeatInterval(s.heartbeat),
		// Callbacks never run between a poll and the records being
		// tracked: the pump allows rebalances right after.
		kgo.BlockRebalanceOnPoll(),
		// A partition added to a broker's fetch session (a new assignment,
		// a resumed partition) waits for the fetch in flight: keep that
		// wait short, as Dapr's client (Sarama, 250ms) does.
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.AutoCommitMarks(),
		// As Dapr's (Sarama's) consumer: a crash redelivers at most about a
		// second of acked records.
		kgo.AutoCommitInterval(time.Second),
		kgo.OnPartitionsRevoked(in.onRevoked),
		kgo.OnPartitionsLost(in.onLost),
		kgo.OnOffsetsFetched(in.onFetched),
		// Every commit, the periodic ones included, carries the window's
		// state in its metadata.
		kgo.WithContext(kgo.PreCommitFnContext(context.Background(), in.preCommit)),
	)
	if s.ordered {
		// Partitions pause one by one; the total is bounded by them.
		in.queueLimit = math.MaxInt
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	in.cl = cl
	// Fail early on unreachable brokers or bad credentials, as the output
	// does; the group itself is joined in the background.
	if err := ping(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	pumpCtx, stop := context.WithCancel(context.Background())
	in.pumpStop = stop
	go in.pump(pumpCtx)
	return in, nil
}

func balancer(name string) kgo.GroupBalancer {
	switch name {
	case "range":
		return kgo.RangeBalancer()
	case "roundrobin":
		return kgo.RoundRobinBalancer()
	case "sticky":
		return kgo.StickyBalancer()
	}
	return kgo.CooperativeStickyBalancer()
}

// ping checks that a broker answers, within 30 seconds at most.
func ping(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("reach brokers: %w", err)
	}
	return nil
}

// pump polls records into the partitions' queues until Close.
func (in *input) pump(ctx context.Context) {
	defer close(in.pumpDone)
	var lastErr string
	backoff := 50 * time.Millisecond
	for {
		in.mu.Lock()
		// Full: wait until half is taken, not for every Receive.
		for in.queued >= in.queueLimit/2 && in.queued > 0 && in.full && !in.closed {
			ch := in.room.Wait()
			in.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
			in.mu.Lock()
		}
		in.full = false
		room := min(in.queueLimit-in.queued, 1<<16)
		in.mu.Unlock()

		fetches := in.cl.PollRecords(ctx, room)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			in.cl.AllowRebalance()
			return
		}
		in.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) > 0 {
				in.enqueueLocked(fp.Records)
			}
		})
		in.full = in.queued >= in.queueLimit
		in.ready.Fire()
		in.mu.Unlock()
		// Only now may a revocation run: the records are tracked.
		in.cl.AllowRebalance()

		failed := false
		fetches.EachError(func(topic string, p int32, err error) {
			failed = true
			if msg := err.Error(); msg != lastErr { // franz-go retries; say it once
				lastErr = msg
				in.log.Warn("kafka: fetch", "topic", topic, "partition", p, "error", err)
			}
		})
		if !failed || fetches.NumRecords() > 0 {
			backoff = 50 * time.Millisecond
			continue
		}
		// Errors only (authorization, a deleted topic...): franz-go
		// retries them itself; do not spin on them.
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// enqueueLocked queues records of one partition.
func (in *input) enqueueLocked(recs []*kgo.Record) {
	tp := topicPartition{recs[0].Topic, recs[0].Partition}
	p := in.parts[tp]
	if p == nil {
		p = newPartition(tp)
		p.seed = in.seeds[tp]
		delete(in.seeds, tp)
		in.parts[tp] = p
		in.order = append(in.order, p)
	}
	p.queue = append(p.queue, recs...)
	if !p.paused {
		in.queued += len(recs)
		if in.s.ordered && len(p.queue) >= in.partQueueMax {
			in.pauseLocked(p)
		}
	}
}

// pauseLocked stops fetching p: its queue or window is full. kgo drops what
// it buffered for p and, on resume, fetches from after the last record it
// returned, so nothing is skipped; what it dropped is fetched again, which
// is why pausing is kept for partitions that cannot keep up.
func (in *input) pauseLocked(p *partition) {
	p.paused = true
	in.queued -= len(p.queue)
	in.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.partition}})
}

// maybeResumeLocked fetches p again once its queue and window have room.
func (in *input) maybeResumeLocked(p *partition) {
	if !p.paused || p.revoked || (in.s.ordered && len(p.queue) > in.partQueueMax/4) || len(p.window) >= windowMax/2 {
		return
	}
	p.paused = false
	in.queued += len(p.queue)
	in.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.partition}})
}

// Receive implements bindings.Input.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = max(limit, 1)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.mu.Lock()
		if in.closed {
			in.mu.Unlock()
			return nil, fmt.Errorf("kafka input: %w", bindings.ErrClosed)
		}
		msgs, wake := in.takeLocked(limit, monoNow())
		var ch <-chan struct{}
		if len(msgs) == 0 {
			ch = in.ready.Wait()
		}
		if in.queued <= in.queueLimit/2 {
			in.room.Fire()
		}
		in.mu.Unlock()
		if len(msgs) > 0 {
			return msgs, nil
		}

		var due <-chan time.Time
		if wake != 0 {
			if timer == nil {
				timer = time.NewTimer(time.Duration(wake - monoNow()))
			} else {
				timer.Reset(time.Duration(wake - monoNow()))
			}
			due = timer.C
		}
		select {
		case <-ch:
		case <-due:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, fmt.Errorf("kafka input: %w", bindings.ErrClosed)
		}
	}
}

// takeLocked hands out up to max messages, round robin over the partitions:
// due redeliveries first, then queued records. When a nacked message is not
// due yet it returns when to look again (monoNow's clock; 0 for never).
func (in *input) takeLocked(limit int, now int64) (msgs []*bindings.Message, wake int64) {
	n := len(in.order)
	if n == 0 {
		return nil, wake
	}
	if in.queued > 0 {
		msgs = make([]*bindings.Message, 0, min(limit, in.queued))
	}
	start := in.rr % n
	in.rr = start + 1
	for i := 0; i < n && len(msgs) < limit; i++ {
		p := in.order[(start+i)%n]
		if p.revoked {
			continue
		}
		if len(p.retries) > 0 {
			if in.s.ordered {
				// The oldest nacked record goes first, alone: nothing
				// after it is handed out before it is settled.
				if d := p.retries[0]; p.outstanding == 0 {
					if d.due > now {
						wake = earliest(wake, d.due)
					} else {
						p.retries = slices.Delete(p.retries, 0, 1)
						msgs = append(msgs, in.redeliverLocked(d))
					}
				}
				continue
			}
			kept := p.retries[:0]
			for _, d := range p.retries {
				switch {
				case d.due > now:
					wake = earliest(wake, d.due)
				case len(msgs) < limit:
					msgs = append(msgs, in.redeliverLocked(d))
					continue
				}
				kept = append(kept, d)
			}
			clear(p.retries[len(kept):])
			p.retries = kept
		}
		// Ordered, keyBatch records at a time (one unless a batch
		// function's): the first not skipped (acked by a previous owner)
		// are the only ones out.
		for len(p.queue) > 0 && len(msgs) < limit && (!in.s.ordered || p.outstanding < in.keyBatch) {
			take := min(len(p.queue), limit-len(msgs))
			if in.s.ordered {
				take = min(take, in.keyBatch-p.outstanding)
			}
			msgs = in.deliverLocked(p, p.queue[:take], msgs)
			clear(p.queue[:take])
			p.queue = p.queue[take:]
			if !p.paused {
				in.queued -= take
			}
		}
		if len(p.queue) == 0 {
			p.queue = nil // let the backing array go
		}
		in.maybeResumeLocked(p)
	}
	return msgs, wake
}

// SetKeyBatch implements bindings.KeyBatcher: an ordered trigger's batch
// function gets up to n records of a partition at once (the runtime keeps
// them in order), not one per partition per batch. A nacked record still
// goes out again alone, before anything after it.
func (in *input) SetKeyBatch(n int) {
	in.mu.Lock()
	in.keyBatch = max(n, 1)
	in.mu.Unlock()
}

func earliest(a, b int64) int64 {
	if a == 0 || b < a {
		return b
	}
	return a
}

// clockStart is monoNow's origin.
var clockStart = time.Now()

// monoNow is the monotonic clock's time in nanoseconds since clockStart,
// for retry due times: an int64 where a time.Time takes three words in
// every delivery.
func monoNow() int64 { return int64(time.Since(clockStart)) }

// deliverLocked hands out records of p for the first time (for this owner),
// appending their messages to msgs. Per record, the delivery and the id
// ("<topic>/<partition>/<offset>") would be most of the driver's cost: the
// deliveries come from a slab (newDeliveryLocked), the ids of recs are one
// string. The price: a record held for long (failing, without a dead
// letter) keeps its slab's deliveries, and so their records, in memory
// until it settles.
func (in *input) deliverLocked(p *partition, recs []*kgo.Record, msgs []*bindings.Message) []*bindings.Message {
	var ids strings.Builder
	ids.Grow(len(recs) * (len(p.key) + 1 + 20))
	for _, r := range recs {
		ids.WriteString(p.key)
		ids.WriteByte('/')
		var digits [20]byte
		ids.Write(strconv.AppendInt(digits[:0], r.Offset, 10))
	}
	all := ids.String()
	start := 0
	for _, r := range recs {
		end := start + len(p.key) + 1 + decimalLen(r.Offset)
		id := all[start:end]
		start = end
		if p.seed.ackedAt(r.Offset) {
			// Acked by the previous owner after a record it could not
			// settle: handling it again would be a duplicate.
			p.pushDone(r)
			if p.advance() {
				in.markLaterLocked(p)
			}
			continue
		}
		d := in.newDeliveryLocked()
		d.rec, d.count, d.escape = r, 1, in.s.escapeHeaders
		if c, ok := p.seed.deliveries[r.Offset]; ok {
			d.count = int32(c) + 1
			delete(p.seed.deliveries, r.Offset)
		}
		p.push(d)
		p.outstanding++
		if len(p.window) >= windowMax && !p.paused {
			in.pauseLocked(p)
		}
		d.first = bindings.Message{
			ID:            id,
			Data:          r.Value,
			ContentType:   contentType(r.Headers),
			DeliveryCount: int(d.count),
			Key:           p.key,
			Time:          r.Timestamp,
			Handle:        d,
		}
		d.msg = &d.first
		msgs = append(msgs, d.msg)
	}
	return msgs
}

// deliverySlab is how many deliveries newDeliveryLocked allocates at once.
const deliverySlab = 64

// newDeliveryLocked returns a zero delivery, cut from the input's current
// slab: one allocation per deliverySlab records, whatever the size of the
// Receive calls that hand them out.
func (in *input) newDeliveryLocked() *delivery {
	if len(in.slab) == 0 {
		in.slab = make([]delivery, deliverySlab)
	}
	d := &in.slab[0]
	in.slab = in.slab[1:]
	return d
}

// decimalLen is the length of strconv.FormatInt(n, 10) for n >= 0 (an
// offset); for n < 0 it counts the minus sign too.
func decimalLen(n int64) int {
	l := 1
	if n < 0 {
		l, n = 2, -n
	}
	for n >= 10 {
		n /= 10
		l++
	}
	return l
}

// redeliverLocked hands out a nacked record again.
func (in *input) redeliverLocked(d *delivery) *bindings.Message {
	d.count++
	d.state = stateOut
	d.p.outstanding++
	m := *d.msg
	m.DeliveryCount = int(d.count)
	d.msg = &m
	return d.msg
}

// Close implements bindings.Input: it commits what was acked, leaves the
// group and closes the client. Unsettled records are delivered again to the
// partitions' next owner, counted.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		in.closing.Store(true)
		in.mu.Lock()
		in.closed = true
		in.mu.Unlock()
		in.markTimer.Stop() // the revocations below commit
		close(in.done)
		in.pumpStop()
		<-in.pumpDone
		// Leaving the group revokes every partition: onRevoked commits.
		in.cl.CloseAllowingRebalance()
	})
	return nil
}

// Healthy implements bindings.HealthChecker: franz-go's Ping (an
// ApiVersions round trip to any known broker), so that /readyz answers not
// ready while no broker of the cluster can be reached.
func (in *input) Healthy(ctx context.Context) error {
	if err := in.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka unreachable: %w", err)
	}
	return nil
}
