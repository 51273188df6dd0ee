package trigger_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/trigger"
)

// TestPolyglotApp plays an app in another language: it is only an HTTP
// server. The runtime probes it, delivers the "orders" input to it, retries
// and dead-letters what it refuses, and leaves alone the input it does not
// subscribe to.
func TestPolyglotApp(t *testing.T) {
	orders, ignored, dead := unique(t, "orders"), unique(t, "ignored"), unique(t, "dead")
	set := loadComponents(t,
		memoryComponent("orders", orders, map[string]string{"route": "/incoming/orders", "maxAttempts": "2",
			"initialInterval": "1ms", "maxInterval": "2ms", "deadLetter": "dead"}),
		memoryComponent("ignored", ignored, map[string]string{"direction": "input"}),
		memoryComponent("dead", dead, map[string]string{"direction": "output"}),
	)
	var mu sync.Mutex
	got := map[string]int{}
	handled := make(chan string, 10)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("dapr-api-token") != "app-secret" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodOptions && r.URL.Path == "/incoming/orders":
			w.WriteHeader(http.StatusOK)
		case r.Method == http.MethodOptions:
			http.NotFound(w, r)
		case r.Method == http.MethodPost && r.URL.Path == "/incoming/orders":
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got[string(body)]++
			mu.Unlock()
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Source") != "test" {
				t.Errorf("headers %v", r.Header)
			}
			if strings.Contains(string(body), "refuse") {
				http.Error(w, "no thanks", http.StatusInternalServerError)
				return
			}
			handled <- string(body)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
		}
	}))
	defer app.Close()

	ctx := context.Background()
	fns, err := trigger.AppFunctions(ctx, set, trigger.AppOptions{URL: app.URL, Token: "app-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].Trigger != "orders" {
		t.Fatalf("functions %+v, want one on orders (ignored answered 404 to the probe)", fns)
	}
	startRuntime(t, set, fns...)
	memory.Publish(orders,
		&bindings.Message{Data: []byte(`{"id":1}`), ContentType: "application/json", Metadata: map[string]string{"Source": "test"}},
		&bindings.Message{Data: []byte(`{"id":2,"refuse":true}`), ContentType: "application/json", Metadata: map[string]string{"Source": "test"}},
	)
	if body := <-handled; body != `{"id":1}` {
		t.Fatalf("app handled %s", body)
	}
	// The refused message is tried twice, then dead-lettered.
	probe, _, err := bindings.OpenInput(ctx, bindings.Config{Name: "probe", Type: "bindings.memory", Metadata: map[string]string{"queue": dead}})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, err := probe.Receive(rctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Error    string
		Attempts int
		Data     []byte
	}
	if err := json.Unmarshal(msgs[0].Data, &env); err != nil {
		t.Fatal(err)
	}
	if string(env.Data) != `{"id":2,"refuse":true}` || env.Attempts != 2 || !strings.Contains(env.Error, "500") {
		t.Errorf("dead letter %+v", env)
	}
	mu.Lock()
	defer mu.Unlock()
	if got[`{"id":2,"refuse":true}`] != 2 || got[`{"id":1}`] != 1 {
		t.Errorf("app saw %v", got)
	}
	if memory.Len(ignored) != 0 {
		t.Error("something was published to the ignored input")
	}
}

// TestPolyglotWaitsForTheApp: the app starts after the runtime, as it does
// beside it in a pod; start-up waits for it instead of failing.
func TestPolyglotWaitsForTheApp(t *testing.T) {
	set := loadComponents(t, memoryComponent("orders", unique(t, "orders"), nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens until the app starts below
	probed := make(chan struct{})
	type result struct {
		fns []trigger.Function
		err error
	}
	got := make(chan result, 1)
	go func() {
		fns, err := trigger.AppFunctions(context.Background(), set, trigger.AppOptions{URL: "http://" + addr}, nil)
		got <- result{fns, err}
	}()
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			select {
			case <-probed:
			default:
				close(probed)
			}
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r := <-got
	if r.err != nil || len(r.fns) != 1 {
		t.Fatalf("AppFunctions = %v, %v; want one function once the app listens", r.fns, r.err)
	}
}
