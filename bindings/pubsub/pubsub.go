// Package pubsub is Tether's Google Cloud Pub/Sub binding, type
// "bindings.gcp.pubsub", with Dapr's metadata keys.
//
// The input is a subscription, read through the client library's streaming
// pull: each message the library hands to its callback is passed on to
// Receive, acked after the handler succeeded and nacked when it failed. The
// library extends the ack deadline of every message not yet settled, for up
// to maxExtension, including messages the runtime holds for a retry delay
// (Pub/Sub cannot delay a redelivery itself). Messages with an ordering key
// arrive in order on a subscription with message ordering; the key is the
// message's ordering key. The output publishes with attributes and ordering
// keys. Topics and subscriptions are created when missing unless
// disableEntityManagement is set.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.gcp.pubsub
//	  version: v1
//	  metadata:
//	  - name: projectId
//	    value: my-project
//	  - name: topic
//	    value: orders
//	  - name: subscription
//	    value: orders-worker
//
// With PUBSUB_EMULATOR_HOST set, or the endpoint key, the client talks to an
// emulator without credentials. See docs/bindings/gcp.pubsub.md.
package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.gcp.pubsub"

// Metadata keys of a create request that steer the publish instead of
// becoming attributes (matched without regard to case).
const (
	// MetaOrderingKey is the message's ordering key; MetaPartitionKey is a
	// synonym.
	MetaOrderingKey  = "orderingKey"
	MetaPartitionKey = "partitionKey"
	// MetaTopic publishes one message to another topic of the project, as
	// Dapr's binding allows.
	MetaTopic = "topic"
	// MetaContentType is the payload's content type when the request has
	// none of its own.
	MetaContentType = "contentType"
	// MetaMessageID is the response metadata with the id Pub/Sub gave the
	// message.
	MetaMessageID = "messageId"
)

// Input metadata keys besides the message's attributes (Dapr's binding sets
// id and publishTime).
const (
	metaID              = "id"
	metaPublishTime     = "publishTime"
	metaDeliveryAttempt = "deliveryAttempt"
)

// attrContentType is the attribute that carries the payload's content type.
const attrContentType = "contentType"

// emulatorEnv is the variable the client libraries read for an emulator.
const emulatorEnv = "PUBSUB_EMULATOR_HOST"

func init() { bindings.Register(Type) }

