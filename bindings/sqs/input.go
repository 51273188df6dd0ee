package sqs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
)

// ackLinger is how long an ack waits for others to share its
// DeleteMessageBatch. Acks return at once; a delete that fails only means
// SQS redelivers the message when its visibility timeout ends.
const ackLinger = 5 * time.Millisecond

// settleTimeout bounds the calls made for messages after their caller has
// moved on: batched deletes, and the release of messages on Close.
const settleTimeout = 30 * time.Second

// ErrNotInFlight: the message was settled already, or was not received by
// this input.
var ErrNotInFlight = errors.New("message not in flight on this input")

// input receives from one queue.
type input struct {
	q          *queue
	log        *slog.Logger
	wait       int32         // long-poll seconds
	visibility int32         // sent with ReceiveMessage; 0 leaves the queue's
	lease      time.Duration // how long a received message stays hidden

	closeCtx   context.Context // done when Close starts: ends long polls
	closeStart context.CancelFunc
	closeOnce  sync.Once
	closeErr   error

	mu        sync.Mutex
	closed    bool
	inFlight  map[*delivery]struct{}
	receiving sync.WaitGroup // Receive calls under way
	settling  sync.WaitGroup // Ack, Nack and ExtendLeases calls under way

	deletes *deleter
}

// delivery is Message.Handle: one reception of a message.
type delivery struct {
	in      *input
	receipt string
}

func newInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	q, err := openQueue(ctx, s)
	if err != nil {
		return nil, err
	}
	in := &input{
		q:          q,
		log:        cfg.Logger.With("queue", q.name),
		wait:       s.wait,
		visibility: seconds(s.visibility, maxVisibility),
		lease:      q.visibility,
		inFlight:   map[*delivery]struct{}{},
	}
	if s.visibility > 0 {
		in.lease = s.visibility
	}
	in.closeCtx, in.closeStart = context.WithCancel(context.Background())
	in.deletes = newDeleter(q, in.log)
	return in, nil
}

// Receive long-polls until at least one message arrives and returns up to
// limit (at most ten) of them.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = min(maxBatch, max(limit, 1))
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil, fmt.Errorf("receive from %s: %w", in.q.name, bindings.ErrClosed)
	}
	in.receiving.Add(1)
	in.mu.Unlock()
	defer in.receiving.Done()

	pollCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(in.closeCtx, cancel)()
	for {
		if err := in.interrupted(ctx); err != nil {
			return nil, err
		}
		req := &awssqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(in.q.url),
			MaxNumberOfMessages:         int32(limit),
			WaitTimeSeconds:             in.wait,
			VisibilityTimeout:           in.visibility,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		}
		if in.q.fifo {
			// Should an answer be lost, the SDK's retry of this request
			// gets the same messages back instead of leaving them hidden.
			req.ReceiveRequestAttemptId = aws.String(randomID())
		}
		out, err := in.q.client.ReceiveMessage(pollCtx, req)
		if err != nil {
			if ierr := in.interrupted(ctx); ierr != nil {
				return nil, ierr
			}
			return nil, fmt.Errorf("receive from %s: %w", in.q.url, err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		if msgs := in.deliver(ctx, out.Messages); msgs != nil {
			return msgs, nil
		}
		// Too late to hand them out: give them back now rather than leave
		// them hidden for a whole visibility timeout.
		receipts := make([]string, len(out.Messages))
		for i, sm := range out.Messages {
			receipts[i] = aws.ToString(sm.ReceiptHandle)
		}
		rctx, cancelRelease := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
		if err := in.release(rctx, receipts); err != nil {
			in.log.Warn("could not give back messages received while stopping; SQS redelivers them after their visibility timeout", "error", err)
		}
		cancelRelease()
		return nil, in.interrupted(ctx)
	}
}

// interrupted returns the error Receive ends with when the input is closed
// or ctx is done, nil otherwise.
func (in *input) interrupted(ctx context.Context) error {
	if in.closeCtx.Err() != nil {
		return fmt.Errorf("receive from %s: %w", in.q.name, bindings.ErrClosed)
	}
	return ctx.Err()
}

// deliver registers received messages as in flight and converts them; nil
// when the input closed or ctx ended meanwhile.
func (in *input) deliver(ctx context.Context, sms []types.Message) []*bindings.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || ctx.Err() != nil {
		return nil
	}
	msgs := make([]*bindings.Message, len(sms))
	for i, sm := range sms {
		d := &delivery{in: in, receipt: aws.ToString(sm.ReceiptHandle)}
		in.inFlight[d] = struct{}{}
		msgs[i] = message(sm, d)
	}
	return msgs
}

