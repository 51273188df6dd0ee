package http_test

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	tetherhttp "github.com/tetherfn/tether/bindings/http"
)

// directInput opens a webhook input with md, handled by h on each
// request's goroutine (bindings.Direct), served by a test server.
func directInput(t *testing.T, md map[string]string, h bindings.DirectHandler) (bindings.Input, string) {
	t.Helper()
	md["direction"] = "input"
	in, _, err := bindings.OpenInput(context.Background(), bindings.Config{Name: "hook", Type: tetherhttp.TypeName, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	in.(bindings.Direct).SetDirect(h)
	router := in.(bindings.Router)
	srv := httptest.NewServer(router)
	t.Cleanup(srv.Close)
	path, _ := router.Route()
	return in, srv.URL + path
}

// postAsync posts body to url and sends the response's status and body.
func postAsync(url, body string) <-chan string {
	got := make(chan string, 1)
	go func() {
		resp, err := nethttp.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- resp.Status + " " + strings.TrimSpace(string(b))
	}()
	return got
}

// TestDirectWaitEndsWithTheTimeoutAnswer: once a request waiting for a
// worker is answered 503 at responseTimeout, the wait's context ends, so
// that a worker freed just then does not start the handler of a request
// already answered (and whose sender retries).
func TestDirectWaitEndsWithTheTimeoutAnswer(t *testing.T) {
	waitEnded := make(chan error, 1)
	_, url := directInput(t, map[string]string{"responseTimeout": "50ms"},
		func(ctx context.Context, m *bindings.Message, wait time.Duration) error {
			// Every worker busy: wait for one, longer than responseTimeout.
			select {
			case <-ctx.Done():
				waitEnded <- ctx.Err()
				return ctx.Err()
			case <-time.After(time.Minute):
				waitEnded <- nil
				return bindings.ErrBusy
			}
		})
	if got := <-postAsync(url, "x"); !strings.HasPrefix(got, "503") {
		t.Errorf("response %q, want 503", got)
	}
	if err := <-waitEnded; err == nil {
		t.Error("the wait for a worker went on after the request was answered 503")
	}
}

// TestDirectRequestAnsweredAtClose: a request whose handler still runs
// when the input closes (past the runtime's grace) is answered 503 at
// once, for its sender to retry, as a queued one is.
func TestDirectRequestAnsweredAtClose(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	in, url := directInput(t, map[string]string{"responseTimeout": "10m"},
		func(ctx context.Context, m *bindings.Message, wait time.Duration) error {
			close(started)
			<-release // a handler that ignores its context
			return nil
		})
	got := postAsync(url, "x")
	<-started
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if !strings.HasPrefix(r, "503") || !strings.Contains(r, "shutting down") {
			t.Errorf("response %q, want 503 shutting down", r)
		}
	case <-time.After(time.Minute): // a bound, not a timing: nothing answers it otherwise
		t.Error("the request was not answered after Close")
	}
}