// Type declares bindings.gcp.pubsub.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Google Cloud Pub/Sub: a subscription (streaming pull) as trigger; publish with attributes and ordering keys as output.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	Capabilities: bindings.Capabilities{
		BatchReceive: true,
		Ordering:     true, // ordering keys, on a subscription with message ordering
		Metadata:     true,
		ContentType:  true,
		// Pub/Sub counts deliveries only on subscriptions with a dead-letter
		// policy; the count is passed on then, and is 1 otherwise.
		DeliveryCount: false,
		// Pub/Sub delivers at least once: an ack can be lost, and a message
		// whose deadline ran out goes to another subscriber.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "projectId", Kind: bindings.KindString, Example: "my-project",
			Description: "Google Cloud project of the topic and subscription. Default: project_id, else the project of the credentials. Required with an emulator (any name)."},
		{Name: "topic", Kind: bindings.KindString, Example: "orders",
			Description: "Output: the topic create publishes to (required). Input: the topic a missing subscription is created on. An id, or a full projects/.../topics/... name."},
		{Name: "subscription", Kind: bindings.KindString, Required: true, Direction: bindings.DirInput, Example: "orders-worker",
			Description: "The subscription the input reads; replicas sharing it share its messages."},
		{Name: "endpoint", Kind: bindings.KindString,
			Description: "Address (host:port, or an http:// URL) of a Pub/Sub emulator, reached without TLS or credentials. Default: the PUBSUB_EMULATOR_HOST environment variable, else Google's service."},
		{Name: "credentialsJson", Kind: bindings.KindString, Secret: true,
			Description: "Google credentials JSON (a service account key, or authorized_user, external_account, impersonated_service_account). Default: Dapr's service-account keys below, else Application Default Credentials."},
		{Name: "disableEntityManagement", Kind: bindings.KindBool, Default: "false",
			Description: "Do not create the topic and subscription when they are missing (then opening fails). Creating needs the Pub/Sub Editor role; without permission to look, the binding uses the names as they are."},
		{Name: "enableMessageOrdering", Kind: bindings.KindBool, Default: "false", Direction: bindings.DirInput,
			Description: "Create a missing subscription with message ordering, so that the messages of one ordering key are delivered in order. On an existing subscription without it, a warning is logged."},
		{Name: "ackDeadline", Kind: bindings.KindDuration, Default: "20s", Direction: bindings.DirInput,
			Description: "Ack deadline of a subscription the binding creates (10s to 600s): how soon Pub/Sub redelivers the messages of a consumer that died. Running consumers extend it."},
		{Name: "maxOutstandingMessages", Kind: bindings.KindInt, Default: "1000", Direction: bindings.DirInput,
			Description: "Most messages received and not yet settled, handled or waiting for a retry; -1 means no limit."},
		{Name: "maxOutstandingBytes", Kind: bindings.KindInt, Default: "1000000000", Direction: bindings.DirInput,
			Description: "Most bytes of messages received and not yet settled; -1 means no limit."},
		{Name: "maxConcurrentConnections", Kind: bindings.KindInt, Default: "1", Direction: bindings.DirInput,
			Description: "Streaming-pull streams the input keeps open (the client's NumGoroutines)."},
		{Name: "maxExtension", Kind: bindings.KindDuration, Default: "60m", Direction: bindings.DirInput,
			Description: "How long the client keeps extending the ack deadline of a message not yet settled, including while the runtime holds it for a retry delay. Past it Pub/Sub redelivers the message, so it must cover the handler timeout and every retry delay."},
		{Name: "maxDurationPerAckExtension", Kind: bindings.KindDuration, Default: "0", Direction: bindings.DirInput,
			Description: "Longest single ack-deadline extension, 10s to 600s: bounds how long a message of a consumer that died stays away. 0 lets the client choose."},
		{Name: "minDurationPerAckExtension", Kind: bindings.KindDuration, Default: "0", Direction: bindings.DirInput,
			Description: "Shortest single ack-deadline extension, 10s to 600s, to send fewer extension calls. 0 lets the client choose."},
		{Name: "publishDelayThreshold", Kind: bindings.KindDuration, Default: "1ms", Direction: bindings.DirOutput,
			Description: "How long the publisher waits for more messages to share a request. Each create waits up to this long; the client library's own default is 10ms."},
		// Dapr's bindings.gcp.pubsub: the fields of a service-account key.
		{Name: "type", Kind: bindings.KindString,
			Description: `Dapr's key: the credential type, "service_account". With private_key and client_email the binding builds the key JSON from these fields.`},
		{Name: "project_id", Kind: bindings.KindString, Description: "Dapr's key for the project; projectId wins."},
		{Name: "private_key_id", Aliases: []string{"privateKeyID"}, Kind: bindings.KindString, Description: "Dapr's key: the service account key's id."},
		{Name: "private_key", Aliases: []string{"privateKey"}, Kind: bindings.KindString, Secret: true, Description: "Dapr's key: the service account's PEM private key."},
		{Name: "client_email", Aliases: []string{"clientEmail"}, Kind: bindings.KindString, Description: "Dapr's key: the service account's e-mail address."},
		{Name: "client_id", Aliases: []string{"clientID"}, Kind: bindings.KindString, Description: "Dapr's key: the service account's client id."},
		{Name: "auth_uri", Aliases: []string{"authURI"}, Kind: bindings.KindString, Description: "Dapr's key: the OAuth2 auth URI of the key."},
		{Name: "token_uri", Aliases: []string{"tokenURI"}, Kind: bindings.KindString, Description: "Dapr's key: the OAuth2 token URI of the key."},
		{Name: "auth_provider_x509_cert_url", Aliases: []string{"authProviderX509CertURL"}, Kind: bindings.KindString, Description: "Dapr's key: the auth provider's certificate URL."},
		{Name: "client_x509_cert_url", Aliases: []string{"clientX509CertURL"}, Kind: bindings.KindString, Description: "Dapr's key: the service account's certificate URL."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "<attribute>", Description: "Every message attribute under its own name, but contentType, which is Message.ContentType."},
		{Name: "id", Description: "The Pub/Sub message id (also Message.ID), as Dapr's binding sets it."},
		{Name: "publishTime", Description: "When Pub/Sub accepted the message, RFC 3339 (also Message.Time), as Dapr's binding sets it."},
		{Name: "orderingKey", Description: "The message's ordering key, when it has one (also Message.Key)."},
		{Name: "deliveryAttempt", Description: "Pub/Sub's count of delivery attempts (also Message.DeliveryCount), on subscriptions with a dead-letter policy only."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return newInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(ctx, cfg) },
}

