// Package redis is Tether's Redis binding, type "bindings.redis".
//
// The output has Dapr's operations on keys (create, get, delete, increment)
// plus set, xadd (append to a stream) and publish (to a pub/sub channel). The
// input, which Dapr does not have, is a Redis Streams consumer group: entries
// are read with XREADGROUP, acknowledged with XACK once the handler succeeded,
// and entries left pending by a consumer that died are claimed by another
// (XAUTOCLAIM) once they have gone processingTimeout without their consumer
// renewing them. Delivery is at least once.
//
// When the component names a stream, create appends to it (XADD), so one
// function hands work to another by writing to the stream the other is
// triggered by; without a stream, create is Dapr's SET of the key in the
// request's "key" metadata.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.redis
//	  version: v1
//	  metadata:
//	  - name: redisHost
//	    value: 127.0.0.1:6379
//	  - name: stream
//	    value: orders
//
// A function that needs the key operations takes a [*Client] among its
// outputs.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/liblog"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.redis"

// Operations beyond bindings.OpCreate, OpGet and OpDelete.
const (
	// OpIncrement increments the integer at the "key" metadata (INCR) and
	// answers the new value.
	OpIncrement bindings.Operation = "increment"
	// OpSet stores the data at the "key" metadata (SET), whether or not the
	// component names a stream.
	OpSet bindings.Operation = "set"
	// OpXAdd appends the data to a stream (XADD).
	OpXAdd bindings.Operation = "xadd"
	// OpPublish publishes the data on the pub/sub channel in the "channel"
	// metadata (PUBLISH).
	OpPublish bindings.Operation = "publish"
)

// Metadata keys of a request to the output.
const (
	// MetaKey names the key of set, get, delete, increment, and of create
	// when the component has no stream.
	MetaKey = "key"
	// MetaTTL ("ttlInSeconds") sets the expiry of set, create (as SET) and
	// increment, overriding the component's ttlInSeconds.
	MetaTTL = "ttlInSeconds"
	// MetaStream overrides the component's stream for one xadd.
	MetaStream = "stream"
	// MetaChannel names the channel of publish.
	MetaChannel = "channel"
	// MetaID is the response metadata holding the entry id xadd made.
	MetaID = "id"
	// MetaReceivers is the response metadata of publish: how many
	// subscribers received the message.
	MetaReceivers = "receivers"
)

// Stream entry fields a message is written as. Every other field of an entry
// is a metadata key.
const (
	fieldData        = "data"
	fieldContentType = "contentType"
)

func init() { bindings.Register(Type) }

