// Package sqs is Tether's Amazon SQS binding, type "bindings.aws.sqs", with
// Dapr's metadata keys.
//
// The input long-polls the queue for batches of up to ten messages, deletes
// handled messages in batches (DeleteMessageBatch), extends the visibility
// timeout of messages whose handler is still running (the runtime asks, as
// bindings.LeaseExtender), and gives a failed message back by setting its
// visibility timeout to the retry delay. FIFO queues keep the order of each
// message group; the group is the message's ordering key. The output sends
// one message per create, with metadata as message attributes; a function
// that sends many at once takes a [*Client] and calls SendBatch.
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.aws.sqs
//	  version: v1
//	  metadata:
//	  - name: queueName
//	    value: orders
//	  - name: region
//	    value: eu-west-1
//
// Payloads are bytes: a payload that is not text SQS accepts travels base64
// encoded, marked by the message attribute contentTransferEncoding, and
// arrives decoded. See docs/bindings/aws.sqs.md.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files.
const TypeName = "bindings.aws.sqs"

// Metadata keys of a create request that steer the send instead of becoming
// message attributes. They are matched without regard to case, so the
// metadata of a message received from SQS (MessageGroupId...) can be passed
// on as it is.
const (
	// MetaDelaySeconds delays the message's first delivery (0 to 900
	// seconds; standard queues only).
	MetaDelaySeconds = "delaySeconds"
	// MetaMessageGroupID is the FIFO message group, also the message's
	// ordering key on the input side. MetaPartitionKey is a synonym.
	MetaMessageGroupID = "messageGroupId"
	MetaPartitionKey   = "partitionKey"
	// MetaDeduplicationID is the FIFO deduplication id; ignored by standard
	// queues.
	MetaDeduplicationID = "messageDeduplicationId"
	// MetaContentType is the payload's content type when the request has
	// none of its own.
	MetaContentType = "contentType"
	// MetaMessageID is the response metadata with the id SQS gave the
	// message; MetaSequenceNumber its FIFO sequence number.
	MetaMessageID      = "messageId"
	MetaSequenceNumber = "sequenceNumber"
)

// Message attributes Tether sets besides the caller's.
const (
	// attrContentType carries the payload's content type (the name Spring
	// Cloud AWS uses, so that such producers and consumers interoperate).
	attrContentType = "contentType"
	// attrTransferEncoding marks a body that is the base64 encoding of the
	// payload, for payloads SQS does not accept as text.
	attrTransferEncoding = "contentTransferEncoding"
	encodingBase64       = "base64"
)

// Limits of the SQS API.
const (
	maxBatch         = 10        // messages per receive, delete, send and visibility batch
	maxAttributes    = 10        // message attributes per message
	maxVisibility    = 12 * 3600 // seconds, for visibility timeouts
	maxDelaySeconds  = 900       // for DelaySeconds
	maxWaitSeconds   = 20        // for long polling
	maxBatchBodySize = 256 << 10 // bytes of one SendMessageBatch we aim to stay under
)

func init() { bindings.Register(Type) }

