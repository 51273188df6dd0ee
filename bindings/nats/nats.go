// Package nats is Tether's NATS JetStream binding, type "bindings.nats".
//
// The input is a durable JetStream pull consumer: messages are acked after the
// handler succeeded, nacked with a delay (NakWithDelay) for a retry, and kept
// alive with InProgress acks while a long handler runs. The output publishes
// to JetStream and waits for the stream's acknowledgement, with headers and a
// Nats-Msg-Id for de-duplication taken from the call's metadata.
//
// Dapr has no NATS binding; the metadata keys follow Dapr's naming style (and
// its JetStream pub/sub component where one exists there):
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.nats
//	  version: v1
//	  metadata:
//	  - name: natsURL
//	    value: nats://127.0.0.1:4222
//	  - name: stream
//	    value: ORDERS
//	  - name: subject
//	    value: orders.created
//
// A function that needs more than "create" (a subject per call, headers, a
// message id) takes a [*Client] among its outputs.
package nats

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/tlsconf"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.nats"

// Metadata keys of a request to the output (besides them, every key becomes a
// message header).
const (
	// MetaSubject overrides the component's subject for one publish.
	MetaSubject = "subject"
	// MetaMessageID becomes the Nats-Msg-Id header, which JetStream uses to
	// drop a duplicate published within the stream's duplicate window.
	MetaMessageID = "messageID"
)

func init() { bindings.Register(Type) }

// Type declares bindings.nats.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "NATS JetStream: a durable pull consumer as trigger; publish with headers and de-duplication ids.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	// Measured with BenchmarkBatchSize: the trigger handles about 3x the
	// messages a second with 100 as with 10 (the pull requests and the
	// runtime's receive calls are a tenth as many); 250 no more than 100.
	DeliveryDefaults: map[string]string{"batchSize": "100"},
	Capabilities: bindings.Capabilities{
		Ordering:      true,
		BatchReceive:  true,
		Lease:         true,
		DelayedNack:   true,
		Metadata:      true,
		ContentType:   true,
		DeliveryCount: true,
		Duplicates:    true, // an ack is not confirmed by the server; AckWait can run out
	},
	Metadata: []bindings.MetadataKey{
		{Name: "monitoringEndpoint", Kind: bindings.KindString, Direction: bindings.DirInput, Example: "nats.nats.svc:8222",
			Description: "host:port of the NATS server's HTTP monitoring endpoint (nats-server -m 8222). The runtime does not use it: tether deploy gives it to KEDA's nats-jetstream scaler, which reads the consumer's lag there, and refuses to deploy a NATS trigger without it."},
		{Name: "natsURL", Kind: bindings.KindString, Required: true, Secret: true, Example: "nats://127.0.0.1:4222",
			Description: "Server URL(s), comma-separated; may carry user:password or a token. Use secretKeyRef when it does."},
		{Name: "stream", Kind: bindings.KindString, Required: true, Example: "ORDERS",
			Description: "The JetStream stream the input consumes from and the output publishes to."},
		{Name: "subject", Kind: bindings.KindString, Example: "orders.created",
			Description: "Input: the subjects the consumer receives (wildcards allowed; a comma-separated list needs nats-server 2.10); empty means the whole stream. Output: the subject published to when a call sets none."},
		{Name: "durableName", Kind: bindings.KindString, Direction: bindings.DirInput,
			Description: "Name of the durable consumer; replicas with the same name share the work. Default: the component name."},
		{Name: "deliverPolicy", Kind: bindings.KindEnum, Enum: []string{"all", "last", "new", "lastPerSubject", "byStartSequence", "byStartTime"}, Default: "all", Direction: bindings.DirInput,
			Description: "Where a new consumer starts in the stream. Fixed once the consumer exists."},
		{Name: "startSequence", Kind: bindings.KindInt, Direction: bindings.DirInput,
			Description: "First stream sequence delivered, with deliverPolicy byStartSequence."},
		{Name: "startTime", Kind: bindings.KindString, Direction: bindings.DirInput, Example: "2026-01-02T15:04:05Z",
			Description: "First message time delivered (RFC 3339), with deliverPolicy byStartTime."},
		{Name: "ackWait", Kind: bindings.KindDuration, Default: "30s", Direction: bindings.DirInput,
			Description: "How long JetStream waits for an ack before it redelivers. Running handlers extend it with in-progress acks."},
		{Name: "maxDeliver", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirInput,
			Description: "Most deliveries of one message before JetStream stops delivering it (and publishes a MAX_DELIVERIES advisory); 0 means unlimited. Must not be below maxAttempts."},
		{Name: "maxAckPending", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirInput,
			Description: "Most messages delivered and not yet acked, over all replicas; 0 means the server default (1000)."},
		{Name: "createStream", Kind: bindings.KindBool, Default: "true",
			Description: "Create the stream when it does not exist (an existing stream is never changed)."},
		{Name: "streamSubjects", Kind: bindings.KindString,
			Description: "Subjects a created stream captures, comma-separated. Default: the subject key."},
		{Name: "streamStorage", Kind: bindings.KindEnum, Enum: []string{"file", "memory"}, Default: "file",
			Description: "Storage of a created stream."},
		{Name: "streamRetention", Kind: bindings.KindEnum, Enum: []string{"limits", "interest", "workqueue"}, Default: "limits",
			Description: "Retention policy of a created stream."},
		{Name: "token", Kind: bindings.KindString, Secret: true, Description: "Authentication token."},
		{Name: "jwt", Kind: bindings.KindString, Secret: true, Description: "User JWT, with seedKey."},
		{Name: "seedKey", Kind: bindings.KindString, Secret: true, Description: "NKey seed that signs the server's nonce, with jwt."},
		{Name: "caCert", Kind: bindings.KindString, Description: "PEM CA certificate that verifies the server (TLS)."},
		{Name: "clientCert", Kind: bindings.KindString, Description: "PEM client certificate (mutual TLS), with clientKey."},
		{Name: "clientKey", Kind: bindings.KindString, Secret: true, Description: "PEM client private key (mutual TLS), with clientCert."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "subject", Description: "The subject the message was published to; the message's ordering key unless it has a partitionKey header."},
		{Name: "stream", Description: "The stream name."},
		{Name: "streamSequence", Description: "The message's sequence in the stream (also Message.ID)."},
		{Name: "numDelivered", Description: "How many times JetStream delivered the message (also Message.DeliveryCount)."},
		{Name: "<header>", Description: "Every message header, first value, under its own name (Nats-Msg-Id included)."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return openInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return openOutput(ctx, cfg) },
}

