package sqs

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
)

// output sends to one queue.
type output struct {
	q      *queue
	group  string // default FIFO message group
	closed atomic.Bool
}

func newOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	q, err := openQueue(ctx, s)
	if err != nil {
		return nil, err
	}
	return &output{q: q, group: s.fifoGroup}, nil
}

// Invoke runs create: one SendMessage. The response metadata holds the
// message id (and, on FIFO queues, the sequence number).
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q (bindings.aws.sqs has only %q)", bindings.ErrUnsupportedOperation, req.Operation, bindings.OpCreate)
	}
	og, err := fromRequest(req)
	if err != nil {
		return nil, err
	}
	id, seq, err := o.send(ctx, og)
	if err != nil {
		return nil, err
	}
	md := map[string]string{MetaMessageID: id}
	if seq != "" {
		md[MetaSequenceNumber] = seq
	}
	return &bindings.InvokeResponse{Metadata: md}, nil
}

func (o *output) send(ctx context.Context, og outgoing) (id, seq string, err error) {
	if o.closed.Load() {
		return "", "", bindings.ErrClosed
	}
	e, err := o.q.entry(og, o.group)
	if err != nil {
		return "", "", err
	}
	out, err := o.q.client.SendMessage(ctx, &awssqs.SendMessageInput{
		QueueUrl:                aws.String(o.q.url),
		MessageBody:             aws.String(e.body),
		MessageAttributes:       e.attrs,
		MessageSystemAttributes: e.system,
		DelaySeconds:            e.delay,
		MessageGroupId:          e.group,
		MessageDeduplicationId:  e.dedup,
	})
	if err != nil {
		return "", "", fmt.Errorf("send to %s: %w", o.q.url, err)
	}
	return aws.ToString(out.MessageId), aws.ToString(out.SequenceNumber), nil
}

// sendBatch sends messages with SendMessageBatch, ten (or fewer, to stay
// within the request size limit) per request, one request after the other
// so that a FIFO group keeps the order given. It returns the ids in the
// order of msgs, "" for those that failed, and a *BatchError naming them.
func (o *output) sendBatch(ctx context.Context, msgs []outgoing) ([]string, error) {
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	entries := make([]entry, len(msgs))
	for i, og := range msgs {
		e, err := o.q.entry(og, o.group)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		entries[i] = e
	}
	ids := make([]string, len(msgs))
	var failed []BatchEntryError
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && end-start < maxBatch && (end == start || size+entries[end].size <= maxBatchBodySize) {
			size += entries[end].size
			end++
		}
		req := &awssqs.SendMessageBatchInput{QueueUrl: aws.String(o.q.url)}
		for i := start; i < end; i++ {
			e := entries[i]
			req.Entries = append(req.Entries, types.SendMessageBatchRequestEntry{
				Id:                      aws.String(strconv.Itoa(i)),
				MessageBody:             aws.String(e.body),
				MessageAttributes:       e.attrs,
				MessageSystemAttributes: e.system,
				DelaySeconds:            e.delay,
				MessageGroupId:          e.group,
				MessageDeduplicationId:  e.dedup,
			})
		}
		out, err := o.q.client.SendMessageBatch(ctx, req)
		if err != nil {
			err = fmt.Errorf("send batch to %s: %w", o.q.url, err)
			for i := start; i < len(entries); i++ {
				failed = append(failed, BatchEntryError{Index: i, Err: err})
			}
			return ids, &BatchError{Failed: failed}
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i >= start && i < end {
				ids[i] = aws.ToString(ok.MessageId)
			}
		}
		for _, f := range out.Failed {
			if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= start && i < end {
				failed = append(failed, BatchEntryError{Index: i, Code: aws.ToString(f.Code), SenderFault: f.SenderFault,
					Err: fmt.Errorf("%s: %s", aws.ToString(f.Code), aws.ToString(f.Message))})
			}
		}
		start = end
	}
	if len(failed) > 0 {
		return ids, &BatchError{Failed: failed}
	}
	return ids, nil
}

// Close marks the output closed; sends after it fail with bindings.ErrClosed.
func (o *output) Close() error {
	o.closed.Store(true)
	return nil
}

// BatchError lists the messages of a SendBatch that SQS did not take.
type BatchError struct {
	Failed []BatchEntryError
}

// BatchEntryError is one message of a batch that was not sent.
type BatchEntryError struct {
	Index       int    // position in the slice given to SendBatch
	Code        string // SQS's error code, "" when the whole request failed
	SenderFault bool   // SQS says the message itself is at fault: resending it will not help
	Err         error
}

func (e *BatchError) Error() string {
	if len(e.Failed) == 1 {
		return fmt.Sprintf("message %d of the batch not sent: %v", e.Failed[0].Index, e.Failed[0].Err)
	}
	return fmt.Sprintf("%d messages of the batch not sent; first, message %d: %v", len(e.Failed), e.Failed[0].Index, e.Failed[0].Err)
}

// Unwrap returns every entry's error, for errors.Is and errors.As.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
