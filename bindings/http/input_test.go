package http_test

import (
	"context"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/trigger"
)

// webhook starts a runtime with one function triggered by an HTTP input
// with the given metadata, and returns the runtime's base URL.
func webhook(t *testing.T, md map[string]string, h trigger.Handler) string {
	t.Helper()
	if md["direction"] == "" {
		md["direction"] = "input"
	}
	set := bindingtest.LoadComponents(t, bindingtest.ComponentYAML("hook", tetherhttp.TypeName, md))
	return startRuntime(t, set, trigger.Function{Name: "hook", Trigger: "hook", Handler: h})
}

func TestWebhookRequestAndReply(t *testing.T) {
	c := newCalls()
	base := webhook(t, map[string]string{"webhookPath": "/hooks/orders", "methods": "POST, PUT"},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			var order struct{ ID int }
			if err := json.Unmarshal(m.Data, &order); err != nil {
				return trigger.Result{}, functions.Permanent(err)
			}
			if order.ID == 0 {
				return trigger.Result{}, nil // no answer: 204
			}
			return trigger.Result{Data: []byte(`{"accepted":` + strconv.Itoa(order.ID) + `}`), ContentType: "application/json",
				Metadata: map[string]string{"X-Order": strconv.Itoa(order.ID), "Content-Length": "1"}}, nil
		})

	resp, body := post(t, base+"/hooks/orders?page=2&tag=a&tag=b", "application/json", `{"id":42}`,
		"X-Request-Id", "r-1", "X-Custom", "one", "Http.Method", "FORGED")
	if resp.StatusCode != 200 || body != `{"accepted":42}` || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Order") != "42" {
		t.Fatalf("answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	m := c.last()
	for k, want := range map[string]string{
		"content-type": "application/json", "x-request-id": "r-1", "x-custom": "one",
		"http.method": "POST", "http.path": "/hooks/orders", "http.query.page": "2", "http.query.tag": "a,b",
		"host": strings.TrimPrefix(base, "http://"),
	} {
		if got := m.Metadata[k]; got != want {
			t.Errorf("metadata %q = %q, want %q", k, got, want)
		}
	}
	if m.Metadata["http.remoteAddr"] == "" {
		t.Error("no http.remoteAddr")
	}
	if m.ContentType != "application/json" || m.ID == "" || m.DeliveryCount != 1 || m.Time.IsZero() {
		t.Errorf("message: content type %q, id %q, delivery %d, time %v", m.ContentType, m.ID, m.DeliveryCount, m.Time)
	}

	// No result: 204.
	req, _ := nethttp.NewRequest(nethttp.MethodPut, base+"/hooks/orders", strings.NewReader(`{"id":0}`))
	if resp, body := do(t, req); resp.StatusCode != 204 || body != "" {
		t.Errorf("no result: %d %q, want 204", resp.StatusCode, body)
	}
	// A permanent failure: the runtime's 422, not retried by a sender.
	if resp, _ := post(t, base+"/hooks/orders", "application/json", `not json`); resp.StatusCode != 422 {
		t.Errorf("permanent failure: %d, want 422", resp.StatusCode)
	}
	// Methods outside the list: 405 from the router.
	req, _ = nethttp.NewRequest(nethttp.MethodGet, base+"/hooks/orders", nil)
	if resp, _ := do(t, req); resp.StatusCode != nethttp.StatusMethodNotAllowed {
		t.Errorf("GET = %d, want 405", resp.StatusCode)
	}
	if got := c.payloads(); len(got) != 3 {
		t.Errorf("handler ran %d times (%q), want 3", len(got), got)
	}
}

// TestFailureAsksForRetry: a failure that the trigger would retry answers
// 503 with the backoff as Retry-After, so that the sender sends again.
func TestFailureAsksForRetry(t *testing.T) {
	var attempts atomic.Int32
	base := webhook(t, map[string]string{"initialInterval": "3s", "maxInterval": "3s", "jitter": "0"},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			switch attempts.Add(1) {
			case 1:
				return trigger.Result{}, errors.New("database down")
			case 2:
				return trigger.Result{}, functions.RetryAfter(42*time.Second, errors.New("rate limited"))
			}
			return trigger.Result{Data: []byte("done")}, nil
		})
	resp, _ := post(t, base+"/hook", "text/plain", "x")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("failed attempt: %d, Retry-After %q; want 503 and 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, _ = post(t, base+"/hook", "text/plain", "x")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "42" {
		t.Errorf("RetryAfter(42s): %d, Retry-After %q; want 503 and 42", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, body := post(t, base+"/hook", "text/plain", "x"); resp.StatusCode != 200 || body != "done" {
		t.Errorf("the sender's retry: %d %q", resp.StatusCode, body)
	}
}

// TestResponseTimeout: a handler slower than responseTimeout gets its
// sender a 503; the sender's retry is then handled normally.
func TestResponseTimeout(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	base := webhook(t, map[string]string{"responseTimeout": "100ms"},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			if string(m.Data) == "slow" {
				started <- struct{}{}
				<-release
			}
			return trigger.Result{Data: []byte("ok")}, nil
		})
	defer close(release)
	resp, _ := post(t, base+"/hook", "text/plain", "slow")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("slow handler: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	<-started // it did run
	if resp, body := post(t, base+"/hook", "text/plain", "fast"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("next request: %d %q", resp.StatusCode, body)
	}
}

func TestBodySizeLimit(t *testing.T) {
	c := newCalls()
	base := webhook(t, map[string]string{"maxRequestBodySize": "1Ki"},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			return trigger.Result{}, nil
		})
	big := strings.Repeat("x", 1025)
	if resp, _ := post(t, base+"/hook", "text/plain", big); resp.StatusCode != nethttp.StatusRequestEntityTooLarge {
		t.Errorf("1025 bytes with Content-Length: %d, want 413", resp.StatusCode)
	}
	// Without a Content-Length (chunked), the limit holds while reading.
	req, _ := nethttp.NewRequest(nethttp.MethodPost, base+"/hook", struct{ *strings.Reader }{strings.NewReader(big)})
	req.ContentLength = -1
	if resp, _ := do(t, req); resp.StatusCode != nethttp.StatusRequestEntityTooLarge {
		t.Errorf("1025 bytes chunked: %d, want 413", resp.StatusCode)
	}
	exact := strings.Repeat("y", 1024)
	if resp, _ := post(t, base+"/hook", "text/plain", exact); resp.StatusCode != 204 {
		t.Errorf("1024 bytes: %d, want 204", resp.StatusCode)
	}
	if got := c.payloads(); len(got) != 1 || got[0] != exact {
		t.Errorf("handler saw %d payloads; want only the one within the limit", len(got))
	}
}