// settings are a component's values, read and checked once. Both directions
// check every key, so a component file is valid or not whichever side opens
// it first.
type settings struct {
	url             string
	stream          string
	subjects        []string
	createStream    bool
	streamSubjects  []string
	streamStorage   jetstream.StorageType
	streamRetention jetstream.RetentionPolicy
	consumer        jetstream.ConsumerConfig
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		url:            md.String("natsURL"),
		stream:         md.String("stream"),
		subjects:       splitList(md.String("subject")),
		createStream:   md.Bool("createStream"),
		streamSubjects: splitList(md.String("streamSubjects")),
	}
	if len(s.streamSubjects) == 0 {
		s.streamSubjects = s.subjects
	}
	if strings.EqualFold(md.String("streamStorage"), "memory") {
		s.streamStorage = jetstream.MemoryStorage
	}
	switch strings.ToLower(md.String("streamRetention")) {
	case "interest":
		s.streamRetention = jetstream.InterestPolicy
	case "workqueue":
		s.streamRetention = jetstream.WorkQueuePolicy
	}
	var err error
	s.consumer, err = consumerConfig(cfg)
	return s, err
}

// connect opens the connection. It fails at once when no server answers, so
// that a wrong URL is reported at start-up; once connected it reconnects for
// ever.
func connect(cfg bindings.Config, role string) (*natsgo.Conn, jetstream.JetStream, error) {
	md := cfg.Values()
	log := cfg.Logger
	opts := []natsgo.Option{
		natsgo.Name("tether " + role + " " + cfg.Name),
		natsgo.MaxReconnects(-1),
		natsgo.ReconnectWait(500 * time.Millisecond),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "err", err)
			}
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			log.Info("nats: reconnected", "server", redact(nc.ConnectedUrl()))
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			log.Warn("nats: async error", "err", err)
		}),
	}
	if t := md.String("token"); t != "" {
		opts = append(opts, natsgo.Token(t))
	}
	if jwt, seed := md.String("jwt"), md.String("seedKey"); jwt != "" || seed != "" {
		if jwt == "" || seed == "" {
			return nil, nil, &bindings.KeyError{Key: "jwt", Msg: "jwt and seedKey must be set together"}
		}
		opts = append(opts, natsgo.UserJWTAndSeed(jwt, seed))
	}
	tc, err := tlsconf.FromPEM(md.String("caCert"), md.String("clientCert"), md.String("clientKey"))
	if err != nil {
		return nil, nil, err
	}
	if tc != nil {
		opts = append(opts, natsgo.Secure(tc))
	}
	nc, err := natsgo.Connect(md.String("natsURL"), opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// ensureStream creates the stream when it is missing and the component asks
// for it; an existing stream is left as it is.
func ensureStream(ctx context.Context, js jetstream.JetStream, s settings) error {
	_, err := js.Stream(ctx, s.stream)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("look up stream %q: %w", s.stream, err)
	}
	if !s.createStream {
		return fmt.Errorf("stream %q does not exist (set createStream to true to create it): %w", s.stream, err)
	}
	if len(s.streamSubjects) == 0 {
		return &bindings.KeyError{Key: "streamSubjects", Msg: fmt.Sprintf("stream %q does not exist and neither streamSubjects nor subject says what it captures", s.stream)}
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      s.stream,
		Subjects:  s.streamSubjects,
		Storage:   s.streamStorage,
		Retention: s.streamRetention,
	})
	if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica won the race
		return fmt.Errorf("create stream %q: %w", s.stream, err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// redact hides credentials in a server URL for logs.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable url)"
	}
	return p.Redacted()
}
