package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/tetherfn/tether/bindings"
)

// ErrNotInFlight: the message was settled already, or was not received by
// this input.
var ErrNotInFlight = errors.New("message not in flight on this input")

// input reads one subscription. The client library's Receive runs in the
// background from open to Close; its callback hands each message over an
// unbuffered channel to the next Receive call, so the library's flow control
// (maxOutstandingMessages) counts every message from delivery to settlement.
type input struct {
	client *gpubsub.Client
	sub    *gpubsub.Subscriber
	name   string
	log    *slog.Logger

	handoff chan *gpubsub.Message

	ctx    context.Context // of the library's Receive; cancelled by Close
	cancel context.CancelFunc
	gate   *closeGate

	mu        sync.Mutex
	closed    bool
	inFlight  map[*delivery]struct{}
	run       *receiver // the library's Receive under way
	receiving sync.WaitGroup
	closeErr  error
	closeOnce sync.Once
}

// receiver is one run of the library's Receive, which returns only on Close
// or on an error it does not retry (the subscription was deleted, access
// was revoked...). The next Receive call after such an error starts a new
// run, so that the runtime's receive backoff paces the attempts.
type receiver struct {
	done chan struct{}
	err  error // set before done is closed
}

// delivery is Message.Handle.
type delivery struct {
	in  *input
	msg *gpubsub.Message
	m   bindings.Message                  // the message handed out, allocated with it
	md  atomic.Pointer[map[string]string] // built on first use: see Metadata
}

func newInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if s.subscription == "" {
		return nil, &bindings.KeyError{Key: "subscription", Msg: "is required for an input"}
	}
	gate := &closeGate{}
	client, err := connect(ctx, s, gate.options()...)
	if err != nil {
		return nil, err
	}
	name := fullName(client.Project(), "subscriptions", s.subscription)
	log := cfg.Logger.With("subscription", name)
	topic := ""
	if s.topic != "" {
		topic = fullName(client.Project(), "topics", s.topic)
	}
	if err := ensureSubscription(ctx, client, log, s, name, topic); err != nil {
		client.Close()
		return nil, err
	}
	sub := client.Subscriber(name)
	sub.ReceiveSettings.MaxOutstandingMessages = s.receive.MaxOutstandingMessages
	sub.ReceiveSettings.MaxOutstandingBytes = s.receive.MaxOutstandingBytes
	sub.ReceiveSettings.NumGoroutines = s.receive.NumGoroutines
	sub.ReceiveSettings.MaxExtension = s.receive.MaxExtension
	sub.ReceiveSettings.MaxDurationPerAckExtension = s.receive.MaxDurationPerAckExtension
	sub.ReceiveSettings.MinDurationPerAckExtension = s.receive.MinDurationPerAckExtension
	// ShutdownOptions stay nil: Receive returns on Close only once every
	// message is settled and the last acks are sent, so Close loses none;
	// the gate holds the nacks back until the streams have ended.
	in := &input{
		gate:     gate,
		client:   client,
		sub:      sub,
		name:     name,
		log:      log,
		handoff:  make(chan *gpubsub.Message),
		inFlight: map[*delivery]struct{}{},
	}
	in.ctx, in.cancel = context.WithCancel(context.Background())
	in.run = in.start()
	return in, nil
}

// start runs the library's Receive in the background.
func (in *input) start() *receiver {
	r := &receiver{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = in.sub.Receive(in.ctx, func(ctx context.Context, m *gpubsub.Message) {
			select {
			case in.handoff <- m:
			case <-ctx.Done(): // closing: give it back at once
				m.Nack()
			}
		})
	}()
	return r
}

// Receive waits for at least one message and returns those the library
// holds ready, up to limit.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = max(limit, 1)
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil, fmt.Errorf("receive from %s: %w", in.name, bindings.ErrClosed)
	}
	in.receiving.Add(1)
	run := in.run
	in.mu.Unlock()
	defer in.receiving.Done()

	var got []*gpubsub.Message
	select {
	case m := <-in.handoff:
		got = append(got, m)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-in.ctx.Done():
		return nil, fmt.Errorf("receive from %s: %w", in.name, bindings.ErrClosed)
	case <-run.done:
		return nil, in.restart(run)
	}
more:
	for len(got) < limit {
		select {
		case m := <-in.handoff:
			got = append(got, m)
		default:
			break more
		}
	}
	msgs, ok := in.deliver(ctx, got)
	if !ok {
		for _, m := range got {
			m.Nack()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("receive from %s: %w", in.name, bindings.ErrClosed)
	}
	return msgs, nil
}

// restart reports why the library's Receive stopped and starts a new run
// for the next call.
func (in *input) restart(run *receiver) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return fmt.Errorf("receive from %s: %w", in.name, bindings.ErrClosed)
	}
	if in.run == run {
		in.run = in.start()
	}
	if run.err == nil {
		return fmt.Errorf("receive from %s: the subscriber stopped; restarted", in.name)
	}
	return fmt.Errorf("receive from %s: %w (restarted)", in.name, run.err)
}

