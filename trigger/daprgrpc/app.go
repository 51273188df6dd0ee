package daprgrpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	runtimev1pb "github.com/dapr/dapr/pkg/proto/runtime/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/trigger"
)

// AppOptions say where the app's AppCallback service listens.
type AppOptions struct {
	// Address is the app's host:port.
	Address string
	// Token, when set, is sent as dapr-api-token metadata (APP_API_TOKEN).
	Token string
	// MaxConcurrency, when positive, bounds the deliveries in flight to the
	// app across its inputs.
	MaxConcurrency int
	// StartTimeout bounds the wait for the app at start-up; 0 waits until
	// ctx ends, as daprd does.
	StartTimeout time.Duration
	// Logger says what start-up waits for; nil discards.
	Logger *slog.Logger
}

// App is the connection to an app's AppCallback service.
type App struct {
	conn   *grpc.ClientConn
	client runtimev1pb.AppCallbackClient
}

// Close closes the connection, once the runtime has shut down.
func (a *App) Close() error { return a.conn.Close() }

// AppFunctions connects to the app, asks it which input bindings it takes
// (ListInputBindings, waiting for it to listen), and returns one function
// per input component of set the app names, each delivering its messages
// with OnBindingEvent: the payload as bytes, the metadata, a W3C
// traceparent. A response's "to" and "data" send the data to those output
// bindings; an error is a failed attempt, retried then dead-lettered.
func AppFunctions(ctx context.Context, set *component.Set, o AppOptions) ([]trigger.Function, *App, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	conn, err := grpc.NewClient(o.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("app channel %s: %w", o.Address, err)
	}
	app := &App{conn: conn, client: runtimev1pb.NewAppCallbackClient(conn)}
	names, err := app.listInputBindings(ctx, o, logger)
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("app channel %s: ListInputBindings: %w", o.Address, err)
	}
	var sem chan struct{}
	if o.MaxConcurrency > 0 {
		sem = make(chan struct{}, o.MaxConcurrency)
	}
	var fns []trigger.Function
	taken := map[string]bool{}
	for _, c := range set.Components() {
		if !c.Direction.Has(bindings.DirInput) || !slices.Contains(names, c.Name) {
			continue
		}
		outs := new(*trigger.Outputs)
		fns = append(fns, trigger.Function{
			Name: trigger.AppFunctionName(c.Name, taken), Trigger: c.Name,
			Handler: app.deliver(c.Name, o.Token, outs, sem),
			Bind:    func(_ context.Context, out *trigger.Outputs) error { *outs = out; return nil },
		})
	}
	return fns, app, nil
}

func (a *App) listInputBindings(ctx context.Context, o AppOptions, logger *slog.Logger) ([]string, error) {
	start := time.Now()
	for n := 0; ; n++ {
		resp, err := a.client.ListInputBindings(outgoing(ctx, o.Token, ""), &emptypb.Empty{})
		if err == nil {
			return resp.GetBindings(), nil
		}
		if status.Code(err) != codes.Unavailable || (o.StartTimeout > 0 && time.Since(start) > o.StartTimeout) {
			return nil, err
		}
		if n%40 == 0 {
			logger.Info("waiting for the app to listen", "address", o.Address, "error", err)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		}
	}
}

func outgoing(ctx context.Context, token, traceparent string) context.Context {
	var kv []string
	if token != "" {
		kv = append(kv, "dapr-api-token", token)
	}
	if traceparent != "" {
		kv = append(kv, "traceparent", traceparent)
	}
	if len(kv) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

func (a *App) deliver(name, token string, outs **trigger.Outputs, sem chan struct{}) trigger.Handler {
	return func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		if sem != nil {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				return trigger.Result{}, ctx.Err()
			}
		}
		meta := m.ReadMetadata()
		// The attempt's span, when tracing is on, is the app's parent;
		// else the message's traceparent passes through, or a new one.
		tp := trigger.Inject(ctx, nil)["traceparent"]
		if tp == "" {
			tp = meta["traceparent"]
		}
		if tp == "" {
			tp = trigger.NewTraceparent()
		}
		resp, err := a.client.OnBindingEvent(outgoing(ctx, token, tp), &runtimev1pb.BindingEventRequest{
			Name: name, Data: m.Data, Metadata: meta,
		})
		if err != nil {
			return trigger.Result{}, fmt.Errorf("deliver to app: %w", err)
		}
		if len(resp.GetTo()) > 0 {
			if err := trigger.SendTo(ctx, *outs, resp.GetTo(), resp.GetData()); err != nil {
				return trigger.Result{}, err
			}
		}
		return trigger.Result{}, nil
	}
}
