package sqsemu

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// queue is one queue; Server.mu guards it.
type queue struct {
	name     string
	arn      string
	fifo     bool
	attrs    map[string]string // the settable attributes, defaults included
	tags     map[string]string
	created  time.Time
	modified time.Time

	msgs    []*message          // in send order; deleted ones until compacted
	byID    map[string]*message // the live messages
	deleted int                 // deleted messages still in msgs

	dedup    map[string]sent    // FIFO: deduplication id → what it sent, for 5 minutes
	attempts map[string]attempt // FIFO: ReceiveRequestAttemptId → what it received, for 5 minutes
	expired  time.Time          // when expire last ran
}

type sent struct {
	id, seq string
	at      time.Time
}

type attempt struct {
	msgs     []*message
	receipts []string
	at       time.Time
}

// dedupWindow is how long SQS remembers FIFO deduplication and receive
// attempt ids.
const dedupWindow = 5 * time.Minute

// settable lists the attributes CreateQueue and SetQueueAttributes take,
// with their defaults ("" has none) and a check of the value.
var settable = map[string]struct {
	def   string
	check func(string) error
}{
	"DelaySeconds":                  {"0", intRange(0, 900)},
	"MaximumMessageSize":            {"1048576", intRange(1024, 1048576)},
	"MessageRetentionPeriod":        {"345600", intRange(60, 1209600)},
	"ReceiveMessageWaitTimeSeconds": {"0", intRange(0, 20)},
	"VisibilityTimeout":             {"30", intRange(0, 43200)},
	"Policy":                        {"", nil},
	"RedrivePolicy":                 {"", nil}, // checked against the queues
	"RedriveAllowPolicy":            {"", nil},
	"KmsMasterKeyId":                {"", nil},
	"KmsDataKeyReusePeriodSeconds":  {"", intRange(60, 86400)},
	"SqsManagedSseEnabled":          {"", boolean},
	"FifoQueue":                     {"", boolean},
	"ContentBasedDeduplication":     {"", boolean},
	"DeduplicationScope":            {"", oneOf("messageGroup", "queue")},
	"FifoThroughputLimit":           {"", oneOf("perQueue", "perMessageGroupId")},
}

func intRange(lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		return nil
	}
}

func boolean(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("must be true or false")
	}
	return nil
}

func oneOf(vs ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(vs, v) {
			return fmt.Errorf("must be one of %s", strings.Join(vs, ", "))
		}
		return nil
	}
}

func (q *queue) intAttr(name string) int {
	n, _ := strconv.Atoi(q.attrs[name])
	return n
}

// redrive is a queue's parsed RedrivePolicy.
type redrive struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     any    `json:"maxReceiveCount"` // a number or a string, as SQS takes both
}

func (q *queue) redrivePolicy() (dlqName string, maxReceives int, ok bool) {
	p := q.attrs["RedrivePolicy"]
	if p == "" {
		return "", 0, false
	}
	var r redrive
	if json.Unmarshal([]byte(p), &r) != nil {
		return "", 0, false
	}
	n, err := strconv.Atoi(fmt.Sprint(r.MaxReceiveCount))
	if err != nil {
		return "", 0, false
	}
	i := strings.LastIndexByte(r.DeadLetterTargetArn, ':')
	return r.DeadLetterTargetArn[i+1:], n, true
}

var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func (s *Server) arn(name string) string {
	return "arn:aws:sqs:" + s.region + ":" + AccountID + ":" + name
}

func queueURL(host, name string) string {
	if host == "" {
		host = "localhost"
	}
	return "http://" + host + "/" + AccountID + "/" + name
}

// lookup finds the queue a QueueUrl names (by its last path segment, so
// that any host works); s.mu is held.
func (s *Server) lookup(rawURL string) (*queue, error) {
	if rawURL == "" {
		return nil, missingParameter("QueueUrl")
	}
	name := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		name = u.Path
	}
	name = name[strings.LastIndexByte(name, '/')+1:]
	q, ok := s.queues[name]
	if !ok {
		return nil, noQueue()
	}
	return q, nil
}

