// Package kafka is Tether's Apache Kafka binding, type "bindings.kafka",
// built on franz-go. Its metadata follows Dapr's Kafka binding.
//
// The input is a consumer group. Records of one partition are handed out in
// offset order, partitions in parallel; each message's Key is
// "<topic>/<partition>", so a trigger with ordered: true handles one
// partition's records one at a time and retries a failing one in place while
// the other partitions go on. Offsets are committed only up to the last record
// of a partition that was acked with every record before it, never past a
// record that is still failing: after its retries that record goes to the
// trigger's dead-letter binding (a Kafka topic is a fine one) and the
// partition's commit moves on.
//
// The output produces each request as one record, synchronously, acknowledged
// by all in-sync replicas by default.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.kafka
//	  version: v1
//	  metadata:
//	  - name: brokers
//	    value: 127.0.0.1:9092
//	  - name: topics
//	    value: orders
//	  - name: consumerGroup
//	    value: order-processor
//	  - name: publishTopic
//	    value: orders
//	  - name: initialOffset
//	    value: oldest
//
// A function that needs the record key, partition or headers takes a
// [*Client] among its outputs. See docs/bindings/kafka.md.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.kafka"

// Metadata keys of a request to the output's create.
const (
	// MetaKey ("key") is the record key. Dapr's "partitionKey" and the
	// input's "__key" are accepted too, in that order of precedence.
	MetaKey = "key"
	// MetaPartitionKey is Dapr's name for the record key.
	MetaPartitionKey = "partitionKey"
	// MetaPartition ("partition") writes the record to this partition
	// instead of the one its key hashes to.
	MetaPartition = "partition"
	// MetaOffset is the response metadata holding the offset the record was
	// written at; the response's "partition" and "topic" say where.
	MetaOffset = "offset"
	// MetaTopic is the response metadata naming the topic written to.
	MetaTopic = "topic"
)

// Metadata keys of an input message, Dapr's names. Every record header is a
// metadata key as well, under its own name.
const (
	InTopic     = "__topic"
	InPartition = "__partition"
	InOffset    = "__offset"
	InKey       = "__key"
	InTimestamp = "__timestamp" // Unix milliseconds, as Dapr
)

// contentTypeHeader carries a message's content type, as the CloudEvents
// Kafka binding does.
const contentTypeHeader = "content-type"

func init() { bindings.Register(Type) }

// Type declares bindings.kafka.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Apache Kafka: a consumer group as trigger, ordered per partition, commits never past a failure; synchronous produce as output.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	// Records are polled in the background; a Receive of 100 hands out ten
	// times the records of one of 10 for one lock and one wake-up of the
	// receive loop: measured with BenchmarkBatchSize on a quiet machine, the
	// trigger handles 1.14-1.27x the records a second at 100 as at 10
	// (three runs of 7 rounds), 50 and 250 no better.
	DeliveryDefaults: map[string]string{"batchSize": "100"},
	Capabilities: bindings.Capabilities{
		BatchReceive:  true,
		Ordering:      true,
		DelayedNack:   true,
		Metadata:      true,
		ContentType:   true,
		DeliveryCount: true,
		// A rebalance moves a partition while records of it are in flight,
		// and a crash loses the acks made since the last commit: the next
		// owner receives those records again.
		Duplicates: true,
	},
	Metadata: metadataKeys,
	Upgrade:  upgrade,
	InputMetadata: []bindings.MetadataKey{
		{Name: InTopic, Kind: bindings.KindString, Description: "Topic the record was read from."},
		{Name: InPartition, Kind: bindings.KindInt, Description: "Partition the record was read from."},
		{Name: InOffset, Kind: bindings.KindInt, Description: "Offset of the record in its partition."},
		{Name: InKey, Kind: bindings.KindString, Description: "Record key; absent when the record has none."},
		{Name: InTimestamp, Kind: bindings.KindInt, Description: "Record timestamp, in Unix milliseconds."},
		{Name: "<header>", Kind: bindings.KindString, Description: "Every record header, under its own name (content-type excepted: it is the message's ContentType)."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return openInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return openOutput(ctx, cfg) },
}

