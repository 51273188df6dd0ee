package sqsemu

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// message is one message of a queue; Server.mu guards it.
type message struct {
	id, body     string
	attrs        map[string]attrValue
	traceHeader  string // the AWSTraceHeader system attribute
	group, dedup string // FIFO (group also on fair standard queues)
	seq          string // FIFO sequence number
	sent         time.Time
	visibleAt    time.Time // delayed or in flight until then
	receipt      string    // the latest receipt handle; "" before the first receive
	receives     int
	firstReceive time.Time
	dlqSource    string // the ARN of the queue it was moved from, in a dead-letter queue
	deleted      bool
}

func (m *message) visible(now time.Time) bool { return !m.deleted && !now.Before(m.visibleAt) }

func (m *message) inFlight(now time.Time) bool {
	return !m.deleted && m.receipt != "" && now.Before(m.visibleAt)
}

// attrValue is a message attribute as the JSON protocol carries it: binary
// values are base64 in JSON, which []byte is.
type attrValue struct {
	DataType    string
	StringValue *string `json:",omitempty"`
	BinaryValue []byte  `json:",omitempty"`
}

// expire drops the messages older than the retention period, forgets
// deduplication and attempt ids older than their window, and compacts msgs
// when half of it is deleted, at most once a second; s.mu is held.
func (q *queue) expire(now time.Time) {
	if now.Sub(q.expired) < time.Second {
		return
	}
	q.expired = now
	keep := time.Duration(q.intAttr("MessageRetentionPeriod")) * time.Second
	for _, m := range q.msgs {
		if !m.deleted && now.Sub(m.sent) > keep {
			q.remove(m)
		}
	}
	if q.deleted > 64 && q.deleted > len(q.msgs)/2 {
		q.msgs = slices.DeleteFunc(q.msgs, func(m *message) bool { return m.deleted })
		q.deleted = 0
	}
	for id, d := range q.dedup {
		if now.Sub(d.at) > dedupWindow {
			delete(q.dedup, id)
		}
	}
	for id, a := range q.attempts {
		if now.Sub(a.at) > dedupWindow {
			delete(q.attempts, id)
		}
	}
}

