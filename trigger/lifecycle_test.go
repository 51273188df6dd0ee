package trigger

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/memory"
)

// test.hooked is a binding whose behaviour each test sets per component
// name: an input that delivers nothing, an output whose Invoke and Close run
// the test's hooks.
type hooks struct {
	closeInput func()
	invoke     func(ctx context.Context, closed <-chan struct{}) error
}

var hooked sync.Map // component name -> *hooks

func init() {
	bindings.Register(bindings.Type{
		Name: "test.hooked", Version: "v1", Directions: bindings.DirBoth,
		Operations: []bindings.Operation{bindings.OpCreate},
		NewInput: func(_ context.Context, cfg bindings.Config) (bindings.Input, error) {
			return &hookedInput{fakeInput: newFakeInput(), name: cfg.Name}, nil
		},
		NewOutput: func(_ context.Context, cfg bindings.Config) (bindings.Output, error) {
			return &hookedOutput{name: cfg.Name, closed: make(chan struct{})}, nil
		},
	})
}

func hooksOf(name string) *hooks {
	h, _ := hooked.Load(name)
	if h == nil {
		return &hooks{}
	}
	return h.(*hooks)
}

type hookedInput struct {
	*fakeInput
	name string
}

func (h *hookedInput) Close() error {
	if f := hooksOf(h.name).closeInput; f != nil {
		f()
	}
	return h.fakeInput.Close()
}

type hookedOutput struct {
	name      string
	closeOnce sync.Once
	closed    chan struct{}
}

func (o *hookedOutput) Invoke(ctx context.Context, _ *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if f := hooksOf(o.name).invoke; f != nil {
		return nil, f(ctx, o.closed)
	}
	return nil, nil
}

func (o *hookedOutput) Close() error {
	o.closeOnce.Do(func() { close(o.closed) })
	return nil
}

// loadSet writes component files (name: type, metadata as YAML flow
// entries) and loads them.
func loadSet(t *testing.T, comps ...string) *component.Set {
	t.Helper()
	docs := make([]string, len(comps))
	for i, c := range comps {
		name, rest, _ := strings.Cut(c, ":")
		typ, md, _ := strings.Cut(rest, " ")
		docs[i] = fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata:\n%s", name, typ, md)
	}
	return bindingtest.LoadComponents(t, docs...)
}

func uniqueName(base string) string { return fmt.Sprintf("%s-%d", base, rand.Uint64()) }

func memoryIn(queue string) string {
	return fmt.Sprintf("in:bindings.memory   - {name: queue, value: %q}\n  - {name: direction, value: input}\n", queue)
}

func noop(context.Context, *bindings.Message) (Result, error) { return Result{}, nil }