// metadataKeys are the component keys of bindings.kafka.
var metadataKeys = []bindings.MetadataKey{
	{Name: "brokers", Kind: bindings.KindString, Required: true, Example: "127.0.0.1:9092",
		Description: "Comma-separated host:port addresses of the brokers to bootstrap from."},
	{Name: "topics", Kind: bindings.KindString, Required: true, Direction: bindings.DirInput, Example: "orders",
		Description: "Comma-separated topics the input consumes."},
	{Name: "consumerGroup", Kind: bindings.KindString, Required: true, Direction: bindings.DirInput, Example: "order-processor",
		Description: "Consumer group of the input: each record goes to one member of the group, and the group's committed offsets say where it resumes."},
	{Name: "publishTopic", Kind: bindings.KindString, Required: true, Direction: bindings.DirOutput, Example: "orders",
		Description: "Topic the output writes to."},
	{Name: "initialOffset", Kind: bindings.KindEnum, Enum: []string{"newest", "oldest"}, Default: "newest", Direction: bindings.DirInput,
		Description: `Where a consumer group without a committed offset starts: "newest" (records written from now on) or "oldest" (everything the topic holds).`},
	{Name: "clientID", Kind: bindings.KindString, Default: "tether",
		Description: "Client id sent to the brokers, for their logs and quotas."},
	{Name: "authType", Kind: bindings.KindEnum, Enum: []string{"none", "password", "mtls", "oidc"}, Default: "none",
		Description: `How to authenticate: "none", "password" (SASL with saslUsername, saslPassword, saslMechanism), "mtls" (TLS client certificate clientCert, clientKey) or "oidc" (SASL OAUTHBEARER with a token from oidcTokenEndpoint).`},
	{Name: "saslUsername", Kind: bindings.KindString,
		Description: `SASL user name, with authType "password".`},
	{Name: "saslPassword", Kind: bindings.KindString, Secret: true,
		Description: `SASL password, with authType "password".`},
	{Name: "saslMechanism", Kind: bindings.KindEnum, Enum: []string{"PLAINTEXT", "PLAIN", "SHA-256", "SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-512"}, Default: "PLAINTEXT",
		Description: `SASL mechanism, with authType "password": "PLAINTEXT" (SASL PLAIN, as Dapr names it), "SHA-256" or "SHA-512" (SCRAM).`},
	{Name: "caCert", Kind: bindings.KindString,
		Description: "PEM certificate(s) of the authority that signed the brokers' certificates. Default: the system's."},
	{Name: "clientCert", Kind: bindings.KindString,
		Description: `PEM client certificate, with authType "mtls".`},
	{Name: "clientKey", Kind: bindings.KindString, Secret: true,
		Description: `PEM private key of clientCert, with authType "mtls".`},
	{Name: "skipVerify", Kind: bindings.KindBool, Default: "false",
		Description: "Accept any broker certificate. Insecure: for tests only."},
	{Name: "disableTls", Kind: bindings.KindBool, Default: "false",
		Description: `Connect without TLS although authType is not "none" (not with "mtls"). With authType "none", TLS is used only when caCert or skipVerify is set.`},
	{Name: "oidcTokenEndpoint", Kind: bindings.KindString,
		Description: `OAuth 2 token endpoint (client credentials grant), with authType "oidc".`},
	{Name: "oidcClientID", Kind: bindings.KindString,
		Description: `OAuth 2 client id, with authType "oidc".`},
	{Name: "oidcClientSecret", Kind: bindings.KindString, Secret: true,
		Description: `OAuth 2 client secret, with authType "oidc".`},
	{Name: "oidcScopes", Kind: bindings.KindString, Default: "openid",
		Description: `Comma-separated scopes asked for with the token, with authType "oidc".`},
	{Name: "oidcExtensions", Kind: bindings.KindString,
		Description: `JSON object of SASL extensions sent with the token, with authType "oidc" (e.g. {"logicalCluster":"lkc-1"}).`},
	{Name: "maxMessageBytes", Kind: bindings.KindInt, Default: "1048576", Direction: bindings.DirOutput,
		Description: "Largest record batch the output writes, in bytes; a bigger record fails. Keep it at or below the topic's max.message.bytes."},
	{Name: "acks", Kind: bindings.KindEnum, Enum: []string{"all", "leader", "none"}, Default: "all", Direction: bindings.DirOutput,
		Description: `Acknowledgement a write waits for: "all" in-sync replicas (idempotent writes), the "leader" only, or "none" (fire and forget; a write can be lost).`},
	{Name: "compression", Kind: bindings.KindEnum, Enum: []string{"none", "gzip", "snappy", "lz4", "zstd"}, Default: "none", Direction: bindings.DirOutput,
		Description: "Compression of the record batches the output writes."},
	{Name: "heartbeatInterval", Kind: bindings.KindDuration, Default: "3s", Direction: bindings.DirInput,
		Description: "How often the input tells the group coordinator it is alive; at most a third of sessionTimeout."},
	{Name: "sessionTimeout", Kind: bindings.KindDuration, Default: "10s", Direction: bindings.DirInput,
		Description: "How long the coordinator waits for a heartbeat before it gives the member's partitions to others (after a crash, say)."},
	{Name: "consumerGroupRebalanceStrategy", Kind: bindings.KindEnum, Enum: []string{"cooperative-sticky", "sticky", "range", "roundrobin"}, Default: "cooperative-sticky", Direction: bindings.DirInput,
		Description: `How partitions are shared among the group's members. "cooperative-sticky" moves only the partitions that change owner, so a rebalance does not stop the others; the rest are Kafka's eager strategies.`},
	{Name: "escapeHeaders", Kind: bindings.KindBool, Default: "false", Direction: bindings.DirInput,
		Description: "URL-escape header values (and the key) in the input's message metadata, for headers that are not valid HTTP header values."},
	{Name: "version", Kind: bindings.KindString,
		Description: "Kafka version, accepted for Dapr compatibility and not used: franz-go negotiates each request's version with the brokers."},
	{Name: "consumeRetryEnabled", Kind: bindings.KindBool,
		Description: "Accepted for Dapr compatibility and not used: the trigger's retry policy (maxAttempts, initialInterval...) retries failed messages."},
	{Name: "consumeRetryInterval", Kind: bindings.KindDuration,
		Description: "Accepted for Dapr compatibility and not used: see consumeRetryEnabled."},
	{Name: "authRequired", Kind: bindings.KindBool,
		Description: `Dapr's deprecated switch, read when authType is not set: true means password authentication when saslPassword is set, else mtls; false means none.`},
	{Name: "clientConnectionKeepAliveInterval", Ignored: "franz-go keeps connections alive itself"},
	{Name: "clientConnectionTopicMetadataRefreshInterval", Ignored: "franz-go refreshes topic metadata itself, when a partition moves"},
	{Name: "excludeHeaderMetaRegex", Ignored: "not implemented: every header is passed as metadata"},
	{Name: "schemaRegistryURL", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "schemaRegistryAPIKey", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "schemaRegistryAPISecret", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "schemaCachingEnabled", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "schemaLatestVersionCacheTTL", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "useAvroJSON", Ignored: "Avro schema registry validation is not implemented"},
	{Name: "region", Aliases: []string{"awsRegion"}, Ignored: "AWS MSK IAM authentication is not implemented"},
	{Name: "accessKey", Aliases: []string{"awsAccessKey"}, Ignored: "AWS MSK IAM authentication is not implemented"},
	{Name: "secretKey", Aliases: []string{"awsSecretKey"}, Ignored: "AWS MSK IAM authentication is not implemented"},
	{Name: "sessionToken", Aliases: []string{"awsSessionToken"}, Ignored: "AWS MSK IAM authentication is not implemented"},
	{Name: "assumeRoleArn", Aliases: []string{"awsIamRoleArn"}, Ignored: "AWS MSK IAM authentication is not implemented"},
	{Name: "sessionName", Aliases: []string{"awsStsSessionName"}, Ignored: "AWS MSK IAM authentication is not implemented"},
}

