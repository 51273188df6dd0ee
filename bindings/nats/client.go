package nats

import (
	"context"
	"fmt"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.nats output, for a function that
// publishes to several subjects or sets headers and de-duplication ids:
//
//	type Outputs struct {
//		Events *nats.Client `binding:"events"`
//	}
//
//	ack, err := out.Events.Publish(ctx, "orders.shipped", data,
//		nats.WithMsgID(order.ID), nats.WithHeader("tenant", order.Tenant))
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

// PubAck is JetStream's acknowledgement of a stored message.
type PubAck struct {
	Stream   string
	Sequence uint64
	// Duplicate is true when the stream already held a message with the same
	// id (WithMsgID) and dropped this one.
	Duplicate bool
}

// PublishOption adjusts one Publish call.
type PublishOption func(*publishRequest)

// WithHeader adds a header value (headers may repeat).
func WithHeader(key, value string) PublishOption {
	return func(p *publishRequest) { p.header.Add(key, value) }
}

// WithMsgID sets the Nats-Msg-Id header: JetStream stores a message only once
// per id within the stream's duplicate window.
func WithMsgID(id string) PublishOption {
	return func(p *publishRequest) { p.msgID = id }
}

// WithContentType sets the Content-Type header, which the input hands over
// as the message's content type.
func WithContentType(ct string) PublishOption {
	return func(p *publishRequest) { p.header.Set("Content-Type", ct) }
}

// Publish stores data on subject (which the stream must capture) and returns
// once JetStream has acknowledged it. An empty subject means the component's.
func (c *Client) Publish(ctx context.Context, subject string, data []byte, opts ...PublishOption) (PubAck, error) {
	if c.out == nil {
		return PubAck{}, fmt.Errorf("nats.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	p := publishRequest{subject: subject, data: data, header: natsgo.Header{}}
	if p.subject == "" {
		p.subject = c.out.subject
	}
	for _, opt := range opts {
		opt(&p)
	}
	bindings.SetTraceContext(ctx, p.header.Set)
	ack, err := c.out.publish(ctx, p)
	if err != nil {
		return PubAck{}, &bindings.Error{Binding: c.name, Type: TypeName, Op: "publish", Err: err}
	}
	return PubAck{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
