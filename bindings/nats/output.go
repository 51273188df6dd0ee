package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// output publishes to JetStream and waits for the stream's acknowledgement, so
// a nil error means the message is stored.
type output struct {
	nc      *natsgo.Conn
	js      jetstream.JetStream
	subject string
}

func openOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	nc, js, err := connect(cfg, "output")
	if err != nil {
		return nil, err
	}
	if err := ensureStream(ctx, js, s); err != nil {
		nc.Close()
		return nil, err
	}
	o := &output{nc: nc, js: js}
	if len(s.subjects) == 1 && !strings.ContainsAny(s.subjects[0], "*>") {
		o.subject = s.subjects[0] // otherwise every call names its subject
	}
	return o, nil
}

// publishTimeout bounds one publish when the caller's context allows more.
const publishTimeout = 10 * time.Second

// publishRequest is one publish, from Invoke or from the typed client.
type publishRequest struct {
	subject string
	data    []byte
	header  natsgo.Header
	msgID   string
}

// Invoke implements bindings.Output.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req.Operation != bindings.OpCreate {
		return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
	}
	p := publishRequest{subject: o.subject, data: req.Data, header: natsgo.Header{}}
	// A dead-letter envelope carries the failed message's metadata, whose
	// "subject" is where it came from, not where the envelope goes.
	deadLetter := req.Metadata[functions.DeadLetterMetadataKey] == "true"
	for k, v := range req.Metadata {
		switch k {
		case MetaSubject:
			if !deadLetter {
				p.subject = v
			}
		case MetaMessageID:
			p.msgID = v
		default:
			p.header.Set(k, v)
		}
	}
	if req.ContentType != "" {
		p.header.Set("Content-Type", req.ContentType)
	}
	ack, err := o.publish(ctx, p)
	if err != nil {
		return nil, err
	}
	return &bindings.InvokeResponse{Metadata: map[string]string{
		"stream":    ack.Stream,
		"sequence":  strconv.FormatUint(ack.Sequence, 10),
		"duplicate": strconv.FormatBool(ack.Duplicate),
	}}, nil
}

func (o *output) publish(ctx context.Context, p publishRequest) (*jetstream.PubAck, error) {
	if p.subject == "" {
		return nil, errors.New("no subject: set the component's subject or the call's " + MetaSubject + " metadata")
	}
	msg := &natsgo.Msg{Subject: p.subject, Data: p.data}
	if len(p.header) > 0 {
		msg.Header = p.header
	}
	var opts []jetstream.PublishOpt
	if p.msgID != "" {
		opts = append(opts, jetstream.WithMsgID(p.msgID))
	}
	// A publish whose request went out just before the server went away
	// never gets its acknowledgement: bound it, so the caller can retry
	// (safely, with a message id).
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := o.js.PublishMsg(ctx, msg, opts...)
	if err != nil {
		return nil, fmt.Errorf("publish to %q: %w", p.subject, err)
	}
	return ack, nil
}

// Close implements bindings.Output. Publishes still waiting for their
// acknowledgement fail; their callers did not get a nil error, so nothing is
// reported sent that was not.
func (o *output) Close() error {
	o.nc.Close()
	return nil
}