// upgrade turns Dapr's deprecated authRequired into authType, as Dapr's
// Kafka component does when authType is not set: true means password
// authentication when a saslPassword is given, else mtls; false means none.
// An invalid authRequired stays, for validation to report.
func upgrade(values map[string]string) map[string]string {
	name, req, ok := bindings.LookupFold(values, "authRequired")
	if !ok {
		return values
	}
	if _, at, set := bindings.LookupFold(values, "authType"); set && at != "" {
		return values
	}
	b, err := strconv.ParseBool(strings.TrimSpace(req))
	if err != nil {
		return values
	}
	delete(values, name)
	switch _, pw, _ := bindings.LookupFold(values, "saslPassword"); {
	case !b:
		values["authType"] = "none"
	case pw != "":
		values["authType"] = "password"
	default:
		values["authType"] = "mtls"
	}
	return values
}

// settings are a component's validated metadata. Both constructors parse
// every key, so a component is valid or not whichever side opens it.
type settings struct {
	brokers       []string
	topics        []string
	group         string
	publishTopic  string
	oldest        bool
	clientID      string
	maxBytes      int
	acks          string
	compression   string
	heartbeat     time.Duration
	session       time.Duration
	balancer      string
	escapeHeaders bool

	// From the runtime's delivery keys.
	ordered        bool
	batchSize      int
	maxConcurrency int

	tls  *tls.Config // nil: plain TCP
	sasl sasl.Mechanism
}