// settings are a component's validated keys. Both directions check every
// key, so a component file is valid or not whichever side opens it first.
type settings struct {
	project      string
	topic        string
	subscription string
	emulator     string // host:port; "" for Google's service
	credentials  []byte
	credType     option.CredentialsType
	manage       bool

	ordering     bool
	ackDeadline  time.Duration
	receive      gpubsub.ReceiveSettings
	publishDelay time.Duration
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		project:      strings.TrimSpace(md.String("projectId")),
		topic:        strings.TrimSpace(md.String("topic")),
		subscription: strings.TrimSpace(md.String("subscription")),
		manage:       !md.Bool("disableEntityManagement"),
		ordering:     md.Bool("enableMessageOrdering"),
		ackDeadline:  md.Duration("ackDeadline"),
		publishDelay: md.Duration("publishDelayThreshold"),
		receive: gpubsub.ReceiveSettings{
			MaxOutstandingMessages:     md.Int("maxOutstandingMessages"),
			MaxOutstandingBytes:        md.Int("maxOutstandingBytes"),
			NumGoroutines:              md.Int("maxConcurrentConnections"),
			MaxExtension:               md.Duration("maxExtension"),
			MaxDurationPerAckExtension: md.Duration("maxDurationPerAckExtension"),
			MinDurationPerAckExtension: md.Duration("minDurationPerAckExtension"),
		},
	}
	if s.project == "" {
		s.project = strings.TrimSpace(md.String("project_id"))
	}
	var err error
	if s.emulator, err = emulatorAddress(md.String("endpoint")); err != nil {
		return s, err
	}
	if s.credentials, s.credType, err = credentials(md); err != nil {
		return s, err
	}
	// Input keys have their defaults only when an input opens; an output
	// checks the ones that are set.
	inRange := func(key string, lo, hi time.Duration) error {
		if d := md.Duration(key); md.Has(key) && d != 0 && (d < lo || d > hi) {
			return &bindings.KeyError{Key: key, Msg: fmt.Sprintf("must be 0 or from %s to %s, got %s", lo, hi, d)}
		}
		return nil
	}
	switch {
	case md.Has("ackDeadline") && (s.ackDeadline < 10*time.Second || s.ackDeadline > 600*time.Second):
		return s, &bindings.KeyError{Key: "ackDeadline", Msg: fmt.Sprintf("must be from 10s to 600s, got %s", s.ackDeadline)}
	case md.Has("ackDeadline") && s.ackDeadline%time.Second != 0:
		return s, &bindings.KeyError{Key: "ackDeadline", Msg: fmt.Sprintf("%s is not a whole number of seconds", s.ackDeadline)}
	case md.Has("maxOutstandingMessages") && (s.receive.MaxOutstandingMessages == 0 || s.receive.MaxOutstandingMessages < -1):
		return s, &bindings.KeyError{Key: "maxOutstandingMessages", Msg: "must be at least 1, or -1 for no limit"}
	case md.Has("maxOutstandingBytes") && (s.receive.MaxOutstandingBytes == 0 || s.receive.MaxOutstandingBytes < -1):
		return s, &bindings.KeyError{Key: "maxOutstandingBytes", Msg: "must be at least 1, or -1 for no limit"}
	case md.Has("maxConcurrentConnections") && s.receive.NumGoroutines < 1:
		return s, &bindings.KeyError{Key: "maxConcurrentConnections", Msg: "must be at least 1"}
	case md.Has("maxExtension") && s.receive.MaxExtension <= 0:
		return s, &bindings.KeyError{Key: "maxExtension", Msg: "must be positive"}
	case md.Has("publishDelayThreshold") && s.publishDelay <= 0:
		return s, &bindings.KeyError{Key: "publishDelayThreshold", Msg: "must be positive"}
	}
	if err := inRange("maxDurationPerAckExtension", 10*time.Second, 600*time.Second); err != nil {
		return s, err
	}
	if err := inRange("minDurationPerAckExtension", 10*time.Second, 600*time.Second); err != nil {
		return s, err
	}
	if s.emulator != "" && s.project == "" {
		return s, &bindings.KeyError{Key: "projectId", Msg: "is required with an emulator (any name will do)"}
	}
	for _, k := range []string{"topic", "subscription"} {
		if v := md.String(k); strings.ContainsAny(v, " /") && !strings.HasPrefix(v, "projects/") {
			return s, &bindings.KeyError{Key: k, Msg: fmt.Sprintf("%q is neither an id nor a projects/... name", v)}
		}
	}
	return s, nil
}