func (in *input) deliver(ctx context.Context, got []*gpubsub.Message) ([]*bindings.Message, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || ctx.Err() != nil {
		return nil, false
	}
	msgs := make([]*bindings.Message, len(got))
	for i, pm := range got {
		d := &delivery{in: in, msg: pm}
		in.inFlight[d] = struct{}{}
		msgs[i] = message(pm, d)
	}
	return msgs, true
}

// message turns a Pub/Sub message into a bindings.Message, d's: the
// metadata is built when something reads it (Metadata).
func message(pm *gpubsub.Message, d *delivery) *bindings.Message {
	d.m = bindings.Message{
		ID:            pm.ID,
		Data:          pm.Data,
		ContentType:   pm.Attributes[attrContentType],
		Key:           pm.OrderingKey,
		Time:          pm.PublishTime,
		DeliveryCount: 1,
		Handle:        d,
	}
	if pm.DeliveryAttempt != nil && *pm.DeliveryAttempt > 0 {
		d.m.DeliveryCount = *pm.DeliveryAttempt
	}
	return &d.m
}

// Metadata implements bindings.LazyMetadata: the message's attributes (but
// the content type), its id, publish time, ordering key and delivery
// attempt, built on first use: a handler that takes the payload never pays
// for the map and the time's formatting. Two goroutines reading it at once
// may both build it; the first one stored is the one every call returns.
func (d *delivery) Metadata() map[string]string {
	if md := d.md.Load(); md != nil {
		return *md
	}
	pm := d.msg
	md := make(map[string]string, len(pm.Attributes)+4)
	for k, v := range pm.Attributes {
		if k != attrContentType {
			md[k] = v
		}
	}
	md[metaID] = pm.ID
	if !pm.PublishTime.IsZero() {
		md[metaPublishTime] = pm.PublishTime.UTC().Format(time.RFC3339Nano)
	}
	if pm.OrderingKey != "" {
		md[MetaOrderingKey] = pm.OrderingKey
	}
	if pm.DeliveryAttempt != nil && *pm.DeliveryAttempt > 0 {
		md[metaDeliveryAttempt] = strconv.Itoa(*pm.DeliveryAttempt)
	}
	if d.md.CompareAndSwap(nil, &md) {
		return md
	}
	return *d.md.Load()
}

// take removes m from the messages in flight.
func (in *input) take(m *bindings.Message, op string) (*gpubsub.Message, error) {
	d, ok := m.Handle.(*delivery)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil, fmt.Errorf("%s %s: %w", op, m.ID, bindings.ErrClosed)
	}
	if !ok || d.in != in {
		return nil, fmt.Errorf("%s %s: %w", op, m.ID, ErrNotInFlight)
	}
	if _, held := in.inFlight[d]; !held {
		return nil, fmt.Errorf("%s %s: %w", op, m.ID, ErrNotInFlight)
	}
	delete(in.inFlight, d)
	return d.msg, nil
}

// Ack acknowledges the message. The library sends acks in batches, in the
// background; Close waits for them.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	pm, err := in.take(m, "ack")
	if err != nil {
		return err
	}
	pm.Ack()
	return nil
}

// Nack gives the message back for immediate redelivery: Pub/Sub cannot delay
// one, so the runtime holds a message for its retry delay itself (the
// library keeps extending its deadline meanwhile) and nacks only to give it
// away.
func (in *input) Nack(_ context.Context, m *bindings.Message, _ time.Duration) error {
	pm, err := in.take(m, "nack")
	if err != nil {
		return err
	}
	pm.Nack()
	return nil
}

// Close stops receiving: messages in flight are nacked, so Pub/Sub
// redelivers them at once, and Close returns when the library has sent
// every ack and Close every nack. The nacks go out only once the input's
// pull streams have ended (see closeGate), so that none comes back to a
// stream that is going away.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		held := in.inFlight
		in.inFlight = nil
		run := in.run
		in.mu.Unlock()
		in.gate.close()
		for d := range held {
			d.msg.Nack() // ends its lease extension; the gate holds the nack
		}
		in.cancel()
		in.receiving.Wait()
		<-run.done
		if run.err != nil && !errors.Is(run.err, context.Canceled) {
			in.log.Warn("subscriber stopped with an error", "error", run.err)
		}
		in.gate.drain()
		errNack := in.nack(in.gate.release())
		errClose := in.client.Close()
		if errClose != nil {
			errClose = fmt.Errorf("close Pub/Sub client: %w", errClose)
		}
		in.closeErr = errors.Join(errNack, errClose)
	})
	return in.closeErr
}

// nackBatch bounds the ack IDs of one ModifyAckDeadline request, well under
// its 512 KB limit.
const nackBatch = 1000

// nack gives the messages of ackIDs back at once. One that fails is
// redelivered when its ack deadline expires.
func (in *input) nack(ackIDs []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for len(ackIDs) > 0 {
		batch := ackIDs[:min(nackBatch, len(ackIDs))]
		ackIDs = ackIDs[len(batch):]
		err := in.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: in.name, AckIds: batch, AckDeadlineSeconds: 0,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("nack %d messages of %s at close (redelivered after their ack deadline): %w", len(batch), in.name, err))
		}
	}
	return errors.Join(errs...)
}