func parse(cfg bindings.Config) (settings, error) {
	md := withDefaults(cfg.Values())
	s := settings{
		brokers:        splitList(md.String("brokers")),
		topics:         splitList(md.String("topics")),
		group:          strings.TrimSpace(md.String("consumerGroup")),
		publishTopic:   strings.TrimSpace(md.String("publishTopic")),
		oldest:         strings.EqualFold(md.String("initialOffset"), "oldest"),
		clientID:       md.String("clientID"),
		maxBytes:       md.Int("maxMessageBytes"),
		acks:           strings.ToLower(md.String("acks")),
		compression:    strings.ToLower(md.String("compression")),
		heartbeat:      md.Duration("heartbeatInterval"),
		session:        md.Duration("sessionTimeout"),
		balancer:       strings.ToLower(md.String("consumerGroupRebalanceStrategy")),
		escapeHeaders:  md.Bool("escapeHeaders"),
		ordered:        md.Bool("ordered"),
		batchSize:      max(1, md.Int("batchSize")),
		maxConcurrency: max(1, md.Int("maxConcurrency")),
	}
	if len(s.brokers) == 0 {
		return s, &bindings.KeyError{Key: "brokers", Msg: "is empty: list at least one host:port"}
	}
	for _, b := range s.brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return s, &bindings.KeyError{Key: "brokers", Msg: fmt.Sprintf("%q is not a host:port address", b)}
		}
	}
	if md.Has("maxMessageBytes") && s.maxBytes < 1 {
		return s, &bindings.KeyError{Key: "maxMessageBytes", Msg: fmt.Sprintf("must be positive, got %d", s.maxBytes)}
	}
	if s.session <= 0 {
		return s, &bindings.KeyError{Key: "sessionTimeout", Msg: "must be positive"}
	}
	if s.heartbeat <= 0 || s.heartbeat > s.session/3 {
		return s, &bindings.KeyError{Key: "heartbeatInterval", Msg: fmt.Sprintf("must be positive and at most a third of sessionTimeout (%s), got %s", s.session, s.heartbeat)}
	}
	if s.clientID == "" {
		s.clientID = "tether"
	}
	var err error
	if s.tls, s.sasl, err = auth(md); err != nil {
		return s, err
	}
	return s, nil
}

// withDefaults adds the defaults of the other direction's keys, which
// validation leaves out, so that both constructors check the same values.
func withDefaults(md bindings.Metadata) bindings.Metadata {
	values := md.Map()
	for _, k := range metadataKeys {
		if _, ok := values[k.Name]; !ok && k.Default != "" {
			values[k.Name] = k.Default
		}
	}
	return bindings.NewMetadata(values)
}