// Type declares bindings.redis.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Redis: key operations, streams and pub/sub as output; a Streams consumer group as trigger.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate, bindings.OpGet, bindings.OpDelete, OpIncrement, OpSet, OpXAdd, OpPublish},
	// One XREADGROUP of 100 costs little more than one of 10: measured with
	// BenchmarkBatchSize, the trigger handles 1.4x the entries a second at
	// 100 as at 10, and no more at 250.
	DeliveryDefaults: map[string]string{"batchSize": "100"},
	Capabilities: bindings.Capabilities{
		BatchReceive: true,
		// Lease: the runtime renews every entry it holds (ExtendLeases),
		// including those it holds for a retry delay.
		Lease:         true,
		Metadata:      true,
		ContentType:   true,
		DeliveryCount: true,
		// A consumer cut off from Redis for processingTimeout loses its
		// entries to another while it may still be handling them.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "useEntraID", Ignored: "Azure Entra ID authentication is not implemented: give redisPassword"},
		{Name: "redisHost", Kind: bindings.KindString, Required: true, Example: "127.0.0.1:6379",
			Description: `Address of the Redis server as host:port. With redisType "cluster", or with failover (then of the sentinels), several addresses separated by commas.`},
		{Name: "redisPort", Kind: bindings.KindString,
			Description: "Port used for addresses in redisHost that have none. Default: 6379."},
		{Name: "redisUsername", Kind: bindings.KindString,
			Description: "User name (Redis 6 ACL)."},
		{Name: "redisPassword", Kind: bindings.KindString, Secret: true,
			Description: "Password."},
		{Name: "redisDB", Kind: bindings.KindInt, Default: "0",
			Description: `Database selected after connecting; ignored with redisType "cluster".`},
		{Name: "redisType", Kind: bindings.KindEnum, Enum: []string{"node", "cluster"}, Default: "node",
			Description: `"node" for a single server (or a sentinel-managed one with failover), "cluster" for Redis Cluster.`},
		{Name: "enableTLS", Kind: bindings.KindBool, Default: "false",
			Description: "Connect with TLS, verifying the server against the system's certificate authorities."},
		{Name: "clientCert", Kind: bindings.KindString,
			Description: "PEM client certificate for servers that require one, with clientKey and enableTLS."},
		{Name: "clientKey", Kind: bindings.KindString, Secret: true,
			Description: "PEM private key of clientCert."},
		{Name: "failover", Kind: bindings.KindBool, Default: "false",
			Description: "Connect through Redis Sentinel: redisHost lists the sentinels and sentinelMasterName names the master."},
		{Name: "sentinelMasterName", Kind: bindings.KindString,
			Description: "Name of the master the sentinels watch, with failover."},
		{Name: "sentinelUsername", Kind: bindings.KindString,
			Description: "User name for the sentinels, with failover."},
		{Name: "sentinelPassword", Kind: bindings.KindString, Secret: true,
			Description: "Password for the sentinels, with failover."},
		{Name: "redisMaxRetries", Kind: bindings.KindInt, Default: "3",
			Description: "Retries of a command that failed on the network before giving up; -1 disables retries."},
		{Name: "redisMinRetryInterval", Kind: bindings.KindDuration, Default: "8ms",
			Description: "Shortest backoff between retries; -1 disables backoff."},
		{Name: "redisMaxRetryInterval", Kind: bindings.KindDuration, Default: "512ms",
			Description: "Longest backoff between retries; -1 disables backoff."},
		{Name: "dialTimeout", Kind: bindings.KindDuration, Default: "5s",
			Description: "Timeout for opening a connection."},
		{Name: "readTimeout", Kind: bindings.KindDuration, Default: "3s",
			Description: "Timeout for socket reads; -1 means none. The input's blocking stream reads (1s at a time) get their block time on top."},
		{Name: "writeTimeout", Kind: bindings.KindDuration,
			Description: "Timeout for socket writes; -1 means none. Default: readTimeout."},
		{Name: "poolSize", Kind: bindings.KindInt,
			Description: "Most connections open at once. Default: 10 per CPU."},
		{Name: "poolTimeout", Kind: bindings.KindDuration,
			Description: "How long a command waits for a free connection. Default: readTimeout + 1s."},
		{Name: "maxConnAge", Kind: bindings.KindDuration,
			Description: "Age at which a connection is closed and replaced. Default: never."},
		{Name: "minIdleConns", Kind: bindings.KindInt, Default: "0",
			Description: "Idle connections kept open."},
		{Name: "idleCheckFrequency", Kind: bindings.KindDuration,
			Description: "Accepted for Dapr compatibility and ignored: the client checks idle connections when it takes them from the pool."},
		{Name: "idleTimeout", Kind: bindings.KindDuration, Default: "5m",
			Description: "Idle time after which a connection is closed; -1 disables the check. Keep it below the server's timeout."},
		{Name: "ttlInSeconds", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirOutput,
			Description: `Expiry of the keys written by set, create (as SET) and increment, in seconds; 0 means none. A request's "ttlInSeconds" metadata overrides it.`},
		{Name: "stream", Kind: bindings.KindString, Example: "orders",
			Description: "Input: the stream the consumer group reads (required). Output: create appends to this stream (XADD) instead of setting a key, and it is the default stream of xadd."},
		{Name: "maxLenApprox", Kind: bindings.KindInt, Default: "0", Direction: bindings.DirOutput,
			Description: "Trim the stream to about this many entries on every append (XADD MAXLEN ~); 0 means no trimming. Trimming drops the oldest entries whether or not a consumer has handled them: size it well above the backlog you expect."},
		{Name: "consumerGroup", Kind: bindings.KindString, Direction: bindings.DirInput,
			Description: "Consumer group; replicas in one group share the stream's entries. Created (reading the stream from its start) if missing. Default: the component name."},
		{Name: "consumerID", Kind: bindings.KindString, Direction: bindings.DirInput,
			Description: "This consumer's name in the group; must differ between replicas. Default: the host name and a random suffix, new for every start."},
		{Name: "processingTimeout", Kind: bindings.KindDuration, Default: "60s", Direction: bindings.DirInput,
			Description: "How long an entry may stay pending (delivered, not acked) without its consumer renewing it before another consumer claims it, as in Dapr's Redis pub/sub. A live consumer renews the entries it holds every third of it, so this is how soon the entries of a consumer that died are handled again. At least 1ms: Dapr's 0 (no redelivery) would strand a dead consumer's entries."},
		{Name: "redeliverInterval", Kind: bindings.KindDuration, Default: "15s", Direction: bindings.DirInput,
			Description: "How often the consumer looks for entries pending longer than processingTimeout (a consumer that died) and claims them."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "stream", Description: "The stream the entry was read from."},
		{Name: "<field>", Description: `Every field of the entry other than "data" and "contentType", under its own name: the metadata given to create or xadd. An entry without a "data" field (written by another producer) arrives as a JSON object of all its fields instead, with content type application/json.`},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return newInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(ctx, cfg) },
}

