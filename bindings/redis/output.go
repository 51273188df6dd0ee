package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
)

// output runs the operations of one component.
type output struct {
	rdb          goredis.UniversalClient
	stream       string        // create appends here when set
	maxLenApprox int64         // XADD MAXLEN ~ when > 0
	ttl          time.Duration // default expiry of written keys
	closed       atomic.Bool
}

func newOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	rdb, err := connect(ctx, cfg, s.client)
	if err != nil {
		return nil, err
	}
	return &output{rdb: rdb, stream: s.stream, maxLenApprox: s.maxLenApprox, ttl: s.ttl}, nil
}

// Client returns the go-redis client behind the output, for typed clients.
func (o *output) Client() goredis.UniversalClient { return o.rdb }

// Invoke runs one operation. See the package documentation and
// docs/bindings/redis.md for what each reads and answers.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	switch req.Operation {
	case bindings.OpCreate:
		if o.stream != "" {
			return o.xadd(ctx, req)
		}
		return o.set(ctx, req)
	case OpSet:
		return o.set(ctx, req)
	case bindings.OpGet:
		return o.get(ctx, req)
	case bindings.OpDelete:
		return o.delete(ctx, req)
	case OpIncrement:
		return o.increment(ctx, req)
	case OpXAdd:
		return o.xadd(ctx, req)
	case OpPublish:
		return o.publish(ctx, req)
	}
	return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
}

func (o *output) set(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	key, err := requireKey(req)
	if err != nil {
		return nil, err
	}
	ttl, err := o.expiry(req)
	if err != nil {
		return nil, err
	}
	if err := o.rdb.Set(ctx, key, req.Data, ttl).Err(); err != nil {
		return nil, fmt.Errorf("SET %q: %w", key, err)
	}
	return nil, nil
}

func (o *output) get(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	key, err := requireKey(req)
	if err != nil {
		return nil, err
	}
	data, err := o.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, fmt.Errorf("GET %q: %w", key, bindings.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %q: %w", key, err)
	}
	return &bindings.InvokeResponse{Data: data}, nil
}

func (o *output) delete(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	key, err := requireKey(req)
	if err != nil {
		return nil, err
	}
	n, err := o.rdb.Del(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("DEL %q: %w", key, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("DEL %q: %w", key, bindings.ErrNotFound)
	}
	return nil, nil
}

// increment runs INCR and, with an expiry, EXPIRE in one transaction, and
// answers the new value as text.
func (o *output) increment(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	key, err := requireKey(req)
	if err != nil {
		return nil, err
	}
	ttl, err := o.expiry(req)
	if err != nil {
		return nil, err
	}
	var incr *goredis.IntCmd
	_, err = o.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		incr = p.Incr(ctx, key)
		if ttl > 0 {
			p.Expire(ctx, key, ttl)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("INCR %q: %w", key, err)
	}
	return &bindings.InvokeResponse{
		Data:        strconv.AppendInt(nil, incr.Val(), 10),
		ContentType: "text/plain; charset=utf-8",
	}, nil
}

// xadd appends an entry with fields "data", "contentType" (when there is
// one) and one per metadata key, trimmed to about maxLenApprox entries.
func (o *output) xadd(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	stream := req.Metadata[MetaStream]
	if stream == "" || req.Operation == bindings.OpCreate {
		stream = o.stream
	}
	if stream == "" {
		return nil, fmt.Errorf("%s: no stream: set the component's stream or the request's %q metadata", req.Operation, MetaStream)
	}
	skip := ""
	if req.Operation == OpXAdd {
		skip = MetaStream // said where to append, not what
	}
	values, err := entryFields(req, skip)
	if err != nil {
		return nil, err
	}
	args := &goredis.XAddArgs{Stream: stream, Values: values}
	if o.maxLenApprox > 0 {
		args.MaxLen, args.Approx = o.maxLenApprox, true
	}
	id, err := o.rdb.XAdd(ctx, args).Result()
	if err != nil {
		return nil, fmt.Errorf("XADD %q: %w", stream, err)
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{MetaID: id}}, nil
}

func (o *output) publish(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	channel := req.Metadata[MetaChannel]
	if channel == "" {
		return nil, fmt.Errorf("publish: missing %q metadata", MetaChannel)
	}
	n, err := o.rdb.Publish(ctx, channel, req.Data).Result()
	if err != nil {
		return nil, fmt.Errorf("PUBLISH %q: %w", channel, err)
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{MetaReceivers: strconv.FormatInt(n, 10)}}, nil
}

// Close closes the client; later calls fail with bindings.ErrClosed.
func (o *output) Close() error {
	if !o.closed.CompareAndSwap(false, true) {
		return nil
	}
	return o.rdb.Close()
}

// entryFields lays a request out as stream entry fields: the data, the
// content type (the request's, else its "contentType" metadata), then every
// metadata key but skip as it is.
func entryFields(req *bindings.InvokeRequest, skip string) ([]any, error) {
	values := make([]any, 0, 4+2*len(req.Metadata))
	values = append(values, fieldData, req.Data)
	ct := req.ContentType
	if ct == "" {
		ct = req.Metadata[fieldContentType]
	}
	if ct != "" {
		values = append(values, fieldContentType, ct)
	}
	for k, v := range req.Metadata {
		switch k {
		case fieldData:
			return nil, fmt.Errorf("metadata key %q is reserved for the entry's payload", k)
		case fieldContentType, skip:
			continue // written above, or not a field
		}
		values = append(values, k, v)
	}
	return values, nil
}

func requireKey(req *bindings.InvokeRequest) (string, error) {
	key := req.Metadata[MetaKey]
	if key == "" {
		return "", fmt.Errorf("%s: missing %q metadata", req.Operation, MetaKey)
	}
	return key, nil
}

// expiry is the request's ttlInSeconds, else the component's.
func (o *output) expiry(req *bindings.InvokeRequest) (time.Duration, error) {
	v, ok := req.Metadata[MetaTTL]
	if !ok || strings.TrimSpace(v) == "" {
		return o.ttl, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("metadata %q: %q is not a number of seconds", MetaTTL, v)
	}
	return time.Duration(n) * time.Second, nil
}
