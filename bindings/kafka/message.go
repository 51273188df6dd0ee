package kafka

import (
	"net/url"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// contentType is the record's content-type header: the last one, as a
// header repeated in the metadata map is.
func contentType(headers []kgo.RecordHeader) string {
	for i := len(headers) - 1; i >= 0; i-- {
		if headers[i].Key == contentTypeHeader {
			return string(headers[i].Value)
		}
	}
	return ""
}

// Metadata implements bindings.LazyMetadata: the record's headers (but the
// content type's), its topic, partition, offset, timestamp and key, built on
// first use. Building the map for every record halved the trigger's
// throughput, and a handler that takes the payload never reads it.
//
// Two goroutines reading it at once may both build it; the first one stored
// is the one every call returns.
func (d *delivery) Metadata() map[string]string {
	if md := d.md.Load(); md != nil {
		return *md
	}
	r, p := d.rec, d.p
	md := make(map[string]string, len(r.Headers)+5)
	for _, h := range r.Headers {
		if h.Key != contentTypeHeader {
			md[h.Key] = escapeHeader(h.Value, d.escape)
		}
	}
	md[InTopic] = r.Topic
	md[InPartition] = p.partStr
	md[InOffset] = strconv.FormatInt(r.Offset, 10)
	md[InTimestamp] = strconv.FormatInt(r.Timestamp.UnixMilli(), 10)
	if r.Key != nil {
		md[InKey] = escapeHeader(r.Key, d.escape)
	}
	if d.md.CompareAndSwap(nil, &md) {
		return md
	}
	return *d.md.Load()
}

func escapeHeader(b []byte, escape bool) string {
	if escape {
		return url.QueryEscape(string(b))
	}
	return string(b)
}