// settings are a component's validated keys. Both directions check every
// key, so a component file is valid or not whichever side opens it first.
type settings struct {
	client *goredis.UniversalOptions

	stream       string
	maxLenApprox int64
	ttl          time.Duration

	group             string
	consumer          string
	processingTimeout time.Duration
	redeliverInterval time.Duration
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	opts, err := clientOptions(md)
	if err != nil {
		return settings{}, err
	}
	s := settings{
		client:            opts,
		stream:            md.String("stream"),
		maxLenApprox:      int64(md.Int("maxLenApprox")),
		ttl:               time.Duration(md.Int("ttlInSeconds")) * time.Second,
		group:             md.String("consumerGroup"),
		consumer:          md.String("consumerID"),
		processingTimeout: md.Duration("processingTimeout"),
		redeliverInterval: md.Duration("redeliverInterval"),
	}
	if s.group == "" {
		s.group = cfg.Name
	}
	if s.consumer == "" {
		s.consumer = defaultConsumerID()
	}
	switch {
	case s.maxLenApprox < 0:
		return s, &bindings.KeyError{Key: "maxLenApprox", Msg: "must be 0 (no trimming) or more"}
	case s.ttl < 0:
		return s, &bindings.KeyError{Key: "ttlInSeconds", Msg: "must be 0 (no expiry) or more"}
	// Unlike Dapr's, 0 cannot disable redelivery: entries of a consumer that
	// died would stay pending forever, which at-least-once does not allow.
	// Input keys have their defaults only when an input opens; an output
	// checks the ones that are set.
	case md.Has("processingTimeout") && s.processingTimeout < time.Millisecond:
		return s, &bindings.KeyError{Key: "processingTimeout", Msg: "must be at least 1ms"}
	case md.Has("redeliverInterval") && s.redeliverInterval < time.Millisecond:
		return s, &bindings.KeyError{Key: "redeliverInterval", Msg: "must be at least 1ms"}
	}
	return s, nil
}

// connect builds the client and checks that the server answers. While
// the client is open, go-redis's own log lines go to cfg's logger.
func connect(ctx context.Context, cfg bindings.Config, opts *goredis.UniversalOptions) (goredis.UniversalClient, error) {
	rdb := &loggedClient{UniversalClient: goredis.NewUniversalClient(opts), remove: liblog.GoRedis.Add(cfg)}
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect to redis at %s: %w", strings.Join(opts.Addrs, ","), err)
	}
	return rdb, nil
}

// loggedClient stops routing go-redis's log to its binding once closed.
type loggedClient struct {
	goredis.UniversalClient
	remove func()
}