// checkAttributes validates attributes given to CreateQueue (create) or
// SetQueueAttributes for a queue that is FIFO or not; s.mu is held.
func (s *Server) checkAttributes(attrs map[string]string, fifo, create bool) error {
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		v := attrs[k]
		a, ok := settable[k]
		if !ok {
			return invalidAttributeName(k)
		}
		switch k {
		case "FifoQueue":
			if !create {
				return invalidAttributeName(k)
			}
		case "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit":
			if !fifo {
				return invalidAttributeName(k)
			}
		case "RedrivePolicy":
			if err := s.checkRedrive(v, fifo); err != nil {
				return err
			}
			continue
		}
		if a.check != nil {
			if err := a.check(v); err != nil {
				return invalidAttributeValue("Invalid value for the parameter %s: %v.", k, err)
			}
		}
	}
	return nil
}

func (s *Server) checkRedrive(v string, fifo bool) error {
	if v == "" {
		return nil
	}
	var r redrive
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return invalidAttributeValue("Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.")
	}
	n, err := strconv.Atoi(fmt.Sprint(r.MaxReceiveCount))
	if err != nil || n < 1 || n > 1000 {
		return invalidAttributeValue("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %v, valid values are from 1 to 1000 both inclusive.", v, r.MaxReceiveCount)
	}
	i := strings.LastIndexByte(r.DeadLetterTargetArn, ':')
	dlq, ok := s.queues[r.DeadLetterTargetArn[i+1:]]
	if r.DeadLetterTargetArn == "" || !ok || dlq.arn != r.DeadLetterTargetArn {
		return invalidAttributeValue("Value %s for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.", v)
	}
	if dlq.fifo != fifo {
		return invalidAttributeValue("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter queue must be same type of queue as the source.", v)
	}
	return nil
}

type createQueueIn struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string
}

type queueURLOut struct {
	QueueUrl string
}

