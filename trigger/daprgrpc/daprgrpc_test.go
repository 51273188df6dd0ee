package daprgrpc_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	dapr "github.com/dapr/go-sdk/client"
	"github.com/dapr/go-sdk/service/common"
	daprsvc "github.com/dapr/go-sdk/service/grpc"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
	"github.com/tetherfn/tether/trigger/daprgrpc"
)

// payloads are one of every kind, binary included (gRPC carries bytes),
// each with and without a content type.
var payloads = []struct {
	name string
	data []byte
	ct   string
}{
	{"json object", []byte(`{"id":1,"items":["a","b"]}`), ""},
	{"json object typed", []byte(`{"id":1}`), "application/json"},
	{"json string", []byte(`"quoted"`), ""},
	{"json string typed", []byte(`"quoted"`), "application/json"},
	{"number", []byte(`42.5`), ""},
	{"number typed", []byte(`42.5`), "application/json"},
	{"text", []byte("plain text, not JSON\n"), "text/plain"},
	{"text untyped", []byte("plain text, not JSON\n"), ""},
	{"binary", []byte{0x00, 0xff, 0xfe, 0x80, 0x7f, '\n'}, "application/octet-stream"},
	{"binary untyped", []byte{0x00, 0xff}, ""},
	{"empty", []byte{}, ""},
	{"empty typed", []byte{}, "text/plain"},
}

func queue(t *testing.T, base string) string {
	return fmt.Sprintf("%s-%s-%d", base, t.Name(), rand.Uint64())
}

func memoryComponent(name, q, direction string) string {
	return bindingtest.ComponentYAML(name, "bindings.memory", map[string]string{"queue": q, "direction": direction})
}

// start serves the gRPC API over rt until the test ends; it returns its
// address.
func start(t *testing.T, set *trigger.Runtime) string { return startB(t, set) }

func startB(t testing.TB, set *trigger.Runtime) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = daprgrpc.Serve(ctx, ln, set, "") }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// TestGoSDKClient: Dapr's Go SDK, unmodified, invokes an output binding
// over gRPC; every kind of payload arrives byte-identical with its content
// type; GetMetadata shows the components; Shutdown requests the runtime's.
func TestGoSDKClient(t *testing.T) {
	out := queue(t, "out")
	set := bindingtest.LoadComponents(t, memoryComponent("shipments", out, "output"))
	rt, err := trigger.New(trigger.Options{Components: set, AppID: "checkout"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	addr := start(t, rt)

	t.Setenv("DAPR_API_TOKEN", "")
	client, err := dapr.NewClientWithAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	in, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": out}})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for _, p := range payloads {
		md := map[string]string{"key": "k1"}
		if p.ct != "" {
			md["contentType"] = p.ct
		}
		if _, err := client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "shipments", Operation: "create", Data: p.data, Metadata: md}); err != nil {
			t.Fatalf("%s: InvokeBinding: %v", p.name, err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		msgs, err := in.Receive(rctx, 1)
		rcancel()
		if err != nil {
			t.Fatal(err)
		}
		_ = in.Ack(ctx, msgs[0])
		if !bytes.Equal(msgs[0].Data, p.data) || msgs[0].ContentType != p.ct {
			t.Errorf("%s: output got %q (%q), want %q (%q)", p.name, msgs[0].Data, msgs[0].ContentType, p.data, p.ct)
		}
	}
	if _, err := client.InvokeBinding(ctx, &dapr.InvokeBindingRequest{Name: "nope", Operation: "create"}); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("unknown binding: err = %v, want NotFound", err)
	}

	md, err := client.GetMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if md.ID != "checkout" || len(md.RegisteredComponents) != 1 || md.RegisteredComponents[0].Name != "shipments" ||
		md.RegisteredComponents[0].Type != "bindings.memory" {
		t.Errorf("GetMetadata = %+v", md)
	}
	if err := client.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rt.ShutdownRequested():
	case <-time.After(30 * time.Second):
		t.Fatal("the SDK's Shutdown did not request the runtime's")
	}
}

// TestGoSDKApp: an app built with Dapr's Go SDK service, unmodified,
// receives input bindings over gRPC: only those it registered, every kind
// of payload byte-identical, with metadata and a traceparent; an error from
// its handler is retried.
func TestGoSDKApp(t *testing.T) {
	orders, other := queue(t, "orders"), queue(t, "other")
	set := bindingtest.LoadComponents(t,
		bindingtest.ComponentYAML("orders", "bindings.memory", map[string]string{"queue": orders, "direction": "input",
			"maxAttempts": "3", "initialInterval": "1ms", "maxInterval": "2ms"}),
		memoryComponent("other", other, "input"),
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := daprsvc.NewServiceWithListener(ln)
	got := make(chan *common.BindingEvent, 1)
	failOnce := true
	if err := svc.AddBindingInvocationHandler("orders", func(_ context.Context, in *common.BindingEvent) ([]byte, error) {
		if string(in.Data) == "fail once" && failOnce {
			failOnce = false
			return nil, fmt.Errorf("not yet")
		}
		got <- in
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start() }()
	defer svc.GracefulStop()

	ctx := context.Background()
	fns, app, err := daprgrpc.AppFunctions(ctx, set, daprgrpc.AppOptions{Address: ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if len(fns) != 1 || fns[0].Trigger != "orders" {
		t.Fatalf("functions %+v, want one on orders (the app registered no handler for other)", fns)
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx)

	for _, p := range payloads {
		memory.Publish(orders, &bindings.Message{Data: p.data, ContentType: p.ct, Metadata: map[string]string{"source": "test"}})
		ev := <-got
		if !bytes.Equal(ev.Data, p.data) || ev.Metadata["source"] != "test" {
			t.Errorf("%s: app got %q %v, want %q with source=test", p.name, ev.Data, ev.Metadata, p.data)
		}
	}
	memory.Publish(orders, &bindings.Message{Data: []byte("fail once")})
	if ev := <-got; string(ev.Data) != "fail once" {
		t.Errorf("after a failed attempt the app got %q", ev.Data)
	}
}