func (c *loggedClient) Close() error {
	err := c.UniversalClient.Close()
	c.remove()
	return err
}

func clientOptions(md bindings.Metadata) (*goredis.UniversalOptions, error) {
	addrs, err := addresses(md.String("redisHost"), md.String("redisPort"))
	if err != nil {
		return nil, err
	}
	o := &goredis.UniversalOptions{
		Addrs:            addrs,
		Username:         md.String("redisUsername"),
		Password:         md.String("redisPassword"),
		DB:               md.Int("redisDB"),
		MaxRetries:       md.Int("redisMaxRetries"),
		MinRetryBackoff:  disabledIfNegative(md.Duration("redisMinRetryInterval")),
		MaxRetryBackoff:  disabledIfNegative(md.Duration("redisMaxRetryInterval")),
		DialTimeout:      md.Duration("dialTimeout"),
		ReadTimeout:      disabledIfNegative(md.Duration("readTimeout")),
		WriteTimeout:     disabledIfNegative(md.Duration("writeTimeout")),
		PoolSize:         md.Int("poolSize"),
		PoolTimeout:      md.Duration("poolTimeout"),
		MinIdleConns:     md.Int("minIdleConns"),
		ConnMaxLifetime:  md.Duration("maxConnAge"),
		ConnMaxIdleTime:  disabledIfNegative(md.Duration("idleTimeout")),
		IsClusterMode:    strings.EqualFold(md.String("redisType"), "cluster"),
		SentinelUsername: md.String("sentinelUsername"),
		SentinelPassword: md.String("sentinelPassword"),
		// Tether reports what the server has; go-redis's CLIENT SETINFO
		// fails harmlessly on servers before 7.2 but shows up in their logs.
		DisableIdentity: true,
	}
	if md.Int("redisMaxRetries") < -1 {
		return nil, &bindings.KeyError{Key: "redisMaxRetries", Msg: "must be -1 (no retries) or more"}
	}
	if md.Int("redisDB") < 0 {
		return nil, &bindings.KeyError{Key: "redisDB", Msg: "must not be negative"}
	}
	if md.Bool("failover") {
		o.MasterName = md.String("sentinelMasterName")
		if o.MasterName == "" {
			return nil, &bindings.KeyError{Key: "sentinelMasterName", Msg: "is required with failover"}
		}
	}
	if md.Bool("enableTLS") {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		cert, key := md.String("clientCert"), md.String("clientKey")
		if (cert == "") != (key == "") {
			return nil, &bindings.KeyError{Key: "clientCert", Msg: "clientCert and clientKey go together"}
		}
		if cert != "" {
			pair, err := tls.X509KeyPair([]byte(cert), []byte(key))
			if err != nil {
				return nil, &bindings.KeyError{Key: "clientCert", Msg: fmt.Sprintf("not a usable certificate and key: %v", err)}
			}
			o.TLSConfig.Certificates = []tls.Certificate{pair}
		}
	} else if md.String("clientCert") != "" {
		return nil, &bindings.KeyError{Key: "clientCert", Msg: "needs enableTLS true"}
	}
	return o, nil
}

// addresses splits redisHost and gives a port to every address without one.
func addresses(hosts, port string) ([]string, error) {
	if port == "" {
		port = "6379"
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if host, p, err := net.SplitHostPort(h); err == nil {
			if host == "" || p == "" {
				return nil, &bindings.KeyError{Key: "redisHost", Msg: fmt.Sprintf("%q: want host:port", h)}
			}
			addrs = append(addrs, h)
			continue
		}
		addrs = append(addrs, net.JoinHostPort(h, port))
	}
	if len(addrs) == 0 {
		return nil, &bindings.KeyError{Key: "redisHost", Msg: "no address"}
	}
	return addrs, nil
}

// disabledIfNegative maps Dapr's "-1" (read as -1s) to go-redis's -1.
func disabledIfNegative(d time.Duration) time.Duration {
	if d < 0 {
		return -1
	}
	return d
}

// defaultConsumerID names a consumer after its host and makes it unique per
// start, so that two processes on one host never share pending entries.
func defaultConsumerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tether"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
