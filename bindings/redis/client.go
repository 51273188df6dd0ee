package redis

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.redis output, for a function's
// Outputs struct:
//
//	type Outputs struct {
//		Cache *redis.Client `binding:"cache"`
//	}
//
//	n, err := out.Cache.Increment(ctx, "visits")
//
// Every method runs one of the binding's operations, so errors are the
// binding's (*bindings.Error, with bindings.ErrNotFound for a missing key).
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

func (c *Client) invoke(ctx context.Context, op bindings.Operation, data []byte, md map[string]string) (*bindings.InvokeResponse, error) {
	if c.b.Output == nil {
		return nil, fmt.Errorf("*redis.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	resp, err := c.b.Invoke(ctx, &bindings.InvokeRequest{Operation: op, Data: data, Metadata: md})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &bindings.InvokeResponse{}
	}
	return resp, nil
}

// Get returns the value at key; an error wrapping bindings.ErrNotFound when
// there is none.
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	resp, err := c.invoke(ctx, bindings.OpGet, nil, map[string]string{MetaKey: key})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// Set stores value at key, expiring after ttl (0: the component's
// ttlInSeconds, which defaults to never).
func (c *Client) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	md := map[string]string{MetaKey: key}
	if ttl > 0 {
		md[MetaTTL] = strconv.FormatInt(int64((ttl+time.Second-1)/time.Second), 10)
	}
	_, err := c.invoke(ctx, OpSet, value, md)
	return err
}

// Delete removes key; an error wrapping bindings.ErrNotFound when there was
// none.
func (c *Client) Delete(ctx context.Context, key string) error {
	_, err := c.invoke(ctx, bindings.OpDelete, nil, map[string]string{MetaKey: key})
	return err
}

// Increment adds one to the integer at key (0 when missing) and returns the
// result.
func (c *Client) Increment(ctx context.Context, key string) (int64, error) {
	resp, err := c.invoke(ctx, OpIncrement, nil, map[string]string{MetaKey: key})
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(resp.Data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("increment %q: answer %q is not an integer: %w", key, resp.Data, err)
	}
	return n, nil
}

// XAdd appends data to stream ("" for the component's stream) with metadata
// as entry fields, and returns the new entry's id. A function triggered by
// that stream receives data, and metadata as its message metadata.
func (c *Client) XAdd(ctx context.Context, stream string, data []byte, metadata map[string]string) (string, error) {
	md := maps.Clone(metadata)
	if md == nil {
		md = map[string]string{}
	}
	if stream != "" {
		md[MetaStream] = stream
	}
	resp, err := c.invoke(ctx, OpXAdd, data, md)
	if err != nil {
		return "", err
	}
	return resp.Metadata[MetaID], nil
}

// Publish sends data to the subscribers of a pub/sub channel and returns how
// many received it.
func (c *Client) Publish(ctx context.Context, channel string, data []byte) (int64, error) {
	resp, err := c.invoke(ctx, OpPublish, data, map[string]string{MetaChannel: channel})
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseInt(resp.Metadata[MetaReceivers], 10, 64)
	return n, nil
}
