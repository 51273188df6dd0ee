package sqs

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.aws.sqs output, for a function
// that sets SQS's own fields or sends many messages at once:
//
//	type Outputs struct {
//		Shipments *sqs.Client `binding:"shipments"`
//	}
//
//	ids, err := out.Shipments.SendBatch(ctx, []sqs.Message{
//		{Body: a, GroupID: order.Customer},
//		{Body: b, GroupID: order.Customer, Delay: time.Minute},
//	})
//
// Errors are *bindings.Error values naming the component; SendBatch's keeps
// a *BatchError inside, listing the messages SQS did not take.
type Client struct {
	name string
	out  *output
}

var _ bindings.Binder = (*Client)(nil)

// BindOutput implements bindings.Binder: it accepts only a component of
// type TypeName.
func (c *Client) BindOutput(b bindings.OutputBinding) error {
	out, err := bindings.RequireDriver[*output](b, TypeName)
	if err != nil {
		return err
	}
	c.name, c.out = b.Name, out
	return nil
}

// Binding returns the component name the client is bound to.
func (c *Client) Binding() string { return c.name }

// Message is one message to send.
type Message struct {
	// Body is the payload. Text SQS accepts is sent as it is; anything else
	// base64-encoded, and decoded again by a Tether input.
	Body []byte
	// ContentType travels as the message attribute contentType.
	ContentType string
	// Attributes are String message attributes. With the content type (and
	// the encoding mark of a binary body) SQS allows ten.
	Attributes map[string]string
	// Delay hides the message for up to 15 minutes (whole seconds, rounded
	// up). Standard queues only.
	Delay time.Duration
	// GroupID is the FIFO message group (default: the component's
	// fifoMessageGroupID); on a standard queue, the fair-queue tenant.
	GroupID string
	// DeduplicationID is the FIFO deduplication id. Default: a random one,
	// unless the queue deduplicates by content.
	DeduplicationID string
}

func (m Message) outgoing() outgoing {
	o := outgoing{body: m.Body, contentType: m.ContentType, delay: m.Delay, group: m.GroupID, dedup: m.DeduplicationID}
	for k, v := range m.Attributes {
		if strings.EqualFold(k, attrContentType) {
			if o.contentType == "" {
				o.contentType = v
			}
			continue
		}
		if o.attributes == nil {
			o.attributes = make(map[string]string, len(m.Attributes))
		}
		o.attributes[k] = v
	}
	return o
}

// traced is m's outgoing form with the trace context of ctx's span, when
// there is one, as message attributes (bindings.SetTraceContext).
func (m Message) traced(ctx context.Context) outgoing {
	o := m.outgoing()
	bindings.SetTraceContext(ctx, func(k, v string) {
		if o.attributes == nil {
			o.attributes = make(map[string]string, 2)
		}
		o.attributes[k] = v
	})
	return o
}

func (c *Client) err(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *bindings.Error
	if errors.As(err, &be) {
		return err
	}
	return &bindings.Error{Binding: c.name, Type: TypeName, Op: op, Err: err}
}

func (c *Client) bound() error {
	if c.out == nil {
		return errors.New("*sqs.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	return nil
}

// Send sends one message and returns the id SQS gave it.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	if err := c.bound(); err != nil {
		return "", err
	}
	id, _, err := c.out.send(ctx, m.traced(ctx))
	return id, c.err("send", err)
}

// SendBatch sends msgs with as few SendMessageBatch requests as SQS allows
// (ten messages each), in order, and returns their ids in the order of msgs.
// When some are not sent, their ids are "" and the error wraps a
// *BatchError listing them; the others were sent. A message that breaks a
// rule (an empty body, too many attributes...) fails the call before
// anything is sent.
func (c *Client) SendBatch(ctx context.Context, msgs []Message) ([]string, error) {
	if err := c.bound(); err != nil {
		return nil, err
	}
	out := make([]outgoing, len(msgs))
	for i, m := range msgs {
		out[i] = m.traced(ctx)
	}
	ids, err := c.out.sendBatch(ctx, out)
	return ids, c.err("send batch", err)
}
