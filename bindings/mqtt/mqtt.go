// Package mqtt is Tether's MQTT 3.1.1 binding, type "bindings.mqtt3" (alias
// "bindings.mqtt"), with Dapr's metadata keys, on Eclipse Paho.
//
// The input subscribes with QoS 1 on a persistent session (cleanSession
// false, a stable client id), so messages published while the function is
// down wait in the broker and arrive when it is back, and acks a message
// (PUBACK) only after its handler succeeded. Several replicas share the work
// through a shared subscription: a topic of the form "$share/<group>/<topic>",
// with a different consumerID per replica.
//
// MQTT 3 has no message headers, no delivery count and no negative ack. A
// nack hands the message back to this process's own queue, still unacked at
// the broker: the runtime waits out the retry delay before it nacks (the type
// declares no DelayedNack), and the binding keeps the count. The broker sends
// an unacked message again only when the client reconnects (after a crash, a
// restart or a lost connection), flagged as a duplicate, which the binding
// counts as a second delivery.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: telemetry
//	spec:
//	  type: bindings.mqtt3
//	  version: v1
//	  metadata:
//	  - name: url
//	    value: tcp://127.0.0.1:1883
//	  - name: topic
//	    value: $share/telemetry/devices/+/readings
//	  - name: consumerID
//	    envRef: POD_NAME
//
// A function that publishes to several topics, or with its own QoS or retain
// flag, takes a [*Client] among its outputs.
package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/tlsconf"
)

// TypeName is the binding type's name in component files; AliasName is
// accepted too.
const (
	TypeName  = "bindings.mqtt3"
	AliasName = "bindings.mqtt"
)

// Metadata keys of a request to the output.
const (
	MetaTopic  = "topic"
	MetaQoS    = "qos"
	MetaRetain = "retain"
)

func init() { bindings.Register(Type) }

// Type declares bindings.mqtt3.
var Type = bindings.Type{
	Name:       TypeName,
	Aliases:    []string{AliasName},
	Version:    "v1",
	Summary:    "MQTT 3.1.1: QoS 1 subscription on a persistent session as trigger; publish with per-call topic, QoS and retain.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	Capabilities: bindings.Capabilities{
		BatchReceive:  true,
		DelayedNack:   false, // no nack in MQTT 3: the runtime holds the delay
		DeliveryCount: true,  // counted by the binding, see the package doc
		// A PUBACK lost with the connection means the broker sends the
		// message again on reconnect.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "url", Kind: bindings.KindString, Required: true, Secret: true, Example: "tcp://127.0.0.1:1883",
			Description: "Broker address: tcp:// (or mqtt://) for plain, ssl:// (or mqtts://, tls://, tcps://) for TLS, ws:// or wss:// for WebSocket; may carry user:password."},
		{Name: "topic", Kind: bindings.KindString, Required: true, Example: "devices/+/readings",
			Description: "Input: the topic filter subscribed to (wildcards and $share/<group>/ allowed). Output: the topic published to when a call names none (a $share/<group>/ prefix is dropped)."},
		{Name: "consumerID", Kind: bindings.KindString, Required: true, Example: "orders-fn",
			Description: `Client id base: the input connects as "<consumerID>-consumer", the output as "<consumerID>-producer". The broker keeps a session per id, so it must be stable across restarts and differ between replicas (a second connection with the same id disconnects the first).`},
		{Name: "qos", Kind: bindings.KindInt, Default: "1",
			Description: "QoS of the subscription and of publishes: 1 (at least once) or 2. 0 (at most once) is refused: a call may still publish with qos 0."},
		{Name: "retain", Kind: bindings.KindBool, Default: "false", Direction: bindings.DirOutput,
			Description: "Publish with the retain flag: the broker keeps the last message of the topic for new subscribers."},
		{Name: "cleanSession", Kind: bindings.KindBool, Default: "false",
			Description: "Start a new session on every connect. true loses the messages published while the function was down, and unacked ones."},
		{Name: "caCert", Kind: bindings.KindString, Description: "PEM CA certificate that verifies the broker (TLS)."},
		{Name: "clientCert", Kind: bindings.KindString, Description: "PEM client certificate (mutual TLS), with clientKey."},
		{Name: "clientKey", Kind: bindings.KindString, Secret: true, Description: "PEM client private key (mutual TLS), with clientCert."},
		{Name: "backOffMaxRetries", Kind: bindings.KindInt, Direction: bindings.DirInput,
			Description: "Accepted for Dapr compatibility and not used: retries follow the trigger's maxAttempts and backoff keys."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "topic", Description: "The topic the message was published to (also Message.Key)."},
		{Name: "qos", Description: "The QoS it was delivered with."},
		{Name: "retained", Description: `"true" when the broker sent a retained message on subscribing.`},
		{Name: "duplicate", Description: `"true" when the broker sent the message before (DUP flag, after a reconnect).`},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return openInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return openOutput(ctx, cfg) },
}