func TestCloudEvents(t *testing.T) {
	c := newCalls()
	base := webhook(t, map[string]string{},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			c.add(m)
			return trigger.Result{}, nil
		})
	check := func(mode string, wantData, wantType string) {
		t.Helper()
		m := c.last()
		if string(m.Data) != wantData || m.ContentType != wantType || m.ID != "ev-1" {
			t.Errorf("%s: data %q, content type %q, id %q", mode, m.Data, m.ContentType, m.ID)
		}
		for k, want := range map[string]string{
			"ce-id": "ev-1", "ce-source": "/orders", "ce-type": "order.created", "ce-specversion": "1.0",
			"ce-subject": "o/42", "ce-time": "2026-11-25T10:30:00Z", "ce-tenant": "acme corp",
		} {
			if got := m.Metadata[k]; got != want {
				t.Errorf("%s: metadata %q = %q, want %q", mode, k, got, want)
			}
		}
		if m.Time.UTC().Format("15:04") != "10:30" {
			t.Errorf("%s: Time %v, want the event's time", mode, m.Time)
		}
	}

	// Binary mode: attributes in ce-* headers (values percent-encoded).
	resp, _ := post(t, base+"/hook", "application/json", `{"id":42}`,
		"Ce-Specversion", "1.0", "Ce-Id", "ev-1", "Ce-Source", "/orders", "Ce-Type", "order.created",
		"Ce-Subject", "o/42", "Ce-Time", "2026-11-25T10:30:00Z", "Ce-Tenant", "acme%20corp")
	if resp.StatusCode != 204 {
		t.Fatalf("binary mode: %d", resp.StatusCode)
	}
	check("binary", `{"id":42}`, "application/json")

	// Structured mode: the whole event in the body.
	resp, _ = post(t, base+"/hook", "application/cloudevents+json; charset=utf-8",
		`{"specversion":"1.0","id":"ev-1","source":"/orders","type":"order.created","subject":"o/42",
		  "time":"2026-11-25T10:30:00Z","tenant":"acme corp","datacontenttype":"text/plain","data":"hello"}`)
	if resp.StatusCode != 204 {
		t.Fatalf("structured mode: %d", resp.StatusCode)
	}
	check("structured", "hello", "text/plain")
	if ct := c.last().Metadata["content-type"]; !strings.HasPrefix(ct, "application/cloudevents+json") {
		t.Errorf("the request's own content-type header %q is kept in metadata", ct)
	}

	// data_base64 arrives as bytes.
	post(t, base+"/hook", "application/cloudevents+json",
		`{"specversion":"1.0","id":"ev-2","source":"/s","type":"t","datacontenttype":"application/octet-stream","data_base64":"AP8="}`)
	if m := c.last(); string(m.Data) != "\x00\xff" || m.ContentType != "application/octet-stream" {
		t.Errorf("data_base64: %q %q", m.Data, m.ContentType)
	}

	// Not a valid event: 400 before the handler.
	before := len(c.payloads())
	if resp, _ := post(t, base+"/hook", "application/cloudevents+json", `{"specversion":"1.0","id":"x"}`); resp.StatusCode != 400 {
		t.Errorf("invalid structured event: %d, want 400", resp.StatusCode)
	}
	if len(c.payloads()) != before {
		t.Error("the handler ran for an invalid event")
	}
}

// TestWebhookConcurrencyBound: requests are handled on their own
// goroutines, yet never more at once than maxConcurrency; those beyond it
// wait for a handler to be free, and are then handled.
func TestWebhookConcurrencyBound(t *testing.T) {
	const bound, requests = 2, 6
	var running, most atomic.Int32
	started, release := make(chan struct{}, requests), make(chan struct{})
	base := webhook(t, map[string]string{"maxConcurrency": strconv.Itoa(bound)},
		func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			n := running.Add(1)
			for {
				if old := most.Load(); n <= old || most.CompareAndSwap(old, n) {
					break
				}
			}
			started <- struct{}{}
			<-release
			running.Add(-1)
			return trigger.Result{}, nil
		})
	statuses := make(chan int, requests)
	for range requests {
		go func() {
			resp, err := nethttp.Post(base+"/hook", "text/plain", strings.NewReader("x"))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for range bound {
		<-started
	}
	close(release)
	for range requests {
		if s := <-statuses; s != nethttp.StatusNoContent {
			t.Errorf("status %d, want 204", s)
		}
	}
	if m := most.Load(); m > bound {
		t.Errorf("%d handlers ran at once, maxConcurrency is %d", m, bound)
	}
	if n := len(started); n != requests-bound {
		t.Errorf("%d more handlers started after the release, want %d", n, requests-bound)
	}
}