// emulatorAddress returns the emulator to use: the endpoint key
// (host:port, or an http:// URL as Dapr's examples write it), else
// PUBSUB_EMULATOR_HOST.
func emulatorAddress(endpoint string) (string, error) {
	endpoint = strings.TrimSpace(endpoint)
	if endpoint == "" {
		return os.Getenv(emulatorEnv), nil
	}
	if u, err := url.Parse(endpoint); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		endpoint = u.Host
	}
	if _, port, err := net.SplitHostPort(endpoint); err != nil || port == "" {
		return "", &bindings.KeyError{Key: "endpoint", Msg: fmt.Sprintf("%q is not a host:port address", endpoint)}
	}
	return endpoint, nil
}

// credentials returns the credentials JSON the component gives, if any:
// credentialsJson, or Dapr's service-account fields assembled.
func credentials(md bindings.Metadata) ([]byte, option.CredentialsType, error) {
	js := []byte(strings.TrimSpace(md.String("credentialsJson")))
	key := "credentialsJson"
	if len(js) == 0 && (md.String("private_key") != "" || md.String("client_email") != "") {
		if md.String("private_key") == "" || md.String("client_email") == "" {
			return nil, "", &bindings.KeyError{Key: "private_key", Msg: "private_key and client_email go together"}
		}
		fields := map[string]string{}
		for _, k := range []string{"type", "project_id", "private_key_id", "private_key", "client_email", "client_id",
			"auth_uri", "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"} {
			if v := md.String(k); v != "" {
				fields[k] = v
			}
		}
		if fields["type"] == "" {
			fields["type"] = "service_account"
		}
		if fields["token_uri"] == "" {
			fields["token_uri"] = "https://oauth2.googleapis.com/token"
		}
		js, _ = json.Marshal(fields) // a map of strings always encodes
		key = "private_key"
	}
	if len(js) == 0 {
		return nil, "", nil
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, "", &bindings.KeyError{Key: key, Msg: fmt.Sprintf("not JSON: %v", err)}
	}
	types := map[string]option.CredentialsType{
		"service_account":              option.ServiceAccount,
		"authorized_user":              option.AuthorizedUser,
		"external_account":             option.ExternalAccount,
		"impersonated_service_account": option.ImpersonatedServiceAccount,
	}
	t, ok := types[head.Type]
	if !ok {
		return nil, "", &bindings.KeyError{Key: key, Msg: fmt.Sprintf("credential type %q is not one of service_account, authorized_user, external_account, impersonated_service_account", head.Type)}
	}
	return js, t, nil
}

// connect builds the client.
func connect(ctx context.Context, s settings, extra ...option.ClientOption) (*gpubsub.Client, error) {
	var opts []option.ClientOption
	switch {
	case s.emulator != "":
		opts = append(opts,
			option.WithEndpoint(s.emulator),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithTelemetryDisabled(),
		)
	case s.credentials != nil:
		opts = append(opts, option.WithAuthCredentialsJSON(s.credType, s.credentials))
	}
	opts = append(opts, extra...)
	project := s.project
	if project == "" {
		project = gpubsub.DetectProjectID
	}
	client, err := gpubsub.NewClient(ctx, project, opts...)
	if err != nil {
		if project == gpubsub.DetectProjectID {
			return nil, &bindings.KeyError{Key: "projectId", Msg: fmt.Sprintf("not set, and not found in the credentials: %v", err)}
		}
		return nil, fmt.Errorf("connect to Pub/Sub: %w", err)
	}
	return client, nil
}

// fullName returns the projects/<project>/<kind>/<id> name of id.
func fullName(project, kind, id string) string {
	if strings.HasPrefix(id, "projects/") {
		return id
	}
	return "projects/" + project + "/" + kind + "/" + id
}

var errNoTopic = errors.New("no topic")