func (q *queue) remove(m *message) {
	if !m.deleted {
		m.deleted = true
		delete(q.byID, m.id)
		q.deleted++
	}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is SQS's digest of message attributes: each, by name, as
// length-prefixed name, type, a transport byte and the length-prefixed
// value.
func attributesMD5(attrs map[string]attrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	var b []byte
	field := func(v []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		a := attrs[name]
		field([]byte(name))
		field([]byte(a.DataType))
		if a.BinaryValue != nil || strings.HasPrefix(a.DataType, "Binary") {
			b = append(b, 2)
			field(a.BinaryValue)
		} else {
			b = append(b, 1)
			field([]byte(deref(a.StringValue)))
		}
	}
	return md5Hex(b)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var attributeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)

// checkBody rejects characters SQS does not take: only #x9, #xA, #xD and
// #x20 to #x10FFFF but surrogates and #xFFFE, #xFFFF.
func checkBody(body string) error {
	if body == "" {
		return missingParameter("MessageBody")
	}
	for i, r := range body {
		ok := r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
		if !ok || (r == utf8.RuneError && !strings.HasPrefix(body[i:], "\uFFFD")) {
			return clientError("InvalidMessageContents", "InvalidMessageContents",
				"Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
		}
	}
	return nil
}

func checkAttributes(attrs map[string]attrValue) (size int, err error) {
	if len(attrs) > 10 {
		return 0, invalidParameter("Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	for name, a := range attrs {
		lower := strings.ToLower(name)
		if !attributeName.MatchString(name) || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") ||
			strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return 0, invalidParameter("Message attribute name '%s' is invalid.", name)
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		switch base {
		case "String", "Number":
			if a.StringValue == nil {
				return 0, invalidParameter("Message attribute '%s' must contain a non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			if base == "Number" {
				if _, err := strconv.ParseFloat(*a.StringValue, 64); err != nil {
					return 0, invalidParameter("Could not cast message attribute '%s' value to number.", name)
				}
			}
			size += len(*a.StringValue)
		case "Binary":
			if a.BinaryValue == nil {
				return 0, invalidParameter("Message attribute '%s' must contain a non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			size += len(a.BinaryValue)
		default:
			return 0, invalidParameter("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
		}
		size += len(name) + len(a.DataType)
	}
	return size, nil
}

type sendFields struct {
	MessageBody             string
	DelaySeconds            *int
	MessageAttributes       map[string]attrValue
	MessageSystemAttributes map[string]attrValue
	MessageDeduplicationId  string
	MessageGroupId          string
}

type sendIn struct {
	QueueUrl string
	sendFields
}

type sendOut struct {
	MessageId                    string
	MD5OfMessageBody             string
	MD5OfMessageAttributes       string `json:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty"`
	SequenceNumber               string `json:",omitempty"`
}

// send adds a message to q; s.mu is held.
func (s *Server) send(q *queue, in *sendFields, now time.Time) (*sendOut, error) {
	if err := checkBody(in.MessageBody); err != nil {
		return nil, err
	}
	size, err := checkAttributes(in.MessageAttributes)
	if err != nil {
		return nil, err
	}
	if limit := q.intAttr("MaximumMessageSize"); len(in.MessageBody)+size > limit {
		return nil, invalidParameter("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", limit)
	}
	trace := ""
	for name, a := range in.MessageSystemAttributes {
		if name != "AWSTraceHeader" || a.DataType != "String" || a.StringValue == nil {
			return nil, invalidParameter("Message system attribute name '%s' is invalid.", name)
		}
		trace = *a.StringValue
	}
	delay := q.intAttr("DelaySeconds")
	if in.DelaySeconds != nil {
		if *in.DelaySeconds < 0 || *in.DelaySeconds > 900 {
			return nil, invalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900.", *in.DelaySeconds)
		}
		if q.fifo && *in.DelaySeconds != 0 {
			return nil, invalidParameter("Value %d for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.", *in.DelaySeconds)
		}
		delay = *in.DelaySeconds
	}
	m := &message{id: newID(), body: in.MessageBody, attrs: in.MessageAttributes, traceHeader: trace,
		group: in.MessageGroupId, sent: now, visibleAt: now.Add(time.Duration(delay) * time.Second)}
	out := &sendOut{MessageId: m.id, MD5OfMessageBody: md5Hex([]byte(m.body)), MD5OfMessageAttributes: attributesMD5(m.attrs)}
	if trace != "" {
		out.MD5OfMessageSystemAttributes = attributesMD5(in.MessageSystemAttributes)
	}
	if q.fifo {
		if in.MessageGroupId == "" {
			return nil, missingParameter("MessageGroupId")
		}
		m.dedup = in.MessageDeduplicationId
		if m.dedup == "" {
			if q.attrs["ContentBasedDeduplication"] != "true" {
				return nil, invalidParameter("The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
			}
			sum := sha256.Sum256([]byte(m.body))
			m.dedup = hex.EncodeToString(sum[:])
		}
		key := m.dedup
		if q.attrs["DeduplicationScope"] == "messageGroup" {
			key = m.group + "\x00" + key
		}
		if d, ok := q.dedup[key]; ok && now.Sub(d.at) <= dedupWindow {
			out.MessageId, out.SequenceNumber = d.id, d.seq
			return out, nil // accepted, not enqueued again
		}
		s.seq++
		m.seq = fmt.Sprintf("%020d", s.seq)
		q.dedup[key] = sent{id: m.id, seq: m.seq, at: now}
		out.SequenceNumber = m.seq
	} else if in.MessageDeduplicationId != "" {
		return nil, invalidParameter("The request include parameter MessageDeduplicationId that is not valid for this queue type")
	}
	q.msgs = append(q.msgs, m)
	q.byID[m.id] = m
	s.notify()
	return out, nil
}

func (s *Server) sendMessage(_ context.Context, _ string, in *sendIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return s.send(q, &in.sendFields, time.Now())
}

// maxMessageSize is the largest MaximumMessageSize, and the bound of a
// whole batch whatever the queue's.
const maxMessageSize = 1 << 20

var batchID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// checkBatch validates the entry ids of a batch call.
func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return emptyBatch()
	}
	if len(ids) > 10 {
		return tooManyEntries(len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchID.MatchString(id) {
			return invalidBatchEntryID(id)
		}
		if seen[id] {
			return idsNotDistinct(id)
		}
		seen[id] = true
	}
	return nil
}

type batchFailure struct {
	Id          string
	Code        string
	Message     string
	SenderFault bool
}

func failure(id string, err error) batchFailure {
	if ae, ok := err.(*apiError); ok {
		return batchFailure{Id: id, Code: ae.query, Message: ae.msg, SenderFault: true}
	}
	return batchFailure{Id: id, Code: "InternalError", Message: err.Error()}
}

type sendBatchIn struct {
	QueueUrl string
	Entries  []struct {
		Id string
		sendFields
	}
}

type sendBatchOK struct {
	Id string
	sendOut
}

func (s *Server) sendMessageBatch(_ context.Context, _ string, in *sendBatchIn) (any, error) {
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.Id
		total += len(e.MessageBody)
		for n, a := range e.MessageAttributes {
			total += len(n) + len(a.DataType) + len(deref(a.StringValue)) + len(a.BinaryValue)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if total > maxMessageSize {
		return nil, clientError("BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
			"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxMessageSize, total)
	}
	out := struct {
		Successful []sendBatchOK
		Failed     []batchFailure
	}{[]sendBatchOK{}, []batchFailure{}}
	now := time.Now()
	for _, e := range in.Entries {
		r, err := s.send(q, &e.sendFields, now)
		if err != nil {
			out.Failed = append(out.Failed, failure(e.Id, err))
			continue
		}
		out.Successful = append(out.Successful, sendBatchOK{Id: e.Id, sendOut: *r})
	}
	return out, nil
}

type receiveIn struct {
	QueueUrl                    string
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
	MaxNumberOfMessages         *int
	VisibilityTimeout           *int
	WaitTimeSeconds             *int
	ReceiveRequestAttemptId     string
}

type messageOut struct {
	MessageId              string
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string    `json:",omitempty"`
	MD5OfMessageAttributes string               `json:",omitempty"`
	MessageAttributes      map[string]attrValue `json:",omitempty"`
}

type receiveOut struct {
	Messages []messageOut `json:",omitempty"`
}

func (s *Server) receiveMessage(ctx context.Context, _ string, in *receiveIn) (any, error) {
	limit := 1
	if in.MaxNumberOfMessages != nil {
		limit = *in.MaxNumberOfMessages
		if limit < 1 || limit > 10 {
			return nil, invalidParameter("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", limit)
		}
	}
	if in.VisibilityTimeout != nil && (*in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200) {
		return nil, invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *in.VisibilityTimeout)
	}
	if in.WaitTimeSeconds != nil && (*in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20) {
		return nil, invalidParameter("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *in.WaitTimeSeconds)
	}
	s.mu.Lock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	wait := time.Duration(q.intAttr("ReceiveMessageWaitTimeSeconds")) * time.Second
	if in.WaitTimeSeconds != nil {
		wait = time.Duration(*in.WaitTimeSeconds) * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		now := time.Now()
		got := s.take(q, in, limit, now)
		if len(got) > 0 || !now.Before(deadline) {
			s.mu.Unlock()
			return receiveOut{got}, nil
		}
		next := deadline
		for _, m := range q.msgs {
			if !m.deleted && m.visibleAt.After(now) && m.visibleAt.Before(next) {
				next = m.visibleAt
			}
		}
		wake := s.wake
		s.mu.Unlock()
		t := time.NewTimer(next.Sub(now))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
		case <-s.done:
		}
		t.Stop()
		s.mu.Lock()
		select {
		case <-ctx.Done():
			s.mu.Unlock()
			return nil, ctx.Err()
		case <-s.done:
			s.mu.Unlock()
			return receiveOut{}, nil
		default:
		}
		if q, err = s.lookup(in.QueueUrl); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
}

// take receives up to limit messages of q; s.mu is held.
func (s *Server) take(q *queue, in *receiveIn, limit int, now time.Time) []messageOut {
	q.expire(now)
	visibility := time.Duration(q.intAttr("VisibilityTimeout")) * time.Second
	if in.VisibilityTimeout != nil {
		visibility = time.Duration(*in.VisibilityTimeout) * time.Second
	}
	if a, ok := q.attempts[in.ReceiveRequestAttemptId]; ok && in.ReceiveRequestAttemptId != "" {
		// A retried FIFO receive gets the same messages while they are
		// still in flight with the receipts it got.
		same := true
		for i, m := range a.msgs {
			same = same && m.inFlight(now) && m.receipt == a.receipts[i]
		}
		if same {
			out := make([]messageOut, len(a.msgs))
			for i, m := range a.msgs {
				out[i] = s.output(q, m, in)
			}
			return out
		}
	}
	dlqName, maxReceives, redrives := q.redrivePolicy()
	dlq := s.queues[dlqName]
	blocked := map[string]bool{} // FIFO groups with a message in flight or not yet due
	if q.fifo {
		for _, m := range q.msgs {
			if !m.deleted && !m.visible(now) {
				blocked[m.group] = true
			}
		}
	}
	var taken []*message
	for _, m := range q.msgs {
		if len(taken) == limit {
			break
		}
		if !m.visible(now) || (q.fifo && blocked[m.group]) {
			continue
		}
		if redrives && dlq != nil && m.receives >= maxReceives {
			s.moveToDLQ(q, dlq, m, now)
			continue
		}
		m.receives++
		if m.receives == 1 {
			m.firstReceive = now
		}
		m.receipt = newReceipt(q.name, m.id)
		m.visibleAt = now.Add(visibility)
		taken = append(taken, m)
	}
	if q.fifo && in.ReceiveRequestAttemptId != "" && len(taken) > 0 {
		a := attempt{msgs: taken, at: now}
		for _, m := range taken {
			a.receipts = append(a.receipts, m.receipt)
		}
		q.attempts[in.ReceiveRequestAttemptId] = a
	}
	out := make([]messageOut, len(taken))
	for i, m := range taken {
		out[i] = s.output(q, m, in)
	}
	return out
}

// moveToDLQ moves m, received maxReceiveCount times, to the dead-letter
// queue, keeping its id, attributes and receive count; s.mu is held.
func (s *Server) moveToDLQ(q, dlq *queue, m *message, now time.Time) {
	q.remove(m)
	moved := *m
	moved.deleted, moved.receipt, moved.visibleAt, moved.dlqSource = false, "", now, q.arn
	dlq.msgs = append(dlq.msgs, &moved)
	dlq.byID[moved.id] = &moved
	s.notify()
}

// output renders m as ReceiveMessage returns it, with the attributes asked
// for.
func (s *Server) output(q *queue, m *message, in *receiveIn) messageOut {
	out := messageOut{MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: md5Hex([]byte(m.body)), Body: m.body}
	sys := map[string]string{
		"SenderId":                         AccountID,
		"SentTimestamp":                    strconv.FormatInt(m.sent.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.receives),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.firstReceive.UnixMilli(), 10),
	}
	if m.group != "" {
		sys["MessageGroupId"] = m.group
	}
	if q.fifo || m.dedup != "" {
		sys["MessageDeduplicationId"] = m.dedup
		sys["SequenceNumber"] = m.seq
	}
	if m.traceHeader != "" {
		sys["AWSTraceHeader"] = m.traceHeader
	}
	if m.dlqSource != "" {
		sys["DeadLetterQueueSourceArn"] = m.dlqSource
	}
	for _, name := range append(slices.Clone(in.AttributeNames), in.MessageSystemAttributeNames...) {
		if name == "All" {
			out.Attributes = sys
			break
		}
		if v, ok := sys[name]; ok {
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[name] = v
		}
	}
	for _, want := range in.MessageAttributeNames {
		for name, a := range m.attrs {
			prefix, wildcard := strings.CutSuffix(want, ".*")
			if want == "All" || want == ".*" || name == want || (wildcard && strings.HasPrefix(name, prefix+".")) {
				if out.MessageAttributes == nil {
					out.MessageAttributes = map[string]attrValue{}
				}
				out.MessageAttributes[name] = a
			}
		}
	}
	out.MD5OfMessageAttributes = attributesMD5(out.MessageAttributes)
	return out
}

// newReceipt makes a receipt handle that names the queue and the message,
// unique to one receive.
func newReceipt(queue, id string) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	return base64.RawURLEncoding.EncodeToString([]byte(queue + "/" + id + "/" + hex.EncodeToString(nonce[:])))
}

// byReceipt finds the message a receipt handle of q names: nil, nil when
// it was deleted since; s.mu is held.
func (q *queue) byReceipt(handle string) (*message, error) {
	raw, err := base64.RawURLEncoding.DecodeString(handle)
	if handle == "" {
		return nil, missingParameter("ReceiptHandle")
	}
	parts := strings.Split(string(raw), "/")
	if err != nil || len(parts) != 3 || parts[0] != q.name {
		return nil, receiptHandleInvalid(handle)
	}
	return q.byID[parts[1]], nil
}

type deleteIn struct {
	QueueUrl      string
	ReceiptHandle string
}

// delete deletes the message of a receipt handle; s.mu is held. A handle
// older than the message's latest receive deletes nothing, as on SQS.
func (s *Server) delete(q *queue, handle string) error {
	m, err := q.byReceipt(handle)
	if err != nil || m == nil || m.receipt != handle {
		return err
	}
	q.remove(m)
	if q.fifo {
		s.notify() // the group may be free now
	}
	return nil
}

func (s *Server) deleteMessage(_ context.Context, _ string, in *deleteIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.delete(q, in.ReceiptHandle)
}

type deleteBatchIn struct {
	QueueUrl string
	Entries  []struct{ Id, ReceiptHandle string }
}

type batchOut struct {
	Successful []struct{ Id string }
	Failed     []batchFailure
}

func (s *Server) deleteMessageBatch(_ context.Context, _ string, in *deleteBatchIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	out := batchOut{Successful: []struct{ Id string }{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		if err := s.delete(q, e.ReceiptHandle); err != nil {
			out.Failed = append(out.Failed, failure(e.Id, err))
		} else {
			out.Successful = append(out.Successful, struct{ Id string }{e.Id})
		}
	}
	return out, nil
}

type changeVisibilityIn struct {
	QueueUrl          string
	ReceiptHandle     string
	VisibilityTimeout *int
}

// changeVisibility sets the visibility timeout of an in-flight message
// from now; s.mu is held.
func (s *Server) changeVisibility(q *queue, handle string, timeout *int) error {
	if timeout == nil {
		return missingParameter("VisibilityTimeout")
	}
	if *timeout < 0 || *timeout > 43200 {
		return invalidParameter("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.", *timeout)
	}
	m, err := q.byReceipt(handle)
	if err != nil {
		return err
	}
	if m == nil { // deleted
		return receiptHandleInvalid(handle)
	}
	now := time.Now()
	if m.receipt != handle || !m.inFlight(now) {
		return notInflight()
	}
	m.visibleAt = now.Add(time.Duration(*timeout) * time.Second)
	s.notify()
	return nil
}

func (s *Server) changeMessageVisibility(_ context.Context, _ string, in *changeVisibilityIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, s.changeVisibility(q, in.ReceiptHandle, in.VisibilityTimeout)
}

type changeVisibilityBatchIn struct {
	QueueUrl string
	Entries  []struct {
		Id                string
		ReceiptHandle     string
		VisibilityTimeout *int
	}
}

func (s *Server) changeMessageVisibilityBatch(_ context.Context, _ string, in *changeVisibilityBatchIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	out := batchOut{Successful: []struct{ Id string }{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		if err := s.changeVisibility(q, e.ReceiptHandle, e.VisibilityTimeout); err != nil {
			out.Failed = append(out.Failed, failure(e.Id, err))
		} else {
			out.Successful = append(out.Successful, struct{ Id string }{e.Id})
		}
	}
	return out, nil
}
