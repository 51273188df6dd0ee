package kafka

import (
	"context"
	"errors"
	"strconv"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.kafka output, for a function's
// Outputs struct when it needs the record key, partition or headers:
//
//	type Outputs struct {
//		Events *kafka.Client `binding:"events"`
//	}
//
//	rec, err := out.Events.Produce(ctx, data, kafka.WithKey(order.ID), kafka.WithHeader("source", "checkout"))
//
// Produce waits for the brokers' acknowledgement (all in-sync replicas by
// default). Errors are the binding's (*bindings.Error).
type Client struct {
	b bindings.OutputBinding
}

// BindOutput implements bindings.Binder: it accepts only a component of
// type TypeName.
func (c *Client) BindOutput(b bindings.OutputBinding) error {
	if err := b.Require(TypeName); err != nil {
		return err
	}
	c.b = b
	return nil
}

// Binding returns the component name the client is bound to.
func (c *Client) Binding() string { return c.b.Name }

// Produced says where a record was written.
type Produced struct {
	Topic     string
	Partition int32
	Offset    int64
}

// ProduceOption sets a property of one record.
type ProduceOption func(*bindings.InvokeRequest)

// WithKey sets the record key, which chooses its partition (Kafka's murmur2
// hash, as other Kafka clients) unless WithPartition is given.
func WithKey(key string) ProduceOption {
	return func(r *bindings.InvokeRequest) { r.Metadata[MetaKey] = key }
}

// WithPartition writes the record to partition p.
func WithPartition(p int32) ProduceOption {
	return func(r *bindings.InvokeRequest) { r.Metadata[MetaPartition] = strconv.FormatInt(int64(p), 10) }
}

// WithHeader adds a record header. The names "key", "partitionKey",
// "partition", "content-type" and those starting with "__" that the input
// sets are reserved.
func WithHeader(name, value string) ProduceOption {
	return func(r *bindings.InvokeRequest) { r.Metadata[name] = value }
}

// WithHeaders adds record headers, as WithHeader.
func WithHeaders(h map[string]string) ProduceOption {
	return func(r *bindings.InvokeRequest) {
		for k, v := range h {
			r.Metadata[k] = v
		}
	}
}

// WithContentType sets the content-type header, which a Tether input
// delivers as the message's ContentType.
func WithContentType(ct string) ProduceOption {
	return func(r *bindings.InvokeRequest) { r.ContentType = ct }
}

// Produce writes one record with value to the component's publishTopic and
// returns where it was written.
func (c *Client) Produce(ctx context.Context, value []byte, opts ...ProduceOption) (Produced, error) {
	if c.b.Output == nil {
		return Produced{}, errors.New("*kafka.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: value, Metadata: map[string]string{}}
	for _, opt := range opts {
		opt(req)
	}
	resp, err := c.b.Invoke(ctx, req)
	if err != nil {
		return Produced{}, err
	}
	var p Produced
	if resp != nil {
		p.Topic = resp.Metadata[MetaTopic]
		part, _ := strconv.ParseInt(resp.Metadata[MetaPartition], 10, 32)
		p.Partition = int32(part)
		p.Offset, _ = strconv.ParseInt(resp.Metadata[MetaOffset], 10, 64)
	}
	return p, nil
}