// take settles m's delivery: it must be in flight on this input, which is
// not closed. It returns how many other messages are still in flight. The
// caller calls in.settling.Done when its call to SQS is over.
func (in *input) take(m *bindings.Message, op string) (d *delivery, others int, err error) {
	d, ok := m.Handle.(*delivery)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return nil, 0, fmt.Errorf("%s %s: %w", op, m.ID, bindings.ErrClosed)
	}
	if !ok || d.in != in {
		return nil, 0, fmt.Errorf("%s %s: %w", op, m.ID, ErrNotInFlight)
	}
	if _, ok := in.inFlight[d]; !ok {
		return nil, 0, fmt.Errorf("%s %s: %w", op, m.ID, ErrNotInFlight)
	}
	delete(in.inFlight, d)
	in.settling.Add(1)
	return d, len(in.inFlight), nil
}

// Ack deletes the message. Deletes are sent in batches of up to ten: a
// batch goes out when it is full, when no other message is in flight (no
// ack is coming to share it; on a FIFO queue the group's next message waits
// for this delete), or a few milliseconds after its first ack. Ack returns
// once the delete is queued or sent; Close sends every queued delete before
// it returns. A delete that fails is logged, and SQS redelivers the message
// after its visibility timeout.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	d, others, err := in.take(m, "ack")
	if err != nil {
		return err
	}
	defer in.settling.Done()
	in.deletes.add(d.receipt, others == 0)
	return nil
}

// Nack makes the message visible again after delay (rounded up to whole
// seconds, at most 12 hours): SQS redelivers it then, counting one more
// receive.
func (in *input) Nack(ctx context.Context, m *bindings.Message, delay time.Duration) error {
	d, _, err := in.take(m, "nack")
	if err != nil {
		return err
	}
	defer in.settling.Done()
	if err := in.setVisibility(ctx, d.receipt, seconds(delay, maxVisibility)); err != nil {
		return fmt.Errorf("nack %s: %w (SQS redelivers it when its visibility timeout ends)", m.ID, err)
	}
	return nil
}

// ExtendLeases keeps msgs, received here and not settled, hidden for d from
// now (rounded up to whole seconds): ten per ChangeMessageVisibilityBatch
// request, a few requests at a time, so that many messages take about as
// long as ten.
func (in *input) ExtendLeases(ctx context.Context, msgs []*bindings.Message, d time.Duration) error {
	var errs []error
	receipts := make([]string, 0, len(msgs))
	ids := make([]string, 0, len(msgs))
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return fmt.Errorf("extend leases: %w", bindings.ErrClosed)
	}
	for _, m := range msgs {
		dl, ok := m.Handle.(*delivery)
		if _, held := in.inFlight[dl]; !ok || !held {
			errs = append(errs, fmt.Errorf("extend lease of %s: %w", m.ID, ErrNotInFlight))
			continue
		}
		receipts = append(receipts, dl.receipt)
		ids = append(ids, m.ID)
	}
	in.settling.Add(1)
	in.mu.Unlock()
	defer in.settling.Done()
	if err := in.changeVisibility(ctx, receipts, ids, max(1, seconds(d, maxVisibility))); err != nil {
		errs = append(errs, fmt.Errorf("extend leases: %w", err))
	}
	return errors.Join(errs...)
}

// LeaseInterval tells the runtime how often to extend the lease of a
// running handler's message: a third of the visibility timeout, so that each
// extension (to twice the interval) lands well before the timeout.
func (in *input) LeaseInterval() time.Duration { return in.lease / 3 }

func (in *input) setVisibility(ctx context.Context, receipt string, secs int32) error {
	_, err := in.q.client.ChangeMessageVisibility(ctx, &awssqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(in.q.url),
		ReceiptHandle:     aws.String(receipt),
		VisibilityTimeout: secs,
	})
	return err
}

// release makes messages visible at once.
func (in *input) release(ctx context.Context, receipts []string) error {
	return in.changeVisibility(ctx, receipts, nil, 0)
}

// visibilityRequests is how many ChangeMessageVisibilityBatch requests
// changeVisibility has in flight at once.
const visibilityRequests = 4

