package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/ackbatch"
)

// input is a durable JetStream pull consumer read through the library's
// Consume, which keeps overlapping pull requests open and survives
// reconnects. Its callback hands each message to a channel that Receive
// drains: a Receive returns every message already delivered (up to its max),
// so the runtime's workers find work queued instead of waking one by one, and
// their acks leave the connection in bursts.
type input struct {
	nc       *natsgo.Conn
	js       jetstream.JetStream
	settings settings
	consumer jetstream.ConsumerConfig
	log      *slog.Logger
	pullMax  int // messages the library pulls ahead, besides those in msgs

	// msgs holds the messages the library delivered and Receive has not yet
	// taken; its capacity (batchSize) is how far the callback runs ahead.
	msgs chan jetstream.Msg

	mu      sync.Mutex // guards consume
	consume jetstream.ConsumeContext

	// held are the messages Receive returned and nobody settled yet; Close
	// gives them back sooner than their AckWait would.
	heldMu sync.Mutex
	held   map[jetstream.Msg]struct{}

	// acks are sent by one goroutine in bursts, so that they leave the
	// connection in few writes however many workers ack.
	acks *ackbatch.Writer[jetstream.Msg]

	done      chan struct{}
	closeOnce sync.Once
}

func openInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	md := cfg.Values()
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	nc, js, err := connect(cfg, "input")
	if err != nil {
		return nil, err
	}
	in := &input{
		nc: nc, js: js, settings: s, consumer: s.consumer, log: cfg.Logger,
		pullMax: max(1, md.Int("batchSize")) + max(1, md.Int("maxConcurrency")),
		msgs:    make(chan jetstream.Msg, max(1, md.Int("batchSize"))),
		held:    map[jetstream.Msg]struct{}{},
		done:    make(chan struct{}),
	}
	cc, err := in.subscribe(ctx)
	if err != nil {
		nc.Close()
		return nil, err
	}
	in.consume = cc
	in.acks = ackbatch.New(in.log, "ack messages", func(_ context.Context, msgs []jetstream.Msg) error {
		var errs []error
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	return in, nil
}

func consumerConfig(cfg bindings.Config) (jetstream.ConsumerConfig, error) {
	md := cfg.Values()
	durable := md.String("durableName")
	if durable == "" {
		durable = consumerName(cfg.Name)
	}
	// An output sees no defaults for input keys; read them the same way.
	cc := jetstream.ConsumerConfig{
		Durable:       durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       defaultAckWait,
		MaxDeliver:    md.Int("maxDeliver"),
		MaxAckPending: md.Int("maxAckPending"),
	}
	if md.Has("ackWait") {
		cc.AckWait = md.Duration("ackWait")
	}
	if cc.AckWait <= 0 {
		return cc, &bindings.KeyError{Key: "ackWait", Msg: "must be positive"}
	}
	attempts := bindings.DefaultDeliveryPolicy().MaxAttempts
	if md.Has("maxAttempts") {
		attempts = md.Int("maxAttempts")
	}
	switch {
	case cc.MaxDeliver < 0:
		return cc, &bindings.KeyError{Key: "maxDeliver", Msg: "must not be negative (0 means unlimited)"}
	case cc.MaxDeliver == 0:
		cc.MaxDeliver = -1
	case cc.MaxDeliver < attempts:
		return cc, &bindings.KeyError{Key: "maxDeliver", Msg: fmt.Sprintf(
			"%d is below maxAttempts %d: JetStream would stop delivering a failing message before the runtime dead-letters it", cc.MaxDeliver, attempts)}
	}
	if cc.MaxAckPending < 0 {
		return cc, &bindings.KeyError{Key: "maxAckPending", Msg: "must not be negative (0 means the server's default)"}
	}
	subjects := splitList(md.String("subject"))
	switch len(subjects) {
	case 0:
	case 1:
		cc.FilterSubject = subjects[0]
	default:
		cc.FilterSubjects = subjects
	}
	switch strings.ToLower(md.String("deliverPolicy")) {
	case "last":
		cc.DeliverPolicy = jetstream.DeliverLastPolicy
	case "new":
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	case "lastpersubject":
		cc.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	case "bystartsequence":
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		if md.Int("startSequence") < 1 {
			return cc, &bindings.KeyError{Key: "startSequence", Msg: "deliverPolicy byStartSequence needs a startSequence of at least 1"}
		}
		cc.OptStartSeq = uint64(md.Int("startSequence"))
	case "bystarttime":
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		t, err := time.Parse(time.RFC3339, md.String("startTime"))
		if err != nil {
			return cc, &bindings.KeyError{Key: "startTime", Msg: "deliverPolicy byStartTime needs an RFC 3339 startTime: " + err.Error()}
		}
		cc.OptStartTime = &t
	}
	return cc, nil
}

const defaultAckWait = 30 * time.Second

// pullExpiry bounds each pull request the iterator keeps open. A request
// outlives its iterator on the server until it expires, and a message the
// server sends it then is lost until its AckWait; Close therefore gives
// messages back with a delay just longer than this.
const pullExpiry = 5 * time.Second

// consumerName turns a component name into a valid durable name (no dots,
// wildcards, slashes or spaces).
func consumerName(s string) string { return ConsumerName(s) }

// ConsumerName is the durable consumer an input component reads through
// when it sets no durableName: the component's name with the characters
// NATS refuses in consumer names (dots, wildcards, slashes, spaces) replaced
// by "_". tether deploy names it to KEDA's scaler.
func ConsumerName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', '/', '\\', ' ', '\t':
			return '_'
		}
		return r
	}, s)
}

