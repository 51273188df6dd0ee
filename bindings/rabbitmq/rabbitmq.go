// Package rabbitmq is Tether's RabbitMQ binding, type "bindings.rabbitmq",
// with Dapr's metadata keys.
//
// The input consumes a queue with manual acks and a bounded prefetch: a
// message is acked after its handler succeeded, requeued by a nack when the
// runtime gives it back, and rejected into the queue's dead-letter exchange
// when it failed for good and the component names one (deadLetterExchange).
// The connection is re-established after it drops; messages that were in
// flight on the old connection are redelivered by the broker.
//
// The output publishes persistent messages with publisher confirms and the
// mandatory flag, so a nil error means the broker routed and stored the
// message.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.rabbitmq
//	  version: v1
//	  metadata:
//	  - name: host
//	    secretKeyRef: {name: rabbitmq, key: url}
//	  - name: queueName
//	    value: orders
//	  - name: durable
//	    value: "true"
//	  - name: deadLetterExchange
//	    value: orders-dlx
//
// A function that publishes to an exchange with a routing key, or sets AMQP
// properties, takes a [*Client] among its outputs.
package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/tlsconf"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.rabbitmq"

// Metadata keys of a request to the output that set AMQP properties; every
// other key becomes a message header.
const (
	MetaContentType   = "contentType"
	MetaTTL           = "ttlInSeconds"
	MetaPriority      = "priority"
	MetaMessageID     = "messageID"
	MetaCorrelationID = "correlationID"
	MetaReplyTo       = "replyTo"
	MetaType          = "type"
)

func init() { bindings.Register(Type) }

// Type declares bindings.rabbitmq.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "RabbitMQ queue: manual-ack consumer as trigger; persistent, confirmed publish.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	Capabilities: bindings.Capabilities{
		BatchReceive:     true,
		NativeDeadLetter: true,
		// A nack requeues at once: the runtime holds a failing message for
		// its retry delay before it nacks.
		DelayedNack:   false,
		Metadata:      true,
		ContentType:   true,
		DeliveryCount: true,
		// A lost connection requeues unacked messages, and an ack sent just
		// before it may not have arrived.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "host", Kind: bindings.KindString, Required: true, Secret: true, Example: "amqp://guest:guest@127.0.0.1:5672",
			Description: "AMQP URL (amqp:// or amqps://) with user, password and vhost."},
		{Name: "queueName", Kind: bindings.KindString, Required: true, Example: "orders",
			Description: "The queue consumed from and published to (through the default exchange). Declared at start-up."},
		{Name: "durable", Kind: bindings.KindBool, Default: "false",
			Description: "Declare the queue durable, so that it and its persistent messages survive a broker restart."},
		{Name: "deleteWhenUnused", Kind: bindings.KindBool, Default: "false",
			Description: "Declare the queue auto-delete: the broker deletes it when its last consumer goes."},
		{Name: "exclusive", Kind: bindings.KindBool, Default: "false",
			Description: "Declare the queue exclusive to the connection."},
		{Name: "queueType", Kind: bindings.KindEnum, Enum: []string{"classic", "quorum"}, Default: "classic",
			Description: "x-queue-type of the declared queue. Quorum queues are replicated and count deliveries exactly; they must be durable and not exclusive or auto-delete."},
		{Name: "prefetchCount", Kind: bindings.KindInt, Direction: bindings.DirInput,
			Description: "Most unacked messages the broker sends this consumer (basic.qos). 0 means no limit. Default: maxConcurrency + batchSize."},
		{Name: "ttlInSeconds", Kind: bindings.KindInt, Aliases: []string{"ttl"},
			Description: "Queue-level message time to live (x-message-ttl). Default: messages do not expire."},
		{Name: "maxPriority", Kind: bindings.KindInt,
			Description: "Make the queue a priority queue with priorities 0 to this value (1 to 255, x-max-priority)."},
		{Name: "deadLetterExchange", Kind: bindings.KindString,
			Description: "Exchange the broker moves a message to when it failed for good and the trigger has no deadLetter binding (x-dead-letter-exchange). Declared as a durable fanout exchange when missing; an existing one is used as it is."},
		{Name: "deadLetterRoutingKey", Kind: bindings.KindString,
			Description: "Routing key of dead-lettered messages (x-dead-letter-routing-key). Default: the message's own."},
		{Name: "deadLetterQueue", Kind: bindings.KindString,
			Description: "A durable queue declared and bound to deadLetterExchange, so dead letters are kept even when nothing else is bound to it."},
		{Name: "contentType", Kind: bindings.KindString, Default: "text/plain", Direction: bindings.DirOutput,
			Description: "Content type of published messages when a call gives none."},
		{Name: "reconnectWaitInSeconds", Kind: bindings.KindDuration, Default: "5",
			Description: "Longest wait between attempts to reconnect after the connection dropped (attempts start faster)."},
		{Name: "caCert", Kind: bindings.KindString, Description: "PEM CA certificate that verifies the broker (amqps)."},
		{Name: "clientCert", Kind: bindings.KindString, Description: "PEM client certificate (mutual TLS), with clientKey."},
		{Name: "clientKey", Kind: bindings.KindString, Secret: true, Description: "PEM client private key (mutual TLS), with clientCert."},
		{Name: "externalSasl", Kind: bindings.KindBool, Default: "false",
			Description: "Authenticate with SASL EXTERNAL (the client certificate) instead of the URL's user and password."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "<header>", Description: "Every message header under its own name; non-string values formatted as text."},
		{Name: "exchange", Description: "The exchange the message was published to (empty for the default exchange)."},
		{Name: "routingKey", Description: "The routing key it was published with."},
		{Name: "redelivered", Description: `"true" when the broker delivered the message before.`},
		{Name: "messageID", Description: "The message-id property (also Message.ID)."},
		{Name: "correlationID", Description: "The correlation-id property, when set."},
		{Name: "replyTo", Description: "The reply-to property, when set."},
		{Name: "type", Description: "The type property, when set."},
		{Name: "priority", Description: "The priority property, when not 0."},
	},
	Check: func(cfg bindings.Config, dir bindings.Direction) error {
		_, err := readSettings(cfg, dir.String())
		return err
	},
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return openInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return openOutput(ctx, cfg) },
}

