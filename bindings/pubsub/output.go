package pubsub

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	gpubsub "cloud.google.com/go/pubsub/v2"

	"github.com/tetherfn/tether/bindings"
)

// output publishes to the component's topic, or to the topic a request
// names.
type output struct {
	client  *gpubsub.Client
	log     *slog.Logger
	topic   string // full name
	s       settings
	mu      sync.Mutex
	closed  bool
	publish map[string]*gpubsub.Publisher // by full topic name
}

func newOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if s.topic == "" {
		return nil, &bindings.KeyError{Key: "topic", Msg: "is required for an output: the topic create publishes to"}
	}
	client, err := connect(ctx, s)
	if err != nil {
		return nil, err
	}
	o := &output{
		client:  client,
		log:     cfg.Logger,
		topic:   fullName(client.Project(), "topics", s.topic),
		s:       s,
		publish: map[string]*gpubsub.Publisher{},
	}
	o.log = o.log.With("topic", o.topic)
	if err := ensureTopic(ctx, client, o.log, o.topic, s.manage); err != nil {
		client.Close()
		return nil, err
	}
	return o, nil
}

// publisher returns the publisher of a topic, made on first use.
func (o *output) publisher(topic string) (*gpubsub.Publisher, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, bindings.ErrClosed
	}
	p, ok := o.publish[topic]
	if !ok {
		p = o.client.Publisher(topic)
		p.PublishSettings.DelayThreshold = o.s.publishDelay
		// Always on: a message without an ordering key is not affected, and
		// one with a key is published after the key's earlier messages.
		p.EnableMessageOrdering = true
		o.publish[topic] = p
	}
	return p, nil
}

// Invoke runs create: it publishes the data with the request's metadata as
// attributes and waits for Pub/Sub to store it. The response metadata holds
// the message id.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q (bindings.gcp.pubsub has only %q)", bindings.ErrUnsupportedOperation, req.Operation, bindings.OpCreate)
	}
	topic := o.topic
	msg := &gpubsub.Message{Data: req.Data}
	contentType := req.ContentType
	for k, v := range req.Metadata {
		switch {
		case strings.EqualFold(k, MetaOrderingKey), strings.EqualFold(k, MetaPartitionKey):
			msg.OrderingKey = v
		case strings.EqualFold(k, MetaTopic):
			if v != "" {
				topic = fullName(o.client.Project(), "topics", v)
			}
		case strings.EqualFold(k, MetaContentType):
			if contentType == "" {
				contentType = v
			}
		default:
			if msg.Attributes == nil {
				msg.Attributes = make(map[string]string, len(req.Metadata)+1)
			}
			msg.Attributes[k] = v
		}
	}
	if contentType != "" {
		if msg.Attributes == nil {
			msg.Attributes = make(map[string]string, 1)
		}
		msg.Attributes[attrContentType] = contentType
	}
	if len(msg.Data) == 0 && len(msg.Attributes) == 0 {
		return nil, fmt.Errorf("Pub/Sub cannot publish a message without data or attributes")
	}
	p, err := o.publisher(topic)
	if err != nil {
		return nil, err
	}
	id, err := p.Publish(ctx, msg).Get(ctx)
	if err != nil {
		if msg.OrderingKey != "" {
			// The publisher holds back a key's later messages after a
			// failure, to keep their order; the caller retries this one.
			p.ResumePublish(msg.OrderingKey)
		}
		return nil, fmt.Errorf("publish to %s: %w", topic, err)
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{MetaMessageID: id}}, nil
}

// Close sends what the publishers still hold and closes the client.
func (o *output) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	pubs := o.publish
	o.mu.Unlock()
	for _, p := range pubs {
		p.Stop()
	}
	if err := o.client.Close(); err != nil {
		return fmt.Errorf("close Pub/Sub client: %w", err)
	}
	return nil
}
