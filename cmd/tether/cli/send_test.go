package cli_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// daprAPI records the invocations it receives and answers as the runtime
// does.
type daprAPI struct {
	mu    sync.Mutex
	calls []apiCall
}

type apiCall struct {
	path, token string
	body        map[string]json.RawMessage
}

func (a *daprAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(raw, &body)
	a.mu.Lock()
	a.calls = append(a.calls, apiCall{path: r.URL.Path, token: r.Header.Get("dapr-api-token"), body: body})
	a.mu.Unlock()
	if r.Method == http.MethodGet {
		switch r.URL.Path {
		case "/v1.0/dev/samples/orders": // tether dev
			w.Write([]byte(`{"function":"store","binding":"orders","type":"Order","contentType":"application/json","schema":{"type":"object"},"example":"{\"id\":\"id\"}"}`))
		case "/v1.0/status": // a function's own API, without /v1.0/dev/
			w.Write([]byte(`{"functions":[{"name":"shout","trigger":{"name":"words"},"sample":{"type":"string","contentType":"text/plain; charset=utf-8","example":"hello"}}]}`))
		default:
			http.NotFound(w, r)
		}
		return
	}
	switch op := string(body["operation"]); {
	case r.URL.Path == "/v1.0/bindings/nightly" && op == `"fire"`: // a cron trigger
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"2026-12-06T18:00:00Z"}`))
		return
	case op == `"fire"` && r.URL.Path != "/v1.0/bindings/nope": // as the runtime answers for an output
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"errorCode":"ERR_INVOKE_OUTPUT_BINDING","message":"orders (bindings.memory) has no operation \"fire\""}`))
		return
	}
	switch r.URL.Path {
	case "/v1.0/bindings/orders", "/v1.0/bindings/words":
		w.WriteHeader(http.StatusNoContent)
	case "/v1.0/bindings/files":
		w.Header().Set("metadata.size", "5")
		w.Write([]byte("hello"))
	case "/v1.0/bindings/devnope": // tether dev's answer: it names the bindings
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errorCode":"ERR_INVOKE_OUTPUT_BINDING","message":"no function has a component \"devnope\" (bindings: files, orders)"}`))
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"errorCode":"ERR_INVOKE_OUTPUT_BINDING","message":"output binding nope not found"}`))
	}
}

func (a *daprAPI) last() apiCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[len(a.calls)-1]
}

func TestSend(t *testing.T) {
	api := &daprAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"order.json": `{"id": "o-1"}`})

	code, stdout, stderr := execCLI(t, dir, "send", "orders", "--addr", addr, "--data", "@order.json", "--metadata", "partitionKey=c-7", "--token", "s3cret")
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	c := api.last()
	// The data arrives byte for byte, its spaces too.
	if c.path != "/v1.0/bindings/orders" || c.token != "s3cret" || string(c.body["operation"]) != `"create"` ||
		string(c.body["data"]) != `{"id": "o-1"}` || string(c.body["metadata"]) != `{"contentType":"application/json","partitionKey":"c-7"}` {
		t.Errorf("the API got %s %q %s", c.path, c.token, c.body)
	}

	// Text is sent as a JSON string, which the API delivers as it is; the
	// answer goes to stdout, its metadata to stderr.
	code, stdout, stderr = execCLI(t, dir, "send", "files", "--addr", addr, "--data", "plain text", "--operation", "get")
	if code != 0 || stdout != "hello\n" || !strings.Contains(stderr, "Metadata.size: 5") {
		t.Errorf("get: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if c := api.last(); string(c.body["data"]) != `"plain text"` || string(c.body["operation"]) != `"get"` || c.body["metadata"] != nil {
		t.Errorf("the API got %s", c.body)
	}

	code, _, stderr = execCLI(t, dir, "send", "nope", "--addr", addr, "--data", "{}")
	if code != 1 || !strings.Contains(stderr, "nope answered 404 Not Found: ERR_INVOKE_OUTPUT_BINDING: output binding nope not found") ||
		!strings.Contains(stderr, "/v1.0/status") {
		t.Errorf("unknown binding: exit %d, stderr %q", code, stderr)
	}

	// tether dev has no /v1.0/status to point at: its answer lists the
	// bindings.
	code, _, stderr = execCLI(t, dir, "send", "devnope", "--addr", addr, "--data", "{}")
	if code != 1 || !strings.Contains(stderr, "(bindings: files, orders)") || strings.Contains(stderr, "/v1.0/status") {
		t.Errorf("unknown binding of tether dev: exit %d, stderr %q", code, stderr)
	}

	// Creating a message without --data is a mistake, not an empty message.
	// The usage error names its command once: not "tether: tether send:".
	code, _, stderr = execCLI(t, dir, "send", "orders", "--addr", addr)
	if code != 1 || !strings.HasPrefix(stderr, "tether send: --data is required to create a message") {
		t.Errorf("no --data: exit %d, stderr %q", code, stderr)
	}

	// Without --data, a cron trigger fires: the API answers its tick's id.
	code, stdout, stderr = execCLI(t, dir, "send", "nightly", "--addr", addr)
	if code != 0 || !strings.Contains(stdout, `"id":"2026-12-06T18:00:00Z"`) || string(api.last().body["operation"]) != `"fire"` {
		t.Errorf("cron: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// --sample sends the example of the input of the function the binding
	// triggers: from tether dev's samples, else from a function's status.
	code, _, stderr = execCLI(t, dir, "send", "orders", "--addr", addr, "--sample")
	if c := api.last(); code != 0 || string(c.body["data"]) != `{"id":"id"}` || string(c.body["metadata"]) != `{"contentType":"application/json"}` ||
		!strings.Contains(stderr, "the sample of store's input (Order)") {
		t.Errorf("--sample from tether dev: exit %d, stderr %q, the API got %s", code, stderr, c.body)
	}
	code, _, stderr = execCLI(t, dir, "send", "words", "--addr", addr, "--sample")
	if c := api.last(); code != 0 || string(c.body["data"]) != `"hello"` || string(c.body["metadata"]) != `{"contentType":"text/plain; charset=utf-8"}` {
		t.Errorf("--sample from a function's status: exit %d, stderr %q, the API got %s", code, stderr, c.body)
	}
	code, _, stderr = execCLI(t, dir, "send", "nope", "--addr", addr, "--sample")
	if code != 1 || !strings.Contains(stderr, "no function of the API at") {
		t.Errorf("--sample of a binding without one: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = execCLI(t, dir, "send", "orders", "--addr", addr, "--sample", "--data", "{}")
	if code != 1 || !strings.Contains(stderr, "--sample and --data") {
		t.Errorf("--sample with --data: exit %d, stderr %q", code, stderr)
	}

	code, _, stderr = execCLI(t, dir, "send", "orders", "--addr", addr, "--metadata", "novalue")
	if code != 1 || !strings.Contains(stderr, `--metadata "novalue": want key=value`) {
		t.Errorf("bad metadata: exit %d, stderr %q", code, stderr)
	}
}

func TestSendToNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	code, _, stderr := execCLI(t, t.TempDir(), "send", "orders", "--addr", addr, "--data", "{}")
	if code != 1 || !strings.Contains(stderr, "nothing listens on "+addr) || !strings.Contains(stderr, "tether run") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