// subscribe makes sure the stream and the consumer exist and starts pulling.
func (in *input) subscribe(ctx context.Context) (jetstream.ConsumeContext, error) {
	if err := ensureStream(ctx, in.js, in.settings); err != nil {
		return nil, err
	}
	cons, err := in.js.CreateOrUpdateConsumer(ctx, in.settings.stream, in.consumer)
	if err != nil {
		return nil, fmt.Errorf("create consumer %q on stream %q: %w", in.consumer.Durable, in.settings.stream, err)
	}
	cc, err := cons.Consume(in.deliver,
		jetstream.PullMaxMessages(in.pullMax), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Missed heartbeats and server statuses: the library goes on
			// pulling; an ending shows as Closed.
			in.log.Debug("nats: pull", "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("pull from consumer %q: %w", in.consumer.Durable, err)
	}
	return cc, nil
}

// deliver is Consume's callback: it queues jm for Receive, waiting while
// the queue is full (the library pulls no further meanwhile). Once the input
// is closing it gives jm back instead.
func (in *input) deliver(jm jetstream.Msg) {
	if in.closed() { // not left to select's choice: Close may have made room
		_ = jm.NakWithDelay(pullExpiry + time.Second)
		return
	}
	select {
	case in.msgs <- jm:
	case <-in.done:
		_ = jm.NakWithDelay(pullExpiry + time.Second)
	}
}

// sleep waits d, or less when ctx ends or the input closes.
func (in *input) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-in.done:
		return false
	}
}

