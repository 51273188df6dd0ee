package kafka

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
)

// output produces each create as one record and waits for the brokers'
// acknowledgement.
type output struct {
	cl    *kgo.Client
	topic string
}

func openOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if s.publishTopic == "" {
		return nil, &bindings.KeyError{Key: "publishTopic", Msg: "is empty: the output needs a topic to write to"}
	}
	opts := append(clientOptions(s, cfg.Logger),
		kgo.DefaultProduceTopic(s.publishTopic),
		kgo.RecordPartitioner(partitioner{kgo.StickyKeyPartitioner(nil)}),
		// Each create waits for its record: lingering would only add
		// latency; concurrent creates still share produce requests.
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(int32(min(s.maxBytes, 1<<30))),
		kgo.ProducerBatchCompression(compression(s.compression)),
		// As Dapr's producer: the broker may create the topic if it is
		// configured to.
		kgo.AllowAutoTopicCreation(),
	)
	switch s.acks {
	case "leader":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "none":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if err := ping(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return &output{cl: cl, topic: s.publishTopic}, nil
}

func compression(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// Invoke implements bindings.Output.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("kafka: %w %q (supported: create)", bindings.ErrUnsupportedOperation, req.Operation)
	}
	r, err := o.record(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := o.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return nil, fmt.Errorf("produce to %s: %w", r.Topic, err)
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{
		MetaTopic:     r.Topic,
		MetaPartition: itoa32(r.Partition),
		MetaOffset:    strconv.FormatInt(r.Offset, 10),
	}}, nil
}

// Metadata keys that steer the record rather than become headers. The
// input's own keys are left out too: relaying a message's metadata (a dead
// letter's, say) must not forge them on the next reader.
var reservedMeta = []string{MetaKey, MetaPartitionKey, MetaPartition, InKey, InTopic, InPartition, InOffset, InTimestamp, contentTypeHeader}

func (o *output) record(ctx context.Context, req *bindings.InvokeRequest) (*kgo.Record, error) {
	r := &kgo.Record{Topic: o.topic, Value: req.Data, Context: ctx}
	md := req.Metadata
	for _, k := range []string{MetaKey, MetaPartitionKey, InKey} {
		if v, ok := md[k]; ok {
			r.Key = []byte(v)
			break
		}
	}
	if v, ok := md[MetaPartition]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("metadata %q: %q is not a partition number", MetaPartition, v)
		}
		r.Partition = int32(n)
		r.Context = context.WithValue(ctx, explicitPartition{}, true)
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		if !slices.Contains(reservedMeta, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // headers in a stable order
	r.Headers = make([]kgo.RecordHeader, 0, len(keys)+1)
	if req.ContentType != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: contentTypeHeader, Value: []byte(req.ContentType)})
	}
	for _, k := range keys {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(md[k])})
	}
	return r, nil
}

// Close implements bindings.Output.
func (o *output) Close() error {
	o.cl.Close()
	return nil
}

// explicitPartition marks, in a record's Context, a record whose Partition
// was chosen by the caller.
type explicitPartition struct{}

// partitioner writes records with an explicit partition there, and the rest
// as Kafka's default partitioner does (murmur2 of the key, so other Kafka
// clients agree; sticky batches for records without a key).
type partitioner struct{ kgo.Partitioner }

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return topicPartitioner{p.Partitioner.ForTopic(topic)}
}

type topicPartitioner struct{ kgo.TopicPartitioner }

func explicit(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartition{}) != nil
}

func (t topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return explicit(r) || t.TopicPartitioner.RequiresConsistency(r)
}

func (t topicPartitioner) Partition(r *kgo.Record, n int) int {
	if explicit(r) {
		// Out of range fails the record, with kgo's error.
		return int(r.Partition)
	}
	return t.TopicPartitioner.Partition(r, n)
}

func (t topicPartitioner) OnNewBatch() {
	if nb, ok := t.TopicPartitioner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
