package pubsub

import (
	"context"
	"sync"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
)

// streamEndWait bounds how long Close waits for the service to end a pull
// stream the library half-closed, before it cancels the stream.
const streamEndWait = 5 * time.Second

// closeGate orders an input's Close on the wire: the messages it gives back
// are nacked only once its pull streams have ended.
//
// The library's graceful shutdown sends its last nacks while the input's
// StreamingPull stream is still open. The service may then hand a nacked
// message straight back to that stream, which the library cancels a moment
// later without reading it, and the message stays leased to the dead stream
// until the stream's ack deadline (60 s by default) expires. pstest does
// this (the service may give such a message out sooner): it made the
// conformance subtest CloseInFlight wait past its minute under load (and
// tether dev runs on pstest). So while the input closes, the gate
//   - holds back the library's nacks (ModifyAckDeadline to 0 s) instead of
//     sending them;
//   - keeps each pull stream open, once the library has half-closed it,
//     until the service ends it (or streamEndWait), and takes out of it the
//     messages that still arrive, to nack them too;
//
// and, once the library's Receive has returned, Close drains the streams
// still open to their end, and release hands it every held ack ID to nack:
// no stream of this input is open then, so the service can only redeliver
// them to another.
type closeGate struct {
	mu       sync.Mutex
	closing  bool     // from close to release
	released bool     // after release: calls pass through
	held     []string // ack IDs to nack once the streams have ended
	streams  map[*pullStream]struct{}
}

// options installs the gate on a client's connections.
func (g *closeGate) options() []option.ClientOption {
	return []option.ClientOption{
		option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(g.unary)),
		option.WithGRPCDialOption(grpc.WithChainStreamInterceptor(g.stream)),
	}
}

// close starts holding nacks and messages back.
func (g *closeGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closing = true
}

// isClosing reports whether the input is closing and its streams have not
// all ended yet.
func (g *closeGate) isClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closing && !g.released
}

// hold keeps ids for release and reports whether it did.
func (g *closeGate) hold(ids []string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closing || g.released {
		return false
	}
	g.held = append(g.held, ids...)
	return true
}

// drain reads every pull stream still open to its end, holding what
// arrives. Close calls it once the library's Receive has returned, so that
// nothing else reads the streams; each ends when the service ends it, or
// streamEndWait after the library cancelled it.
func (g *closeGate) drain() {
	g.mu.Lock()
	open := make([]*pullStream, 0, len(g.streams))
	for s := range g.streams {
		open = append(open, s)
	}
	g.mu.Unlock()
	for _, s := range open {
		for s.RecvMsg(new(pubsubpb.StreamingPullResponse)) == nil {
			// RecvMsg held the messages
		}
	}
}

// release returns the ack IDs held since close; later calls pass through.
func (g *closeGate) release() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.released = true
	ids := g.held
	g.held = nil
	return ids
}

func (g *closeGate) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if r, ok := req.(*pubsubpb.ModifyAckDeadlineRequest); ok && method == pubsubpb.Subscriber_ModifyAckDeadline_FullMethodName &&
		r.GetAckDeadlineSeconds() == 0 && g.hold(r.GetAckIds()) {
		return nil // nacked by Close, after the streams
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (g *closeGate) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method != pubsubpb.Subscriber_StreamingPull_FullMethodName {
		return streamer(ctx, desc, cc, method, opts...)
	}
	// The stream gets a context of its own, cancelled when the library's
	// is, except while closing: then the service ends it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cs, err := streamer(sctx, desc, cc, method, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &pullStream{ClientStream: cs, gate: g, ended: make(chan struct{})}
	g.mu.Lock()
	if g.streams == nil {
		g.streams = map[*pullStream]struct{}{}
	}
	g.streams[s] = struct{}{}
	g.mu.Unlock()
	go func() {
		defer func() {
			cancel()
			g.mu.Lock()
			delete(g.streams, s)
			g.mu.Unlock()
		}()
		select {
		case <-s.ended:
		case <-ctx.Done():
			if !g.isClosing() {
				return
			}
			wait := time.NewTimer(streamEndWait)
			defer wait.Stop()
			select {
			case <-s.ended:
			case <-wait.C:
			}
		}
	}()
	return s, nil
}

// pullStream is a StreamingPull stream seen through the gate.
type pullStream struct {
	grpc.ClientStream
	gate  *closeGate
	once  sync.Once
	ended chan struct{} // closed when RecvMsg has returned an error
}

// RecvMsg passes the messages on, except while closing: the gate keeps
// those for Close to nack.
func (s *pullStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.once.Do(func() { close(s.ended) })
		return err
	}
	if res, ok := m.(*pubsubpb.StreamingPullResponse); ok && len(res.GetReceivedMessages()) > 0 {
		ids := make([]string, len(res.ReceivedMessages))
		for i, rm := range res.ReceivedMessages {
			ids[i] = rm.GetAckId()
		}
		if s.gate.hold(ids) {
			res.ReceivedMessages = nil
		}
	}
	return nil
}
