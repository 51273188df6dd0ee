package sqs

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tetherfn/tether/bindings"
)

// outgoing is one message to send, from a create request or a Client call.
type outgoing struct {
	body        []byte
	contentType string
	attributes  map[string]string
	delay       time.Duration
	group       string
	dedup       string
	trace       string // AWSTraceHeader
}

// fromRequest splits a create request's metadata into the keys that steer
// the send and the message attributes.
func fromRequest(req *bindings.InvokeRequest) (outgoing, error) {
	o := outgoing{body: req.Data, contentType: req.ContentType}
	for k, v := range req.Metadata {
		switch {
		case strings.EqualFold(k, MetaDelaySeconds):
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 || n > maxDelaySeconds {
				return o, fmt.Errorf("metadata %q: want whole seconds from 0 to %d, got %q", k, maxDelaySeconds, v)
			}
			o.delay = time.Duration(n) * time.Second
		case strings.EqualFold(k, MetaMessageGroupID), strings.EqualFold(k, MetaPartitionKey):
			o.group = v
		case strings.EqualFold(k, MetaDeduplicationID):
			o.dedup = v
		case strings.EqualFold(k, MetaContentType):
			if o.contentType == "" {
				o.contentType = v
			}
		case strings.EqualFold(k, "AWSTraceHeader"):
			o.trace = v
		case isSystemAttribute(k):
			// The metadata of a received message, passed on: not attributes
			// of the new one.
		default:
			if o.attributes == nil {
				o.attributes = make(map[string]string, len(req.Metadata))
			}
			o.attributes[k] = v
		}
	}
	return o, nil
}

func isSystemAttribute(name string) bool {
	return slices.ContainsFunc(systemAttributes, func(s string) bool { return strings.EqualFold(s, name) })
}

// entry is an outgoing message in SQS terms, for SendMessage and
// SendMessageBatch alike.
type entry struct {
	body   string
	attrs  map[string]types.MessageAttributeValue
	system map[string]types.MessageSystemAttributeValue
	delay  int32
	group  *string
	dedup  *string
	size   int // bytes SQS counts against its size limits
}

// entry checks o against the queue's rules and builds its SQS form. On a
// FIFO queue a message without a group joins defaultGroup, and one without
// a deduplication id gets a random one (unless the queue deduplicates by
// content), so that identical payloads are never dropped as duplicates by
// accident while a retried send of the same entry still is.
func (q *queue) entry(o outgoing, defaultGroup string) (entry, error) {
	if len(o.body) == 0 {
		return entry{}, fmt.Errorf("SQS cannot send an empty message body")
	}
	e := entry{}
	body, encoded := encodeBody(o.body)
	e.body = body
	e.size = len(body)
	n := len(o.attributes)
	if o.contentType != "" {
		n++
	}
	if encoded {
		n++
	}
	if n > maxAttributes {
		return entry{}, fmt.Errorf("%d message attributes (metadata, content type and encoding), SQS allows at most %d", n, maxAttributes)
	}
	if n > 0 {
		e.attrs = make(map[string]types.MessageAttributeValue, n)
	}
	for k, v := range o.attributes {
		if v == "" {
			return entry{}, fmt.Errorf("metadata %q is empty; SQS message attributes must have a value", k)
		}
		if strings.EqualFold(k, attrTransferEncoding) {
			return entry{}, fmt.Errorf("metadata %q is reserved: it marks base64 bodies", k)
		}
		e.attrs[k] = stringAttribute(v)
		e.size += len(k) + len("String") + len(v)
	}
	if o.contentType != "" {
		e.attrs[attrContentType] = stringAttribute(o.contentType)
		e.size += len(attrContentType) + len("String") + len(o.contentType)
	}
	if encoded {
		e.attrs[attrTransferEncoding] = stringAttribute(encodingBase64)
		e.size += len(attrTransferEncoding) + len("String") + len(encodingBase64)
	}
	if o.trace != "" {
		e.system = map[string]types.MessageSystemAttributeValue{
			string(types.MessageSystemAttributeNameForSendsAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(o.trace)},
		}
	}
	if q.fifo {
		if o.delay > 0 {
			return entry{}, fmt.Errorf("FIFO queue %s: SQS does not delay single messages on FIFO queues (%s asked)", q.name, MetaDelaySeconds)
		}
		group := o.group
		if group == "" {
			group = defaultGroup
		}
		e.group = aws.String(group)
		switch {
		case o.dedup != "":
			e.dedup = aws.String(o.dedup)
		case !q.contentDup:
			e.dedup = aws.String(randomID())
		}
		return e, nil
	}
	e.delay = seconds(o.delay, maxDelaySeconds)
	if o.group != "" {
		// On a standard queue the group is a fair-queue tenant; SQS keeps
		// no order for it.
		e.group = aws.String(o.group)
	}
	return e, nil
}

func stringAttribute(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encodeBody returns the body SQS is sent for data: data itself when it is
// text SQS accepts, otherwise its base64 encoding (encoded true).
func encodeBody(data []byte) (body string, encoded bool) {
	if isSQSText(data) {
		return string(data), false
	}
	return base64.StdEncoding.EncodeToString(data), true
}

// isSQSText reports whether data is UTF-8 made only of the characters SQS
// allows in a body: #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
// #x10000 to #x10FFFF.
func isSQSText(data []byte) bool {
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if (r >= 0xD800 && r < 0xE000) || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// message turns a received SQS message into a bindings.Message.
func message(sm types.Message, handle *delivery) *bindings.Message {
	m := &bindings.Message{
		ID:            aws.ToString(sm.MessageId),
		DeliveryCount: 1,
		Handle:        handle,
		Metadata:      make(map[string]string, len(sm.MessageAttributes)+len(sm.Attributes)),
	}
	body := aws.ToString(sm.Body)
	m.Data = []byte(body)
	for k, v := range sm.MessageAttributes {
		switch {
		case k == attrContentType && v.StringValue != nil:
			m.ContentType = *v.StringValue
		case k == attrTransferEncoding && strings.EqualFold(aws.ToString(v.StringValue), encodingBase64):
			data, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				// Not ours after all: deliver the body as it is, and the
				// attribute, rather than guess.
				m.Metadata[k] = aws.ToString(v.StringValue)
				continue
			}
			m.Data = data
		case v.StringValue != nil:
			m.Metadata[k] = *v.StringValue
		case v.BinaryValue != nil:
			m.Metadata[k] = base64.StdEncoding.EncodeToString(v.BinaryValue)
		}
	}
	for k, v := range sm.Attributes {
		m.Metadata[k] = v
	}
	if n, err := strconv.Atoi(sm.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil && n > 0 {
		m.DeliveryCount = n
	}
	if ms, err := strconv.ParseInt(sm.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		m.Time = time.UnixMilli(ms)
	}
	m.Key = sm.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
	return m
}