// TestShutdownAfterFailedStart: a Start that fails half-way closed what it
// had opened; a Shutdown after it (deferred before Start, say) has nothing
// left to do and must neither panic nor close anything twice.
func TestShutdownAfterFailedStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	set := loadSet(t, memoryIn(uniqueName("q")))
	rt, err := New(Options{Components: set, ControlAddr: taken.Addr().String(), Functions: []Function{{Name: "fn", Trigger: "in", Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err == nil {
		t.Fatal("Start on a taken address succeeded")
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start: %v", err)
	}
}

// TestStartAfterShutdown: once Shutdown was called, Start refuses: a runtime
// started then could never be shut down (Shutdown only runs once).
func TestStartAfterShutdown(t *testing.T) {
	set := loadSet(t, memoryIn(uniqueName("q")))
	rt, err := New(Options{Components: set, Functions: []Function{{Name: "fn", Trigger: "in", Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err == nil {
		rt.closeAll()
		t.Fatal("Start after Shutdown succeeded; nothing can stop this runtime now")
	}
}

// TestSecondShutdownWaits: Shutdown called twice (a signal handler and a
// deferred call, say) returns, both times, only once the runtime is shut
// down; the second call does not return early while the first still drains.
func TestSecondShutdownWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := uniqueName("q")
		set := loadSet(t, memoryIn(q))
		started, release := make(chan struct{}), make(chan struct{})
		rt, err := New(Options{Components: set, ShutdownGrace: time.Hour, Functions: []Function{{Name: "fn", Trigger: "in",
			Handler: func(context.Context, *bindings.Message) (Result, error) {
				close(started)
				<-release
				return Result{}, nil
			}}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		memory.Publish(q, &bindings.Message{Data: []byte("m")})
		<-started
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { first <- rt.Shutdown(context.Background()) }()
		synctest.Wait() // the first Shutdown is draining: the handler still runs
		go func() { second <- rt.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-second:
			t.Errorf("the second Shutdown returned (%v) while the first was still draining", err)
			second <- err
		default:
		}
		close(release)
		if err := <-first; err != nil {
			t.Error(err)
		}
		if err := <-second; err != nil {
			t.Error(err)
		}
	})
}

// TestShutdownKeepsOutputsForTheHTTPAPI: on shutdown the HTTP API stops
// before the outputs close, so that an output invoked through
// /v1.0/bindings (by a polyglot app finishing its work) is never closed
// under the call.
func TestShutdownKeepsOutputsForTheHTTPAPI(t *testing.T) {
	out := uniqueName("out")
	entered, serverStopping := make(chan struct{}), make(chan struct{})
	hooked.Store(out, &hooks{invoke: func(_ context.Context, closed <-chan struct{}) error {
		close(entered)
		select {
		case <-closed:
			return errors.New("output closed while the call was running")
		case <-serverStopping:
			return nil
		}
	}})
	defer hooked.Delete(out)
	set := loadSet(t, memoryIn(uniqueName("q")), out+":test.hooked   - {name: direction, value: output}\n")
	rt, err := New(Options{Components: set, ControlAddr: "127.0.0.1:0", Functions: []Function{{Name: "fn", Trigger: "in", Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.listeners[0].server.RegisterOnShutdown(func() { close(serverStopping) })
	status := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+rt.ControlAddr()+"/v1.0/bindings/"+out, "application/json", strings.NewReader(`{"operation":"create","data":"x"}`))
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-entered
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if code := <-status; code != http.StatusNoContent {
		t.Errorf("the invoke in flight at shutdown answered %d, want 204", code)
	}
}

// TestShutdownServesAPIWhileClosing: while Shutdown closes the bindings and
// waits for the HTTP requests in flight, those requests are served; none
// waits for Shutdown itself (which would hold up the server's drain and fail
// Shutdown).
func TestShutdownServesAPIWhileClosing(t *testing.T) {
	in := uniqueName("in")
	var rt *Runtime
	status := make(chan string, 1)
	hooked.Store(in, &hooks{closeInput: func() {
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.Get("http://" + rt.ControlAddr() + "/v1.0/status")
		if err != nil {
			status <- err.Error()
			return
		}
		resp.Body.Close()
		status <- resp.Status
	}})
	defer hooked.Delete(in)
	set := loadSet(t, in+":test.hooked   - {name: direction, value: input}\n")
	rt, err := New(Options{Components: set, ControlAddr: "127.0.0.1:0", Functions: []Function{{Name: "fn", Trigger: in, Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if s := <-status; s != "200 OK" {
		t.Errorf("GET /v1.0/status during shutdown: %s, want 200 OK", s)
	}
}

// TestShutdownClosesUnusedConnections: a connection on which no request
// came (a client's spare, which net/http's Transport dials while waiting
// for a busy one) does not hold up shutdown: http.Server.Shutdown alone
// waits for it until it is 5 s old, past the runtime's wait, and failed
// Shutdown with a deadline error.
func TestShutdownClosesUnusedConnections(t *testing.T) {
	set := loadSet(t, memoryIn(uniqueName("q")))
	rt, err := New(Options{Components: set, ControlAddr: "127.0.0.1:0", Functions: []Function{{Name: "fn", Trigger: "in", Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	spare, err := net.Dial("tcp", rt.ControlAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	// A request on another connection makes sure the server accepted the
	// spare one (connections are accepted in order) before shutdown.
	resp, err := http.Get("http://" + rt.ControlAddr() + "/v1.0/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown with an unused connection open: %v", err)
	}
	if _, err := spare.Read(make([]byte, 1)); err == nil {
		t.Error("the unused connection is still open after Shutdown")
	}
}