func (in *input) closed() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// Receive implements bindings.Input. It waits for one message, then takes
// the ones delivered meanwhile, up to max.
func (in *input) Receive(ctx context.Context, max int) ([]*bindings.Message, error) {
	for {
		in.mu.Lock()
		ended := in.consume.Closed()
		in.mu.Unlock()
		var first jetstream.Msg
		select {
		case first = <-in.msgs:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-in.done:
			return nil, bindings.ErrClosed
		case <-ended:
			// Consuming ended (consumer or stream deleted): make them
			// again.
			if err := in.resubscribe(ctx); err != nil {
				return nil, err
			}
			continue
		}
		msgs := make([]*bindings.Message, 0, min(max, 1+len(in.msgs)))
		for jm := first; ; {
			if m := in.take(jm); m != nil {
				msgs = append(msgs, m)
			}
			if len(msgs) >= max {
				break
			}
			select {
			case jm = <-in.msgs:
				continue
			default:
			}
			break
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
	}
}

// take turns jm into a message and holds it until it is settled; nil when
// jm is not a JetStream delivery (nothing to settle it with: only a
// misconfigured publisher replying into the consumer's inbox makes one).
func (in *input) take(jm jetstream.Msg) *bindings.Message {
	meta, err := jm.Metadata()
	if err != nil {
		in.log.Warn("nats: dropping a message that is not a JetStream delivery", "subject", jm.Subject(), "err", err)
		return nil
	}
	in.heldMu.Lock()
	in.held[jm] = struct{}{}
	in.heldMu.Unlock()
	return toMessage(jm, meta)
}

// resubscribe makes the consumer again after consuming ended, retrying with
// a growing pause until it succeeds, ctx ends or the input closes.
func (in *input) resubscribe(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		in.log.Warn("nats: consuming ended; resubscribing")
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		next, err := in.subscribe(sctx)
		cancel()
		if err == nil {
			in.mu.Lock()
			in.consume.Stop()
			in.consume = next
			in.mu.Unlock()
			if in.closed() { // Close may have stopped the old one only
				next.Stop()
				return bindings.ErrClosed
			}
			return nil
		}
		in.log.Warn("nats: resubscribe", "err", err)
		if !in.sleep(ctx, backoff) {
			if in.closed() {
				return bindings.ErrClosed
			}
			return ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// headerPartitionKey names the header that, when set, is the message's
// ordering key instead of its subject. Publishing with the portable
// partitionKey metadata sets it.
const headerPartitionKey = "partitionKey"

func toMessage(m jetstream.Msg, meta *jetstream.MsgMetadata) *bindings.Message {
	h := m.Headers()
	key := h.Get(headerPartitionKey)
	if key == "" {
		key = m.Subject()
	}
	d := &delivery{jm: m, meta: meta}
	d.msg = bindings.Message{
		ID:            strconv.FormatUint(meta.Sequence.Stream, 10),
		Data:          m.Data(),
		ContentType:   h.Get("Content-Type"),
		DeliveryCount: int(meta.NumDelivered),
		Key:           key,
		Time:          meta.Timestamp,
		Handle:        d,
	}
	return &d.msg
}

// delivery is a message's Handle: the JetStream message, and the message
// with it, in one allocation.
type delivery struct {
	jm   jetstream.Msg
	meta *jetstream.MsgMetadata
	msg  bindings.Message
	md   atomic.Pointer[map[string]string] // built on first use: see Metadata
}

// Metadata implements bindings.LazyMetadata: the message's headers (the
// first value of each), subject, stream, stream sequence and delivery
// count, built on first use: a handler that takes the payload never pays
// for the map. Two goroutines reading it at once may both build it; the
// first one stored is the one every call returns.
func (d *delivery) Metadata() map[string]string {
	if md := d.md.Load(); md != nil {
		return *md
	}
	h := d.jm.Headers()
	md := make(map[string]string, len(h)+4)
	for k, v := range h {
		if len(v) > 0 {
			md[k] = v[0]
		}
	}
	md["subject"] = d.jm.Subject()
	md["stream"] = d.meta.Stream
	md["streamSequence"] = strconv.FormatUint(d.meta.Sequence.Stream, 10)
	md["numDelivered"] = strconv.FormatUint(d.meta.NumDelivered, 10)
	if d.md.CompareAndSwap(nil, &md) {
		return md
	}
	return *d.md.Load()
}

func handle(m *bindings.Message) (jetstream.Msg, error) {
	d, ok := m.Handle.(*delivery)
	if !ok {
		return nil, fmt.Errorf("message %q was not received from this binding", m.ID)
	}
	return d.jm, nil
}

// settle takes m out of the held set.
func (in *input) settle(m *bindings.Message) (jetstream.Msg, error) {
	jm, err := handle(m)
	if err != nil {
		return nil, err
	}
	in.heldMu.Lock()
	delete(in.held, jm)
	in.heldMu.Unlock()
	return jm, nil
}

// Ack implements bindings.Input. The ack is not confirmed by the server (as
// with every JetStream client's default): a lost ack means one redelivery.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	jm, err := in.settle(m)
	if err != nil {
		return err
	}
	if !in.acks.Ack(jm) {
		return fmt.Errorf("ack stream sequence %s: %w", m.ID, bindings.ErrClosed)
	}
	return nil
}

// AckBatch implements bindings.BatchAcker: Ack for each of msgs, queued
// for the ack writer at once.
func (in *input) AckBatch(_ context.Context, msgs []*bindings.Message) error {
	var errs []error
	jms := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		jm, err := in.settle(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		jms = append(jms, jm)
	}
	if len(jms) > 0 && !in.acks.AckAll(jms...) {
		errs = append(errs, fmt.Errorf("ack %d messages: %w", len(jms), bindings.ErrClosed))
	}
	return errors.Join(errs...)
}

// Nack implements bindings.Input: JetStream redelivers after delay.
func (in *input) Nack(_ context.Context, m *bindings.Message, delay time.Duration) error {
	jm, err := in.settle(m)
	if err != nil {
		return err
	}
	if delay > 0 {
		err = jm.NakWithDelay(delay)
	} else {
		err = jm.Nak()
	}
	if err != nil {
		return fmt.Errorf("nak stream sequence %s: %w", m.ID, err)
	}
	return nil
}

// LeaseInterval tells the runtime how often to extend a running handler's
// lease: a third of ackWait, so that two in-progress acks may be late before
// JetStream redelivers.
func (in *input) LeaseInterval() time.Duration { return in.consumer.AckWait / 3 }

// ExtendLeases implements bindings.LeaseExtender with an in-progress ack per
// message, which restarts its AckWait on the server. JetStream has no batch
// form and no other length than AckWait, so d is not used; each ack is one
// publish without a reply, so many cost about one round trip.
func (in *input) ExtendLeases(_ context.Context, msgs []*bindings.Message, _ time.Duration) error {
	var errs []error
	for _, m := range msgs {
		jm, err := handle(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := jm.InProgress(); err != nil {
			errs = append(errs, fmt.Errorf("in-progress ack of stream sequence %s: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Close implements bindings.Input. It sends the queued acks, then gives back
// (naks) the messages it handed out and nobody settled, and those delivered
// and not yet received, so that another consumer gets them once this one's
// pull requests have expired (pullExpiry) rather than after their AckWait;
// the few the library had pulled ahead come back when their AckWait has
// passed.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		close(in.done)
		in.mu.Lock()
		cc := in.consume
		in.mu.Unlock()
		cc.Stop()
		// A callback under way may still queue its message: drain msgs
		// only once consuming has stopped.
		select {
		case <-cc.Closed():
		case <-time.After(5 * time.Second):
		}
		in.acks.Close()
		giveBack := pullExpiry + time.Second
		for {
			select {
			case m := <-in.msgs:
				_ = m.NakWithDelay(giveBack)
				continue
			default:
			}
			break
		}
		in.heldMu.Lock()
		for m := range in.held {
			_ = m.NakWithDelay(giveBack) // best effort: AckWait brings it back anyway
		}
		clear(in.held)
		in.heldMu.Unlock()
		// Flush so the naks leave before the connection closes.
		_ = in.nc.FlushTimeout(5 * time.Second)
		in.nc.Close()
	})
	return nil
}

var _ bindings.HealthChecker = (*input)(nil)

// Healthy implements bindings.HealthChecker: the client's connection state,
// no round trip.
func (in *input) Healthy(context.Context) error {
	if in.nc.IsConnected() {
		return nil
	}
	return fmt.Errorf("not connected to NATS (%s)", in.nc.Status())
}
