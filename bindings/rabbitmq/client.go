package rabbitmq

import (
	"context"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.rabbitmq output, for a function
// that publishes to an exchange with a routing key or sets AMQP properties:
//
//	type Outputs struct {
//		Events *rabbitmq.Client `binding:"events"`
//	}
//
//	err := out.Events.Publish(ctx, "orders", "orders.shipped", data,
//		rabbitmq.WithMessageID(order.ID), rabbitmq.WithHeader("tenant", order.Tenant))
//
// Messages are persistent, and Publish returns once the broker confirmed
// one; a message no queue takes is an error, not a silent drop.
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

// Queue returns the component's queue name: Publish(ctx, "", c.Queue(), ...)
// sends to it through the default exchange.
func (c *Client) Queue() string {
	if c.out == nil {
		return ""
	}
	return c.out.s.queue
}

// PublishOption sets a property or header of one message.
type PublishOption func(*amqp.Publishing)

// WithHeader sets a header.
func WithHeader(key string, value any) PublishOption {
	return func(p *amqp.Publishing) {
		if p.Headers == nil {
			p.Headers = amqp.Table{}
		}
		p.Headers[key] = value
	}
}

// WithMessageID sets the message-id property (default: a random id).
func WithMessageID(id string) PublishOption { return func(p *amqp.Publishing) { p.MessageId = id } }

// WithCorrelationID sets the correlation-id property.
func WithCorrelationID(id string) PublishOption {
	return func(p *amqp.Publishing) { p.CorrelationId = id }
}

// WithContentType sets the content-type property (default: the component's
// contentType).
func WithContentType(ct string) PublishOption { return func(p *amqp.Publishing) { p.ContentType = ct } }

// WithPriority sets the priority (the queue must be a priority queue).
func WithPriority(priority uint8) PublishOption {
	return func(p *amqp.Publishing) { p.Priority = priority }
}

// WithTTL makes the message expire after d (per-message TTL, in whole
// milliseconds).
func WithTTL(d time.Duration) PublishOption {
	return func(p *amqp.Publishing) { p.Expiration = strconv.FormatInt(max(0, d.Milliseconds()), 10) }
}

// WithReplyTo sets the reply-to property.
func WithReplyTo(queue string) PublishOption { return func(p *amqp.Publishing) { p.ReplyTo = queue } }

// WithType sets the type property.
func WithType(t string) PublishOption { return func(p *amqp.Publishing) { p.Type = t } }

// Publish sends data to exchange with routingKey ("" exchange: the default
// one, where the routing key is a queue name) and waits for the broker's
// confirm.
func (c *Client) Publish(ctx context.Context, exchange, routingKey string, data []byte, opts ...PublishOption) error {
	if c.out == nil {
		return fmt.Errorf("rabbitmq.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	m := message{exchange: exchange, routingKey: routingKey, Publishing: amqp.Publishing{Body: data}}
	for _, opt := range opts {
		opt(&m.Publishing)
	}
	bindings.SetTraceContext(ctx, func(k, v string) {
		if m.Headers == nil {
			m.Headers = amqp.Table{}
		}
		m.Headers[k] = v
	})
	if err := c.out.publish(ctx, &m); err != nil {
		return &bindings.Error{Binding: c.name, Type: TypeName, Op: "publish", Err: err}
	}
	return nil
}