// settings are a component's values, read and checked once; both directions
// check every key.
type settings struct {
	broker       string
	username     string
	password     string
	topic        string
	consumerID   string
	qos          byte
	retain       bool
	cleanSession bool
	tls          *tls.Config
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		topic:        md.String("topic"),
		consumerID:   md.String("consumerID"),
		qos:          1,
		retain:       md.Bool("retain"),
		cleanSession: md.Bool("cleanSession"),
	}
	u, err := url.Parse(md.String("url"))
	if err != nil {
		return s, &bindings.KeyError{Key: "url", Msg: "not a URL"} // the error would quote the password
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "tcp", "mqtt":
		scheme = "tcp"
	case "ssl", "mqtts", "tls", "tcps":
		scheme = "ssl"
	case "ws", "wss":
	default:
		return s, &bindings.KeyError{Key: "url", Msg: fmt.Sprintf("scheme %q: want tcp://, ssl://, ws:// or wss://", u.Scheme)}
	}
	if u.Host == "" {
		return s, &bindings.KeyError{Key: "url", Msg: "no host"}
	}
	s.broker = scheme + "://" + u.Host
	if strings.HasPrefix(scheme, "ws") {
		s.broker += u.Path
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	if md.Has("qos") {
		q := md.Int("qos")
		if q < 1 || q > 2 {
			return s, &bindings.KeyError{Key: "qos", Msg: fmt.Sprintf("must be 1 or 2 (at least once), got %d", q)}
		}
		s.qos = byte(q)
	}
	if s.topic == "" {
		return s, &bindings.KeyError{Key: "topic", Msg: "must not be empty"}
	}
	if s.consumerID == "" {
		return s, &bindings.KeyError{Key: "consumerID", Msg: "must not be empty"}
	}
	if s.tls, err = tlsconf.FromPEM(md.String("caCert"), md.String("clientCert"), md.String("clientKey")); err != nil {
		return s, err
	}
	return s, nil
}

// publishTopic is the topic an output publishes to by default: the
// component's topic without a shared-subscription prefix, or "" when it is
// a filter with wildcards.
func (s settings) publishTopic() string {
	t := s.topic
	if rest, ok := strings.CutPrefix(t, "$share/"); ok {
		if _, after, ok := strings.Cut(rest, "/"); ok {
			t = after
		}
	}
	if strings.ContainsAny(t, "+#") {
		return ""
	}
	return t
}

// options are the client options both directions share.
func (s settings) options(clientID string, log interface{ Warn(string, ...any) }) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker(s.broker).
		SetClientID(clientID).
		SetProtocolVersion(4). // MQTT 3.1.1
		SetCleanSession(s.cleanSession).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(5 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("mqtt: connection lost", "client", clientID, "err", err)
		})
	if s.username != "" {
		o.SetUsername(s.username)
	}
	if s.password != "" {
		o.SetPassword(s.password)
	}
	if s.tls != nil {
		o.SetTLSConfig(s.tls)
	}
	return o
}

// wait waits for a Paho token, the context or limit, whichever ends first.
func wait(ctx context.Context, t paho.Token, limit time.Duration, what string) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-t.Done():
		if err := t.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, ctx.Err())
	case <-timer.C:
		return fmt.Errorf("%s: no answer from the broker within %s", what, limit)
	}
}

var errNotConnected = errors.New("not connected to the broker")
