package mqtt

import (
	"context"
	"fmt"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// output publishes on its own connection (client id "<consumerID>-producer").
// With QoS 1 or 2, a nil error means the broker acknowledged the message.
type output struct {
	s      settings
	client paho.Client
	topic  string // default topic, "" when every call must name one
}

// publishTimeout bounds one publish when the caller's context has no
// deadline, so that a lost broker does not hang a handler for ever.
const publishTimeout = 30 * time.Second

func openOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	clientID := s.consumerID + "-producer"
	o := &output{s: s, topic: s.publishTopic()}
	// ConnectRetry keeps publishes made while the connection is down until
	// it is back (they then wait for it, bounded by their context).
	o.client = paho.NewClient(s.options(clientID, cfg.Logger).SetConnectRetry(true).SetConnectRetryInterval(time.Second))
	if err := wait(ctx, o.client.Connect(), 30*time.Second, "connect to "+s.broker+" as "+clientID); err != nil {
		o.client.Disconnect(0)
		return nil, err
	}
	if !o.client.IsConnected() {
		o.client.Disconnect(0)
		return nil, fmt.Errorf("connect to %s as %s: %w", s.broker, clientID, errNotConnected)
	}
	return o, nil
}

// Invoke implements bindings.Output. Request metadata: topic, qos (0, 1 or
// 2) and retain override the component's; MQTT 3 has nowhere to put other
// keys, so they are not sent.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	topic, qos, retain := o.topic, o.s.qos, o.s.retain
	// A dead-letter envelope carries the failed message's metadata, whose
	// "topic" and "qos" are where and how it came, not where the envelope
	// goes: it goes to the component's topic.
	if req.Metadata[functions.DeadLetterMetadataKey] == "true" {
		return nil, o.publish(ctx, topic, qos, retain, req.Data)
	}
	if v, ok := req.Metadata[MetaTopic]; ok {
		topic = v
	}
	if v, ok := req.Metadata[MetaQoS]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 2 {
			return nil, fmt.Errorf("metadata %q: %q is not 0, 1 or 2", MetaQoS, v)
		}
		qos = byte(n)
	}
	if v, ok := req.Metadata[MetaRetain]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("metadata %q: %q is not true or false", MetaRetain, v)
		}
		retain = b
	}
	return nil, o.publish(ctx, topic, qos, retain, req.Data)
}

func (o *output) publish(ctx context.Context, topic string, qos byte, retain bool, data []byte) error {
	if topic == "" {
		return fmt.Errorf("no topic: the component's topic %q is a filter; set the call's %q metadata", o.s.topic, MetaTopic)
	}
	if qos > 2 {
		return fmt.Errorf("qos %d: want 0, 1 or 2", qos)
	}
	return wait(ctx, o.client.Publish(topic, qos, retain, data), publishTimeout, "publish to "+topic)
}

// Close implements bindings.Output.
func (o *output) Close() error {
	o.client.Disconnect(250)
	return nil
}
