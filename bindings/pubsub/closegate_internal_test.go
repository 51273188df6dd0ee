package pubsub

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc"
)

// fakePull is a StreamingPull stream that returns one response per ack ID
// list, then io.EOF.
type fakePull struct {
	grpc.ClientStream
	responses [][]string
}

func (f *fakePull) RecvMsg(m any) error {
	if len(f.responses) == 0 {
		return io.EOF
	}
	res := m.(*pubsubpb.StreamingPullResponse)
	for _, id := range f.responses[0] {
		res.ReceivedMessages = append(res.ReceivedMessages, &pubsubpb.ReceivedMessage{AckId: id})
	}
	f.responses = f.responses[1:]
	return nil
}

func TestCloseGate(t *testing.T) {
	var g closeGate
	var sent []string // what reached the "service"
	invoke := func(_ context.Context, method string, req, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		switch r := req.(type) {
		case *pubsubpb.ModifyAckDeadlineRequest:
			for _, id := range r.AckIds {
				sent = append(sent, method[len("/google.pubsub.v1.Subscriber/"):]+"/"+id)
			}
		case *pubsubpb.AcknowledgeRequest:
			for _, id := range r.AckIds {
				sent = append(sent, "Acknowledge/"+id)
			}
		}
		return nil
	}
	nack := func(ids ...string) {
		req := &pubsubpb.ModifyAckDeadlineRequest{AckIds: ids}
		if err := g.unary(t.Context(), pubsubpb.Subscriber_ModifyAckDeadline_FullMethodName, req, nil, nil, invoke); err != nil {
			t.Fatal(err)
		}
	}
	modack := func(id string) {
		req := &pubsubpb.ModifyAckDeadlineRequest{AckIds: []string{id}, AckDeadlineSeconds: 10}
		if err := g.unary(t.Context(), pubsubpb.Subscriber_ModifyAckDeadline_FullMethodName, req, nil, nil, invoke); err != nil {
			t.Fatal(err)
		}
	}
	ack := func(id string) {
		req := &pubsubpb.AcknowledgeRequest{AckIds: []string{id}}
		if err := g.unary(t.Context(), pubsubpb.Subscriber_Acknowledge_FullMethodName, req, nil, nil, invoke); err != nil {
			t.Fatal(err)
		}
	}
	open := func(responses ...[]string) (grpc.ClientStream, context.Context) {
		var sctx context.Context
		streamer := func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
			sctx = ctx
			return &fakePull{responses: responses}, nil
		}
		cs, err := g.stream(t.Context(), nil, nil, pubsubpb.Subscriber_StreamingPull_FullMethodName, streamer)
		if err != nil {
			t.Fatal(err)
		}
		return cs, sctx
	}
	pull := func(responses ...[]string) (got []string) {
		cs, sctx := open(responses...)
		for {
			var res pubsubpb.StreamingPullResponse
			if err := cs.RecvMsg(&res); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				<-sctx.Done() // the stream's own context ends with it
				return got
			}
			for _, rm := range res.ReceivedMessages {
				got = append(got, rm.AckId)
			}
		}
	}

	// Open: everything passes. The library stops reading one stream.
	nack("a")
	_, unreadCtx := open([]string{"x"})
	if got := pull([]string{"b"}); !slices.Equal(got, []string{"b"}) {
		t.Errorf("pulled %v while open, want [b]", got)
	}

	// Closing: nacks and pulled messages are held, the rest passes.
	g.close()
	nack("c", "d")
	modack("e")
	ack("f")
	if got := pull([]string{"g"}, []string{"h", "i"}); len(got) != 0 {
		t.Errorf("pulled %v while closing, want none", got)
	}
	g.drain() // reads the stream left open to its end
	<-unreadCtx.Done()
	if got, want := g.release(), []string{"c", "d", "g", "h", "i", "x"}; !slices.Equal(got, want) {
		t.Errorf("release() = %v, want %v", got, want)
	}

	// Released: everything passes again.
	nack("j")
	if got := pull([]string{"k"}); !slices.Equal(got, []string{"k"}) {
		t.Errorf("pulled %v after release, want [k]", got)
	}
	want := []string{"ModifyAckDeadline/a", "ModifyAckDeadline/e", "Acknowledge/f", "ModifyAckDeadline/j"}
	if !slices.Equal(sent, want) {
		t.Errorf("sent %v, want %v", sent, want)
	}
}

// TestCloseGateCancel: a pull stream ends when the library cancels it,
// outside Close.
func TestCloseGateCancel(t *testing.T) {
	var g closeGate
	var sctx context.Context
	streamer := func(ctx context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
		sctx = ctx
		return &fakePull{}, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := g.stream(ctx, nil, nil, pubsubpb.Subscriber_StreamingPull_FullMethodName, streamer); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-sctx.Done()
}
