// Package sqsemu is an in-memory Amazon SQS emulator that speaks the JSON
// protocol of the current AWS SDKs (POST /, X-Amz-Target: AmazonSQS.<Action>,
// application/x-amz-json-1.0), for tests and for tether dev.
//
// It keeps standard and FIFO queues with their attributes, visibility
// timeouts, long polling, batch calls, message and system attributes,
// FIFO ordering per message group (a group is locked while one of its
// messages is in flight), deduplication (by id or by content) and the
// redrive policy that moves a message to its dead-letter queue after
// maxReceiveCount receives. Errors have the shapes the SDKs expect: the
// typed error (__type) and the query-compatible code
// (x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender).
//
// It does not check signatures or credentials, keeps nothing on disk, and
// has no permissions, encryption, message move tasks or throughput limits.
// See docs/emulators.md for the other differences from SQS.
//
//	srv, err := sqsemu.Start("127.0.0.1:0", nil)
//	if err != nil { ... }
//	defer srv.Close()
//	client := sqs.New(sqs.Options{BaseEndpoint: aws.String(srv.URL()), ...})
package sqsemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// AccountID is the account that owns every queue, as queue URLs and ARNs
// show it.
const AccountID = "000000000000"

// Options tune New and Start. A nil *Options is valid.
type Options struct {
	// Region is the region in queue ARNs; default "us-east-1".
	Region string
}

// Server is an SQS emulator. It is an http.Handler; Start also serves it.
type Server struct {
	region  string
	actions map[string]handler

	mu     sync.Mutex
	queues map[string]*queue // by name
	seq    uint64            // the last FIFO sequence number given
	wake   chan struct{}     // closed and replaced when a message may have become receivable

	ln   net.Listener
	http *http.Server
	done chan struct{} // closed by Close: long polls return
}

// New returns an emulator with no queues, to serve with an http.Server of
// the caller's.
func New(opts *Options) *Server {
	s := &Server{region: "us-east-1", queues: map[string]*queue{}, wake: make(chan struct{}), done: make(chan struct{})}
	if opts != nil && opts.Region != "" {
		s.region = opts.Region
	}
	s.actions = s.handlers()
	return s
}

// Start returns an emulator serving on addr (e.g. "127.0.0.1:0").
func Start(addr string, opts *Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sqsemu: listen on %s: %w", addr, err)
	}
	s := New(opts)
	s.ln = ln
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// URL is the endpoint to give the SDK (BaseEndpoint); "" when the server
// was made with New.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close ends long polls under way and, when Start made the server, stops
// serving.
func (s *Server) Close() error {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.mu.Unlock()
	if s.http == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}

// maxRequest bounds a request body: a batch of messages of the largest
// size, with room for JSON.
const maxRequest = 4 << 20

// ServeHTTP answers one SQS JSON request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	action, ok := strings.CutPrefix(target, "AmazonSQS.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", query: "InvalidAction",
			msg: fmt.Sprintf("this emulator speaks the SQS JSON protocol only (POST with X-Amz-Target: AmazonSQS.<Action>); got %s %q", r.Method, target)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		writeError(w, invalidParameter("cannot read the request: %v", err))
		return
	}
	if len(body) > maxRequest {
		writeError(w, invalidParameter("the request is larger than %d bytes", maxRequest))
		return
	}
	h, ok := s.actions[action]
	if !ok {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", query: "InvalidAction",
			msg: fmt.Sprintf("the action %s is not valid for this endpoint", action)})
		return
	}
	out, err := h(r.Context(), r.Host, body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: http.StatusInternalServerError, typ: "InternalError", query: "InternalError", msg: err.Error()}
		}
		writeError(w, ae)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if out == nil {
		out = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

type handler func(ctx context.Context, host string, body []byte) (any, error)

func (s *Server) handlers() map[string]handler {
	return map[string]handler{
		"CreateQueue":                  decoded(s.createQueue),
		"GetQueueUrl":                  decoded(s.getQueueURL),
		"GetQueueAttributes":           decoded(s.getQueueAttributes),
		"SetQueueAttributes":           decoded(s.setQueueAttributes),
		"DeleteQueue":                  decoded(s.deleteQueue),
		"ListQueues":                   decoded(s.listQueues),
		"PurgeQueue":                   decoded(s.purgeQueue),
		"ListDeadLetterSourceQueues":   decoded(s.listDeadLetterSourceQueues),
		"TagQueue":                     decoded(s.tagQueue),
		"UntagQueue":                   decoded(s.untagQueue),
		"ListQueueTags":                decoded(s.listQueueTags),
		"SendMessage":                  decoded(s.sendMessage),
		"SendMessageBatch":             decoded(s.sendMessageBatch),
		"ReceiveMessage":               decoded(s.receiveMessage),
		"DeleteMessage":                decoded(s.deleteMessage),
		"DeleteMessageBatch":           decoded(s.deleteMessageBatch),
		"ChangeMessageVisibility":      decoded(s.changeMessageVisibility),
		"ChangeMessageVisibilityBatch": decoded(s.changeMessageVisibilityBatch),
	}
}

// decoded adapts a typed action to a handler that decodes its JSON input.
func decoded[In any](f func(ctx context.Context, host string, in *In) (any, error)) handler {
	return func(ctx context.Context, host string, body []byte) (any, error) {
		in := new(In)
		if len(body) > 0 {
			if err := json.Unmarshal(body, in); err != nil {
				return nil, &apiError{status: http.StatusBadRequest, typ: "SerializationException", query: "MalformedInput",
					msg: fmt.Sprintf("cannot decode the request: %v", err)}
			}
		}
		return f(ctx, host, in)
	}
}

// notify wakes the long polls under way; s.mu is held.
func (s *Server) notify() {
	close(s.wake)
	s.wake = make(chan struct{})
}
