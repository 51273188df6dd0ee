package daprgrpc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/trigger"
)

// Server is Dapr's gRPC API for bindings over a runtime: InvokeBinding,
// GetMetadata, SetMetadata and Shutdown. Every other method of the Dapr
// service answers Unimplemented, as daprd does for a building block it has
// no component for.
type Server struct {
	runtimev1pb.UnimplementedDaprServer
	rt *trigger.Runtime
}

// NewServer returns the API over rt.
func NewServer(rt *trigger.Runtime) *Server { return &Server{rt: rt} }

// Serve registers the API on a new gRPC server and serves it on ln until
// ctx ends; token, when set, is required as the dapr-api-token metadata of
// every call, as daprd requires DAPR_API_TOKEN.
func Serve(ctx context.Context, ln net.Listener, rt *trigger.Runtime, token string) error {
	var opts []grpc.ServerOption
	if token != "" {
		opts = append(opts, grpc.UnaryInterceptor(requireToken(token)))
	}
	gs := grpc.NewServer(opts...)
	runtimev1pb.RegisterDaprServer(gs, NewServer(rt))
	stop := context.AfterFunc(ctx, gs.GracefulStop)
	defer stop()
	if err := gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("dapr gRPC API: %w", err)
	}
	return nil
}

func requireToken(token string) grpc.UnaryServerInterceptor {
	want := []byte(token)
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		var got []byte
		if v := md.Get("dapr-api-token"); len(v) > 0 {
			got = []byte(v[0])
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "authentication error: api token mismatch")
		}
		return next(ctx, req)
	}
}

// InvokeBinding is daprd's: the data as bytes (no JSON wrapping, unlike
// HTTP), the operation, the metadata (contentType among them); the
// response's data and metadata as the component gave them.
func (s *Server) InvokeBinding(ctx context.Context, in *runtimev1pb.InvokeBindingRequest) (*runtimev1pb.InvokeBindingResponse, error) {
	ob, ok := s.rt.Output(in.GetName())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "error invoking output binding %s: output binding %s not found", in.GetName(), in.GetName())
	}
	if in.GetOperation() == "" {
		return nil, status.Error(codes.InvalidArgument, "operation is required")
	}
	if s.rt.Tracing() {
		ctx = traceContext(ctx, in.GetMetadata())
	}
	resp, err := ob.Invoke(ctx, &bindings.InvokeRequest{
		Operation: bindings.Operation(in.GetOperation()), Data: in.GetData(), Metadata: in.GetMetadata(),
		ContentType: in.GetMetadata()["contentType"],
	})
	if err != nil {
		code := codes.Internal
		if errors.Is(err, bindings.ErrUnsupportedOperation) {
			code = codes.InvalidArgument
		}
		return nil, status.Errorf(code, "error invoking output binding %s: %v", in.GetName(), err)
	}
	out := &runtimev1pb.InvokeBindingResponse{}
	if resp != nil {
		out.Data, out.Metadata = resp.Data, resp.Metadata
	}
	return out, nil
}

// GetMetadata answers what GET /v1.0/metadata does.
func (s *Server) GetMetadata(context.Context, *runtimev1pb.GetMetadataRequest) (*runtimev1pb.GetMetadataResponse, error) {
	md := s.rt.DaprMetadata()
	out := &runtimev1pb.GetMetadataResponse{
		Id: md.ID, RuntimeVersion: md.RuntimeVersion, ExtendedMetadata: md.Extended,
		EnabledFeatures: md.EnabledFeatures,
	}
	for _, c := range md.Components {
		out.RegisteredComponents = append(out.RegisteredComponents, &runtimev1pb.RegisteredComponents{
			Name: c.Name, Type: c.Type, Version: c.Version, Capabilities: c.Capabilities,
		})
	}
	if a := md.AppConnectionProperties; a != nil {
		out.AppConnectionProperties = &runtimev1pb.AppConnectionProperties{
			Port: int32(a.Port), Protocol: a.Protocol, ChannelAddress: a.ChannelAddress, MaxConcurrency: int32(a.MaxConcurrency),
		}
	}
	return out, nil
}

// SetMetadata sets an extended metadata entry.
func (s *Server) SetMetadata(_ context.Context, in *runtimev1pb.SetMetadataRequest) (*emptypb.Empty, error) {
	s.rt.SetExtendedMetadata(in.GetKey(), in.GetValue())
	return &emptypb.Empty{}, nil
}

// Shutdown starts a graceful shutdown, as POST /v1.0/shutdown does.
func (s *Server) Shutdown(context.Context, *runtimev1pb.ShutdownRequest) (*emptypb.Empty, error) {
	s.rt.RequestShutdown()
	return &emptypb.Empty{}, nil
}

// traceContext returns ctx with the trace context of a call: the gRPC
// metadata's traceparent (and tracestate), as Dapr's SDKs send it, else a
// traceparent in the binding call's metadata.
func traceContext(ctx context.Context, md map[string]string) context.Context {
	if in, ok := metadata.FromIncomingContext(ctx); ok {
		if tp := in.Get("traceparent"); len(tp) > 0 {
			h := map[string]string{"traceparent": tp[0]}
			if ts := in.Get("tracestate"); len(ts) > 0 {
				h["tracestate"] = ts[0]
			}
			return trigger.Extract(ctx, h)
		}
	}
	return trigger.Extract(ctx, md)
}