func (s *Server) createQueue(_ context.Context, host string, in *createQueueIn) (any, error) {
	if in.QueueName == "" {
		return nil, missingParameter("QueueName")
	}
	base, fifoName := strings.CutSuffix(in.QueueName, ".fifo")
	if !queueName.MatchString(base) || len(in.QueueName) > 80 {
		return nil, invalidParameter("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	fifo := in.Attributes["FifoQueue"] == "true"
	if fifo != fifoName {
		return nil, invalidParameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkAttributes(in.Attributes, fifo, true); err != nil {
		return nil, err
	}
	if q, ok := s.queues[in.QueueName]; ok {
		for k, v := range in.Attributes {
			if q.attrs[k] != v {
				return nil, clientError("QueueNameExists", "QueueAlreadyExists",
					"A queue already exists with the same name and a different value for attribute %s", k)
			}
		}
		return queueURLOut{queueURL(host, q.name)}, nil
	}
	now := time.Now()
	q := &queue{name: in.QueueName, arn: s.arn(in.QueueName), fifo: fifo, attrs: map[string]string{},
		tags: maps.Clone(in.Tags), created: now, modified: now, byID: map[string]*message{},
		dedup: map[string]sent{}, attempts: map[string]attempt{}}
	for k, a := range settable {
		if a.def != "" {
			q.attrs[k] = a.def
		}
	}
	q.attrs["SqsManagedSseEnabled"] = "true"
	if fifo {
		q.attrs["FifoQueue"] = "true"
		q.attrs["ContentBasedDeduplication"] = "false"
		q.attrs["DeduplicationScope"] = "queue"
		q.attrs["FifoThroughputLimit"] = "perQueue"
	}
	maps.Copy(q.attrs, in.Attributes)
	if q.tags == nil {
		q.tags = map[string]string{}
	}
	s.queues[q.name] = q
	return queueURLOut{queueURL(host, q.name)}, nil
}

type getQueueURLIn struct {
	QueueName              string
	QueueOwnerAWSAccountId string
}

func (s *Server) getQueueURL(_ context.Context, host string, in *getQueueURLIn) (any, error) {
	if in.QueueName == "" {
		return nil, missingParameter("QueueName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queues[in.QueueName]; !ok {
		return nil, noQueue()
	}
	return queueURLOut{queueURL(host, in.QueueName)}, nil
}

type queueIn struct {
	QueueUrl string
}

func (s *Server) deleteQueue(_ context.Context, _ string, in *queueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	delete(s.queues, q.name)
	s.notify()
	return nil, nil
}

func (s *Server) purgeQueue(_ context.Context, _ string, in *queueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	q.msgs, q.byID, q.deleted = nil, map[string]*message{}, 0
	s.notify()
	return nil, nil
}

type getQueueAttributesIn struct {
	QueueUrl       string
	AttributeNames []string
}

type attributesOut struct {
	Attributes map[string]string `json:",omitempty"`
}

// computed lists the read-only attributes GetQueueAttributes adds.
var computed = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}

func (s *Server) getQueueAttributes(_ context.Context, _ string, in *getQueueAttributesIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	q.expire(now)
	var visible, inFlight, delayed int
	for _, m := range q.msgs {
		switch {
		case m.deleted:
		case m.visible(now):
			visible++
		case m.receipt != "":
			inFlight++
		default:
			delayed++
		}
	}
	all := maps.Clone(q.attrs)
	all["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
	all["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inFlight)
	all["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	all["CreatedTimestamp"] = strconv.FormatInt(q.created.Unix(), 10)
	all["LastModifiedTimestamp"] = strconv.FormatInt(q.modified.Unix(), 10)
	all["QueueArn"] = q.arn
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			maps.Copy(out, all)
			continue
		}
		if _, ok := settable[name]; !ok && !slices.Contains(computed, name) {
			return nil, invalidAttributeName(name)
		}
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	return attributesOut{out}, nil
}

type setQueueAttributesIn struct {
	QueueUrl   string
	Attributes map[string]string
}

func (s *Server) setQueueAttributes(_ context.Context, _ string, in *setQueueAttributesIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := s.checkAttributes(in.Attributes, q.fifo, false); err != nil {
		return nil, err
	}
	for k, v := range in.Attributes {
		if v == "" && settable[k].def == "" {
			delete(q.attrs, k)
		} else {
			q.attrs[k] = v
		}
	}
	q.modified = time.Now()
	s.notify() // a shorter delay may make messages receivable
	return nil, nil
}

type listQueuesIn struct {
	QueueNamePrefix string
	MaxResults      int
	NextToken       string
}

type listQueuesOut struct {
	QueueUrls []string `json:",omitempty"`
	NextToken string   `json:",omitempty"`
}

func (s *Server) listQueues(_ context.Context, host string, in *listQueuesIn) (any, error) {
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, invalidParameter("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", in.MaxResults)
	}
	s.mu.Lock()
	names := slices.Sorted(maps.Keys(s.queues))
	s.mu.Unlock()
	var out listQueuesOut
	for _, n := range names {
		if strings.HasPrefix(n, in.QueueNamePrefix) && n > in.NextToken {
			if in.MaxResults > 0 && len(out.QueueUrls) == in.MaxResults {
				out.NextToken = names[slices.Index(names, n)-1]
				break
			}
			out.QueueUrls = append(out.QueueUrls, queueURL(host, n))
		}
	}
	if len(out.QueueUrls) > 1000 {
		out.QueueUrls = out.QueueUrls[:1000]
	}
	return out, nil
}

func (s *Server) listDeadLetterSourceQueues(_ context.Context, host string, in *queueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dlq, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	var out struct {
		QueueUrls []string `json:"queueUrls"` // lower case in this one answer of the API
	}
	out.QueueUrls = []string{}
	for _, n := range slices.Sorted(maps.Keys(s.queues)) {
		if target, _, ok := s.queues[n].redrivePolicy(); ok && target == dlq.name {
			out.QueueUrls = append(out.QueueUrls, queueURL(host, n))
		}
	}
	return out, nil
}

type tagQueueIn struct {
	QueueUrl string
	Tags     map[string]string
	TagKeys  []string
}

func (s *Server) tagQueue(_ context.Context, _ string, in *tagQueueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	maps.Copy(q.tags, in.Tags)
	return nil, nil
}

func (s *Server) untagQueue(_ context.Context, _ string, in *tagQueueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TagKeys {
		delete(q.tags, k)
	}
	return nil, nil
}

func (s *Server) listQueueTags(_ context.Context, _ string, in *queueIn) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, err := s.lookup(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags map[string]string `json:",omitempty"`
	}{maps.Clone(q.tags)}, nil
}