// changeVisibility sets the visibility timeout of the messages of receipts
// (named ids in errors, when given) to secs, ten per request, up to
// visibilityRequests requests at a time.
func (in *input) changeVisibility(ctx context.Context, receipts, ids []string, secs int32) error {
	name := func(i int) string {
		if ids != nil {
			return ids[i]
		}
		return "message " + strconv.Itoa(i)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, visibilityRequests)
	)
	for start := 0; start < len(receipts); start += maxBatch {
		end := min(start+maxBatch, len(receipts))
		req := &awssqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(in.q.url)}
		for i, r := range receipts[start:end] {
			req.Entries = append(req.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(start + i)), ReceiptHandle: aws.String(r), VisibilityTimeout: secs,
			})
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out, err := in.q.client.ChangeMessageVisibilityBatch(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s to %s: %w", name(start), name(end-1), err))
				return
			}
			for _, f := range out.Failed {
				i, _ := strconv.Atoi(aws.ToString(f.Id))
				errs = append(errs, fmt.Errorf("%s: %s: %s", name(i), aws.ToString(f.Code), aws.ToString(f.Message)))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close stops receiving, sends the deletes of every acked message, and makes
// the messages still in flight visible again at once, so that they are
// redelivered (one receive more) without waiting for their visibility
// timeout. Acks, nacks and lease extensions already under way finish first;
// later ones fail with bindings.ErrClosed.
func (in *input) Close() error {
	in.closeOnce.Do(func() {
		in.mu.Lock()
		in.closed = true
		held := make([]string, 0, len(in.inFlight))
		for d := range in.inFlight {
			held = append(held, d.receipt)
		}
		in.inFlight = nil
		in.mu.Unlock()
		in.closeStart()
		in.receiving.Wait()
		in.settling.Wait()

		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		var errs []error
		if err := in.deletes.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("delete acked messages: %w", err))
		}
		if err := in.release(ctx, held); err != nil {
			errs = append(errs, fmt.Errorf("give back %d messages in flight (SQS redelivers them after their visibility timeout): %w", len(held), err))
		}
		if len(errs) > 0 {
			in.closeErr = fmt.Errorf("close input on %s: %w", in.q.name, errors.Join(errs...))
		}
	})
	return in.closeErr
}

// deleter coalesces acks into DeleteMessageBatch calls: a batch goes out
// when it has ten entries or the input holds no other message (sent by that
// ack, which so feels SQS's pace), or ackLinger after its first entry (sent
// from a timer).
type deleter struct {
	q   *queue
	log *slog.Logger

	mu      sync.Mutex
	pending []string // receipt handles
	timer   *time.Timer
	flushes sync.WaitGroup
}

func newDeleter(q *queue, log *slog.Logger) *deleter {
	d := &deleter{q: q, log: log}
	d.timer = time.AfterFunc(time.Hour, d.flushPending)
	d.timer.Stop()
	return d
}

// add queues a delete; now sends the batch at once, full or not.
func (d *deleter) add(receipt string, now bool) {
	d.mu.Lock()
	d.pending = append(d.pending, receipt)
	if len(d.pending) < maxBatch && !now {
		if len(d.pending) == 1 {
			d.timer.Reset(ackLinger)
		}
		d.mu.Unlock()
		return
	}
	batch := d.pending
	d.pending = nil
	d.timer.Stop()
	d.flushes.Add(1)
	d.mu.Unlock()
	defer d.flushes.Done()
	d.send(batch)
}

// flushPending runs from the timer.
func (d *deleter) flushPending() {
	d.mu.Lock()
	batch := d.pending
	d.pending = nil
	if len(batch) == 0 {
		d.mu.Unlock()
		return
	}
	d.flushes.Add(1)
	d.mu.Unlock()
	defer d.flushes.Done()
	d.send(batch)
}

// send deletes a batch and logs what failed: the caller has moved on, and
// SQS redelivers those messages after their visibility timeout.
func (d *deleter) send(receipts []string) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if err := d.delete(ctx, receipts); err != nil {
		d.log.Error("delete of acked messages failed; SQS will redeliver them after their visibility timeout", "messages", len(receipts), "error", err)
	}
}

func (d *deleter) delete(ctx context.Context, receipts []string) error {
	req := &awssqs.DeleteMessageBatchInput{QueueUrl: aws.String(d.q.url), Entries: make([]types.DeleteMessageBatchRequestEntry, len(receipts))}
	for i, r := range receipts {
		req.Entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r)}
	}
	out, err := d.q.client.DeleteMessageBatch(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range out.Failed {
		errs = append(errs, fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return errors.Join(errs...)
}

// close sends what is pending, synchronously, and waits for batches under
// way. No add may come after it starts.
func (d *deleter) close(ctx context.Context) error {
	d.mu.Lock()
	d.timer.Stop()
	batch := d.pending
	d.pending = nil
	d.mu.Unlock()
	var err error
	for start := 0; start < len(batch); start += maxBatch {
		err = errors.Join(err, d.delete(ctx, batch[start:min(start+maxBatch, len(batch))]))
	}
	d.flushes.Wait()
	return err
}