// auth builds the TLS configuration and SASL mechanism of authType.
func auth(md bindings.Metadata) (*tls.Config, sasl.Mechanism, error) {
	authType := strings.ToLower(md.String("authType"))
	useTLS := !md.Bool("disableTls") && (authType != "none" || md.String("caCert") != "" || md.Bool("skipVerify"))
	if authType == "mtls" && md.Bool("disableTls") {
		return nil, nil, &bindings.KeyError{Key: "disableTls", Msg: `cannot be true with authType "mtls": the client certificate is sent over TLS`}
	}
	var tc *tls.Config
	if useTLS {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: md.Bool("skipVerify")} //nolint:gosec // the user asked for it
		if pem := md.String("caCert"); pem != "" {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(pem)) {
				return nil, nil, &bindings.KeyError{Key: "caCert", Msg: "holds no PEM certificate"}
			}
			tc.RootCAs = pool
		}
	}
	if authType != "mtls" && (md.String("clientCert") != "" || md.String("clientKey") != "") {
		return nil, nil, &bindings.KeyError{Key: "clientCert", Msg: `is used only with authType "mtls"`}
	}
	switch authType {
	case "none":
		return tc, nil, nil
	case "mtls":
		cert, key := md.String("clientCert"), md.String("clientKey")
		if cert == "" || key == "" {
			return nil, nil, &bindings.KeyError{Key: "clientCert", Msg: `authType "mtls" needs clientCert and clientKey`}
		}
		pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
		if err != nil {
			return nil, nil, &bindings.KeyError{Key: "clientCert", Msg: "with clientKey is not a valid PEM key pair: " + err.Error()}
		}
		tc.Certificates = []tls.Certificate{pair}
		return tc, nil, nil
	case "password":
		user, pass := md.String("saslUsername"), md.String("saslPassword")
		if user == "" {
			return nil, nil, &bindings.KeyError{Key: "saslUsername", Msg: `authType "password" needs saslUsername and saslPassword`}
		}
		switch strings.ToUpper(md.String("saslMechanism")) {
		case "SHA-256", "SCRAM-SHA-256":
			return tc, scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
		case "SHA-512", "SCRAM-SHA-512":
			return tc, scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
		default:
			return tc, plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
		}
	case "oidc":
		m, err := oidcMechanism(md, tc)
		return tc, m, err
	}
	return nil, nil, &bindings.KeyError{Key: "authType", Msg: fmt.Sprintf("%q is not supported", authType)}
}

// oidcMechanism is SASL OAUTHBEARER with a token from the client credentials
// grant; the token source caches the token and fetches a new one when it
// expires.
func oidcMechanism(md bindings.Metadata, tc *tls.Config) (sasl.Mechanism, error) {
	endpoint := md.String("oidcTokenEndpoint")
	if u, err := url.Parse(endpoint); endpoint == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, &bindings.KeyError{Key: "oidcTokenEndpoint", Msg: fmt.Sprintf(`authType "oidc" needs an http(s) URL, got %q`, endpoint)}
	}
	if md.String("oidcClientID") == "" || md.String("oidcClientSecret") == "" {
		return nil, &bindings.KeyError{Key: "oidcClientID", Msg: `authType "oidc" needs oidcClientID and oidcClientSecret`}
	}
	var ext map[string]string
	if e := md.String("oidcExtensions"); e != "" {
		if err := json.Unmarshal([]byte(e), &ext); err != nil {
			return nil, &bindings.KeyError{Key: "oidcExtensions", Msg: "is not a JSON object of strings: " + err.Error()}
		}
	}
	cc := clientcredentials.Config{
		ClientID:     md.String("oidcClientID"),
		ClientSecret: md.String("oidcClientSecret"),
		TokenURL:     endpoint,
		Scopes:       splitList(md.String("oidcScopes")),
	}
	// The token endpoint is trusted like the brokers: same CA.
	client := &http.Client{Timeout: 30 * time.Second}
	if tc != nil && tc.RootCAs != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: tc.RootCAs}}
	}
	src := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, client))
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		tok, err := src.Token()
		if err != nil {
			return oauth.Auth{}, fmt.Errorf("oidc token from %s: %w", endpoint, err)
		}
		return oauth.Auth{Token: tok.AccessToken, Extensions: ext}, nil
	}), nil
}

// clientOptions are what input and output clients share.
func clientOptions(s settings, logger *slog.Logger) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(s.brokers...),
		kgo.ClientID(s.clientID),
		kgo.WithLogger(kgoLogger{logger}),
	}
	if s.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(s.tls.Clone()))
	}
	if s.sasl != nil {
		opts = append(opts, kgo.SASL(s.sasl))
	}
	return opts
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

// kgoLogger sends franz-go's logs to the binding's logger. franz-go's info
// lines (group joins, assignments) are debug here: they are routine.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel {
	if k.l.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	}
	k.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}

func itoa32(n int32) string { return strconv.FormatInt(int64(n), 10) }