// Type declares bindings.aws.sqs.
var Type = bindings.Type{
	Name:       TypeName,
	Version:    "v1",
	Summary:    "Amazon SQS: long-polled queue trigger with batch deletes and visibility leases; send as output.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpCreate},
	Capabilities: bindings.Capabilities{
		BatchReceive:     true,
		Ordering:         true, // FIFO queues, per message group
		Lease:            true,
		NativeDeadLetter: true, // the queue's redrive policy
		DelayedNack:      true,
		Metadata:         true,
		ContentType:      true,
		DeliveryCount:    true,
		// Standard queues deliver at least once and may deliver a message
		// twice without a failure; a delete after the visibility timeout ran
		// out does not stop the redelivery already under way.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "queueName", Kind: bindings.KindString, Required: true, Example: "orders",
			Description: "The queue's name (ending in .fifo for a FIFO queue), or its URL."},
		{Name: "region", Kind: bindings.KindString, Example: "us-east-1",
			Description: "AWS region of the queue. Default: the environment's (AWS_REGION, the shared config file); opening fails when none is found."},
		{Name: "endpoint", Kind: bindings.KindString,
			Description: "Endpoint URL of an SQS-compatible service or emulator, e.g. http://127.0.0.1:4566. Default: AWS's endpoint for the region."},
		{Name: "accessKey", Kind: bindings.KindString,
			Description: "AWS access key id, with secretKey. Default: the SDK's credential chain (environment, shared files, IAM role)."},
		{Name: "secretKey", Kind: bindings.KindString, Secret: true,
			Description: "AWS secret access key of accessKey."},
		{Name: "sessionToken", Kind: bindings.KindString, Secret: true,
			Description: "AWS session token, for temporary credentials."},
		{Name: "assumeRoleArn", Ignored: "role assumption is not implemented: give accessKey/secretKey or the default AWS credential chain"},
		{Name: "sessionName", Ignored: "role assumption is not implemented"},
		{Name: "trustAnchorArn", Ignored: "IAM Roles Anywhere is not implemented"},
		{Name: "trustProfileArn", Ignored: "IAM Roles Anywhere is not implemented"},
		{Name: "createQueue", Kind: bindings.KindBool, Default: "false",
			Description: "Create the queue with default attributes when it does not exist (a FIFO queue when queueName ends in .fifo). For emulators and development; in production, create queues with their redrive policy beforehand."},
		{Name: "messageVisibilityTimeout", Kind: bindings.KindDuration, Direction: bindings.DirInput,
			Description: "Visibility timeout of received messages, in whole seconds (up to 12h): how long a message stays hidden from other consumers before the runtime must extend it. Default: the queue's VisibilityTimeout."},
		{Name: "messageWaitTimeSeconds", Kind: bindings.KindInt, Default: "20", Direction: bindings.DirInput,
			Description: "Long-polling wait of one ReceiveMessage call, 1 to 20 seconds. Receive keeps polling until a message arrives; a longer wait makes fewer empty calls."},
		{Name: "fifoMessageGroupID", Kind: bindings.KindString, Direction: bindings.DirOutput,
			Description: `FIFO queues: the message group of a create whose metadata names none ("messageGroupId" or "partitionKey"). Default: the component's name, so one component's messages keep their order.`},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "<attribute>", Description: "Every message attribute under its own name: String and Number values as they are, Binary values base64-encoded. contentType and contentTransferEncoding are read into Message.ContentType and Data instead."},
		{Name: "ApproximateReceiveCount", Description: "How many times SQS has handed the message out (also Message.DeliveryCount)."},
		{Name: "SentTimestamp", Description: "When SQS accepted the message, in milliseconds since the epoch (also Message.Time)."},
		{Name: "ApproximateFirstReceiveTimestamp", Description: "When the message was first received, in milliseconds since the epoch."},
		{Name: "SenderId", Description: "The sender's AWS account or IAM identity."},
		{Name: "MessageGroupId", Description: "FIFO queues (and fair queues): the message group (also Message.Key)."},
		{Name: "MessageDeduplicationId", Description: "FIFO queues: the deduplication id."},
		{Name: "SequenceNumber", Description: "FIFO queues: the sequence number SQS gave the message."},
		{Name: "AWSTraceHeader", Description: "The X-Ray trace header, when the sender set one."},
		{Name: "DeadLetterQueueSourceArn", Description: "In a dead-letter queue: the queue the message was moved from."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return newInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(ctx, cfg) },
}

// systemAttributes are the names SQS gives its own message attributes. The
// input sets them as metadata; the output does not send them back as message
// attributes (they would be wrong on a new message, and count against the
// limit of ten), except AWSTraceHeader, which it passes on as the system
// attribute it is.
var systemAttributes = []string{
	"ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SentTimestamp", "SenderId",
	"SequenceNumber", "DeadLetterQueueSourceArn", "AWSTraceHeader",
	// MessageGroupId and MessageDeduplicationId are steering keys of create.
}

// settings are a component's validated keys. Both directions check every
// key, so a component file is valid or not whichever side opens it first.
type settings struct {
	queue        string // name or URL
	region       string
	endpoint     string
	accessKey    string
	secretKey    string
	sessionToken string
	createQueue  bool

	visibility time.Duration // 0: the queue's
	wait       int32
	fifoGroup  string
}