// settings are a component's values, read and checked once.
type settings struct {
	url           string
	queue         string
	durable       bool
	autoDelete    bool
	exclusive     bool
	quorum        bool
	ttl           time.Duration
	maxPriority   int
	dlx           string
	dlxRoutingKey string
	dlq           string
	contentType   string
	reconnectWait time.Duration
	tls           *tls.Config
	externalSASL  bool
	name          string // connection name shown in the management UI
	log           *slog.Logger

	dial func(network, addr string) (net.Conn, error) // tests swap it
}

func readSettings(cfg bindings.Config, role string) (settings, error) {
	md := cfg.Values()
	s := settings{
		url:           md.String("host"),
		queue:         md.String("queueName"),
		durable:       md.Bool("durable"),
		autoDelete:    md.Bool("deleteWhenUnused"),
		exclusive:     md.Bool("exclusive"),
		quorum:        strings.EqualFold(md.String("queueType"), "quorum"),
		ttl:           time.Duration(md.Int("ttlInSeconds")) * time.Second,
		maxPriority:   md.Int("maxPriority"),
		dlx:           md.String("deadLetterExchange"),
		dlxRoutingKey: md.String("deadLetterRoutingKey"),
		dlq:           md.String("deadLetterQueue"),
		contentType:   md.String("contentType"),
		reconnectWait: md.Duration("reconnectWaitInSeconds"),
		externalSASL:  md.Bool("externalSasl"),
		name:          "tether " + role + " " + cfg.Name,
		log:           cfg.Logger,
		dial:          dialer,
	}
	switch {
	case md.Has("ttlInSeconds") && md.Int("ttlInSeconds") < 0:
		return s, &bindings.KeyError{Key: "ttlInSeconds", Msg: "must not be negative"}
	case md.Has("maxPriority") && (s.maxPriority < 1 || s.maxPriority > 255):
		return s, &bindings.KeyError{Key: "maxPriority", Msg: fmt.Sprintf("must be between 1 and 255, got %d", s.maxPriority)}
	case s.quorum && (!s.durable || s.exclusive || s.autoDelete):
		return s, &bindings.KeyError{Key: "queueType", Msg: "a quorum queue must be durable, and neither exclusive nor deleteWhenUnused"}
	case s.dlq != "" && s.dlx == "":
		return s, &bindings.KeyError{Key: "deadLetterQueue", Msg: "needs deadLetterExchange"}
	case md.Has("prefetchCount") && md.Int("prefetchCount") < 0:
		return s, &bindings.KeyError{Key: "prefetchCount", Msg: "must not be negative (0 means no limit)"}
	case s.reconnectWait <= 0:
		return s, &bindings.KeyError{Key: "reconnectWaitInSeconds", Msg: "must be positive"}
	}
	t, err := tlsconf.FromPEM(md.String("caCert"), md.String("clientCert"), md.String("clientKey"))
	if err != nil {
		return s, err
	}
	s.tls = t
	return s, nil
}

