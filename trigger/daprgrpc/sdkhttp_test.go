package daprgrpc_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/dapr/go-sdk/service/common"
	daprhttp "github.com/dapr/go-sdk/service/http"
	"github.com/go-chi/chi/v5"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// TestGoSDKHTTPApp: an unmodified app written with the Go SDK's HTTP
// service (service/http, AddBindingInvocationHandler) receives from the
// runtime, over --app-protocol http, every kind of payload byte-identical,
// with and without a content type, and its metadata.
func TestGoSDKHTTPApp(t *testing.T) {
	orders := queue(t, "orders")
	set := bindingtest.LoadComponents(t, memoryComponent("orders", orders, "input"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	got := make(chan *common.BindingEvent, 1)
	mux := chi.NewRouter()
	svc := daprhttp.NewServiceWithMux(addr, mux)
	if err := svc.AddBindingInvocationHandler("orders", func(_ context.Context, in *common.BindingEvent) ([]byte, error) {
		got <- in
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux} // the SDK's routes, on this test's listener
	go srv.Serve(ln)
	defer srv.Close()

	fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: "http://" + addr}, nil)
	if err != nil || len(fns) != 1 {
		t.Fatalf("AppFunctions = %d functions, %v; want the SDK's one binding", len(fns), err)
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	for _, p := range payloads {
		for _, ct := range []string{"", "application/octet-stream"} {
			memory.Publish(orders, &bindings.Message{Data: p.data, ContentType: ct, Metadata: map[string]string{"source": "test"}})
			in := <-got
			if !bytes.Equal(in.Data, p.data) {
				t.Errorf("%s, content type %q: the SDK's handler got %q, want %q", p.name, ct, in.Data, p.data)
			}
			if in.Metadata["Source"] != "test" {
				t.Errorf("%s: metadata %v, want Source=test", p.name, in.Metadata)
			}
		}
	}
}