func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		queue:        strings.TrimSpace(md.String("queueName")),
		region:       strings.TrimSpace(md.String("region")),
		endpoint:     strings.TrimSpace(md.String("endpoint")),
		accessKey:    md.String("accessKey"),
		secretKey:    md.String("secretKey"),
		sessionToken: md.String("sessionToken"),
		createQueue:  md.Bool("createQueue"),
		visibility:   md.Duration("messageVisibilityTimeout"),
		wait:         int32(md.Int("messageWaitTimeSeconds")),
		fifoGroup:    md.String("fifoMessageGroupID"),
	}
	if s.fifoGroup == "" {
		s.fifoGroup = cfg.Name
	}
	switch {
	case s.queue == "":
		return s, &bindings.KeyError{Key: "queueName", Msg: "must not be empty"}
	case s.endpoint != "" && !isHTTPURL(s.endpoint):
		return s, &bindings.KeyError{Key: "endpoint", Msg: fmt.Sprintf("%q is not an http:// or https:// URL", s.endpoint)}
	case (s.accessKey == "") != (s.secretKey == ""):
		return s, &bindings.KeyError{Key: "accessKey", Msg: "accessKey and secretKey go together"}
	case s.sessionToken != "" && s.accessKey == "":
		return s, &bindings.KeyError{Key: "sessionToken", Msg: "needs accessKey and secretKey"}
	case s.visibility < 0 || s.visibility > maxVisibility*time.Second:
		return s, &bindings.KeyError{Key: "messageVisibilityTimeout", Msg: "must be between 0 and 12h"}
	case s.visibility%time.Second != 0:
		return s, &bindings.KeyError{Key: "messageVisibilityTimeout", Msg: fmt.Sprintf("%s is not a whole number of seconds", s.visibility)}
	// Input keys have their defaults only when an input opens; an output
	// checks the ones that are set.
	case md.Has("messageWaitTimeSeconds") && (s.wait < 1 || s.wait > maxWaitSeconds):
		return s, &bindings.KeyError{Key: "messageWaitTimeSeconds", Msg: fmt.Sprintf("must be between 1 and 20, got %d", s.wait)}
	}
	if isHTTPURL(s.queue) {
		if _, err := url.Parse(s.queue); err != nil {
			return s, &bindings.KeyError{Key: "queueName", Msg: fmt.Sprintf("not a queue URL: %v", err)}
		}
	}
	return s, nil
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// queue is an opened queue: the client, its URL and what its attributes say.
type queue struct {
	client     *awssqs.Client
	url        string
	name       string
	fifo       bool
	contentDup bool          // FIFO with content-based deduplication
	visibility time.Duration // the queue's VisibilityTimeout
}

// openQueue builds the client, finds (or creates) the queue and reads the
// attributes the driver depends on, so that a wrong name or missing
// permission fails at start-up.
func openQueue(ctx context.Context, s settings) (*queue, error) {
	var opts []func(*config.LoadOptions) error
	if s.region != "" {
		opts = append(opts, config.WithRegion(s.region))
	}
	if s.accessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(s.accessKey, s.secretKey, s.sessionToken)))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, &bindings.KeyError{Key: "region", Msg: "no region: set it, or AWS_REGION"}
	}
	client := awssqs.NewFromConfig(awsCfg, func(o *awssqs.Options) {
		if s.endpoint != "" {
			o.BaseEndpoint = aws.String(s.endpoint)
		}
	})
	q := &queue{client: client, name: s.queue, url: s.queue}
	if isHTTPURL(s.queue) {
		q.name = s.queue[strings.LastIndex(s.queue, "/")+1:]
	} else if q.url, err = queueURL(ctx, client, s.queue, s.createQueue); err != nil {
		return nil, err
	}
	attrs, err := client.GetQueueAttributes(ctx, &awssqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameFifoQueue, types.QueueAttributeNameContentBasedDeduplication,
			types.QueueAttributeNameVisibilityTimeout,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read attributes of queue %s: %w", q.url, err)
	}
	q.fifo = attrs.Attributes[string(types.QueueAttributeNameFifoQueue)] == "true"
	q.contentDup = attrs.Attributes[string(types.QueueAttributeNameContentBasedDeduplication)] == "true"
	q.visibility = 30 * time.Second // SQS's default, should the attribute be missing
	if v, err := strconv.Atoi(attrs.Attributes[string(types.QueueAttributeNameVisibilityTimeout)]); err == nil {
		q.visibility = time.Duration(v) * time.Second
	}
	return q, nil
}

func queueURL(ctx context.Context, client *awssqs.Client, name string, create bool) (string, error) {
	out, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err == nil {
		return aws.ToString(out.QueueUrl), nil
	}
	if !create || !isQueueMissing(err) {
		return "", fmt.Errorf("find queue %q: %w", name, err)
	}
	in := &awssqs.CreateQueueInput{QueueName: aws.String(name)}
	if strings.HasSuffix(name, ".fifo") {
		in.Attributes = map[string]string{string(types.QueueAttributeNameFifoQueue): "true"}
	}
	created, err := client.CreateQueue(ctx, in)
	if err != nil {
		return "", fmt.Errorf("create queue %q: %w", name, err)
	}
	return aws.ToString(created.QueueUrl), nil
}

func isQueueMissing(err error) bool {
	var missing *types.QueueDoesNotExist
	if errors.As(err, &missing) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && strings.Contains(api.ErrorCode(), "NonExistentQueue")
}

// seconds rounds d up to whole seconds within [0, limit]: SQS counts
// visibility and delays in seconds, and a delay must never come out shorter
// than asked.
func seconds(d time.Duration, limit int32) int32 {
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > time.Duration(limit) {
		return limit
	}
	return int32(s)
}