// dialer opens the TCP connections; tests replace it to cut connections.
var dialer = func(network, addr string) (net.Conn, error) {
	return net.DialTimeout(network, addr, 30*time.Second)
}

// connect opens a connection.
func (s *settings) connect() (*amqp.Connection, error) {
	c := amqp.Config{
		Heartbeat:       10 * time.Second,
		TLSClientConfig: s.tls,
		Properties:      amqp.Table{"connection_name": s.name, "product": "tether"},
		Dial: func(network, addr string) (net.Conn, error) {
			conn, err := s.dial(network, addr)
			if err != nil {
				return nil, err
			}
			// The AMQP handshake must not hang on a half-open socket;
			// amqp091 clears the deadline once it is done.
			if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
	}
	if s.externalSASL {
		c.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
	}
	conn, err := amqp.DialConfig(s.url, c)
	if err != nil {
		// No need to hide the URL's password here: bindings.OpenInput and
		// OpenOutput redact every error and log line of the binding.
		return nil, fmt.Errorf("connect to rabbitmq: %w", err)
	}
	return conn, nil
}

// declare declares the queue (and the dead-letter exchange and queue) with
// the component's arguments. A queue that exists with other arguments makes
// the broker refuse (PRECONDITION_FAILED), which is reported as is.
func (s *settings) declare(conn *amqp.Connection) error {
	if s.dlx != "" {
		if err := s.declareDeadLetter(conn); err != nil {
			return err
		}
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	args := amqp.Table{}
	if s.quorum {
		args["x-queue-type"] = "quorum"
	}
	if s.ttl > 0 {
		args["x-message-ttl"] = s.ttl.Milliseconds()
	}
	if s.maxPriority > 0 {
		args["x-max-priority"] = s.maxPriority
	}
	if s.dlx != "" {
		args["x-dead-letter-exchange"] = s.dlx
		if s.dlxRoutingKey != "" {
			args["x-dead-letter-routing-key"] = s.dlxRoutingKey
		}
	}
	if _, err := ch.QueueDeclare(s.queue, s.durable, s.autoDelete, s.exclusive, false, args); err != nil {
		return fmt.Errorf("declare queue %q: %w", s.queue, err)
	}
	return nil
}

func (s *settings) declareDeadLetter(conn *amqp.Connection) error {
	// A passive declare that fails closes its channel, hence one channel
	// per step.
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	err = ch.ExchangeDeclarePassive(s.dlx, "fanout", true, false, false, false, nil)
	ch.Close()
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		err = withChannel(conn, func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(s.dlx, "fanout", true, false, false, false, nil)
		})
	}
	if err != nil {
		return fmt.Errorf("dead-letter exchange %q: %w", s.dlx, err)
	}
	if s.dlq == "" {
		return nil
	}
	return withChannel(conn, func(ch *amqp.Channel) error {
		if _, err := ch.QueueDeclare(s.dlq, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare dead-letter queue %q: %w", s.dlq, err)
		}
		key := s.dlxRoutingKey
		if key == "" {
			key = s.queue
		}
		if err := ch.QueueBind(s.dlq, key, s.dlx, false, nil); err != nil {
			return fmt.Errorf("bind dead-letter queue %q to %q: %w", s.dlq, s.dlx, err)
		}
		return nil
	})
}

func withChannel(conn *amqp.Connection, f func(*amqp.Channel) error) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	return f(ch)
}

// backoff yields reconnect delays: 100ms doubling up to limit.
type backoff struct {
	next, limit time.Duration
}

func (b *backoff) delay() time.Duration {
	if b.next == 0 {
		b.next = 100 * time.Millisecond
	}
	d := min(b.next, b.limit)
	b.next = min(2*b.next, b.limit)
	return d
}

func (b *backoff) reset() { b.next = 0 }
