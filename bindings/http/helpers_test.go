package http_test

import (
	"context"
	"io"
	"log/slog"
	nethttp "net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/trigger"
)

// startRuntime runs the functions on a real runtime listening on loopback
// and returns the base URL of its webhooks.
func startRuntime(t testing.TB, set *component.Set, fns ...trigger.Function) string {
	t.Helper()
	public, _ := startRuntimeAPI(t, set, fns...)
	return public
}

// startRuntimeAPI is startRuntime, returning the base URL of the control
// API too.
func startRuntimeAPI(t testing.TB, set *component.Set, fns ...trigger.Function) (public, control string) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("TETHER_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt, err := trigger.New(trigger.Options{Components: set, Functions: fns, PublicAddr: "127.0.0.1:0", ControlAddr: "127.0.0.1:0", ShutdownGrace: 5 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return "http://" + rt.PublicAddr(), "http://" + rt.ControlAddr()
}

// calls records what a handler was called with.
type calls struct {
	mu   sync.Mutex
	msgs []*bindings.Message
	seen chan struct{} // one send per call
}

func newCalls() *calls { return &calls{seen: make(chan struct{}, 1000)} }

func (c *calls) add(m *bindings.Message) {
	cp := *m
	cp.Data = append([]byte(nil), m.Data...)
	c.mu.Lock()
	c.msgs = append(c.msgs, &cp)
	c.mu.Unlock()
	c.seen <- struct{}{}
}

func (c *calls) payloads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p []string
	for _, m := range c.msgs {
		p = append(p, string(m.Data))
	}
	return p
}

func (c *calls) last() *bindings.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[len(c.msgs)-1]
}

// post sends a request and returns the answer with its body read.
func post(t testing.TB, url, contentType, body string, header ...string) (*nethttp.Response, string) {
	t.Helper()
	req, err := nethttp.NewRequest(nethttp.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t testing.TB, req *nethttp.Request) (*nethttp.Response, string) {
	t.Helper()
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
