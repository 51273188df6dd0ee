package dev

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
)

// The dev API, on --addr: the Dapr-compatible bindings API for every
// binding of every function (memory queues are invoked here, on the dev
// broker; other bindings through the first function that has them), the
// status of the functions, and their webhooks.

// maxBody bounds an invoke request, as the runtime does.
const maxBody = 16 << 20

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1.0/bindings/{name}", s.serveInvoke)
	mux.HandleFunc("PUT /v1.0/bindings/{name}", s.serveInvoke)
	mux.HandleFunc("GET /v1.0/dev/status", s.serveStatus)
	mux.HandleFunc("POST /v1.0/dev/events", s.serveEventsIn)
	mux.HandleFunc("GET /v1.0/dev/events", s.serveEventsStream)
	mux.HandleFunc("GET /v1.0/dev/events/recent", s.serveEventsRecent)
	mux.HandleFunc("GET /v1.0/dev/samples", s.serveSamples)
	mux.HandleFunc("GET /v1.0/dev/samples/{binding}", s.serveSample)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	s.dashboardRoutes(mux)
	mux.HandleFunc("/", s.serveWebhook)
	return mux
}

// FunctionInfo is one function as GET /v1.0/dev/status shows it.
type FunctionInfo struct {
	Name       string `json:"name"`
	Package    string `json:"package"`
	Components string `json:"components"`
	Addr       string `json:"addr,omitempty"` // its own HTTP server
	PID        int    `json:"pid,omitempty"`
	Trigger    string `json:"trigger,omitempty"`
	// Restarts counts the hot reloads and restarts since tether dev began.
	Restarts int `json:"restarts"`
	// LastError is the last failed generate or build, kept until one works.
	LastError string `json:"lastError,omitempty"`
}

// Status is what GET /v1.0/dev/status answers.
type Status struct {
	Broker    string         `json:"broker"`
	State     string         `json:"state"`
	Functions []FunctionInfo `json:"functions"`
}

func (s *server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.status())
}

type invokeRequest struct {
	Data      json.RawMessage   `json:"data"`
	Metadata  map[string]string `json:"metadata"`
	Operation string            `json:"operation"`
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorCode": code, "message": msg})
}

func (s *server) serveInvoke(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("name")
	b, p := s.binding(name)
	switch {
	case b == nil:
		writeAPIError(w, http.StatusNotFound, "ERR_INVOKE_OUTPUT_BINDING",
			fmt.Sprintf("no function has a component %q (bindings: %s)", name, strings.Join(s.bindingNames(), ", ")))
		return
	case b.queue == "":
		// Not a memory queue: the function that has it invokes it.
		if p == nil {
			writeAPIError(w, http.StatusServiceUnavailable, "ERR_INVOKE_OUTPUT_BINDING", fmt.Sprintf("%s: its function %s is not running", name, b.function))
			return
		}
		target, _ := url.Parse("http://" + p.addr)
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "read body: "+err.Error())
		return
	}
	var in invokeRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "body: "+err.Error())
		return
	}
	if in.Operation == "" {
		writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "operation is required")
		return
	}
	// As the runtime's API: a JSON string's content is the bytes, anything
	// else its JSON text.
	data := []byte(in.Data)
	var str string
	if len(data) > 0 && data[0] == '"' && json.Unmarshal(data, &str) == nil {
		data = []byte(str)
	}
	if string(data) == "null" {
		data = nil
	}
	out, err := s.queueOutput(b.queue)
	if err == nil {
		var resp *bindings.InvokeResponse
		resp, err = out.Invoke(req.Context(), &bindings.InvokeRequest{
			Operation: bindings.Operation(in.Operation), Data: data, Metadata: in.Metadata,
			ContentType: in.Metadata["contentType"],
		})
		if err == nil {
			if resp == nil || resp.Data == nil {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if resp.ContentType != "" {
				w.Header().Set("Content-Type", resp.ContentType)
			}
			_, _ = w.Write(resp.Data)
			return
		}
	}
	status := http.StatusInternalServerError
	if errors.Is(err, bindings.ErrUnsupportedOperation) {
		status = http.StatusBadRequest
	}
	writeAPIError(w, status, "ERR_INVOKE_OUTPUT_BINDING", err.Error())
}

// queueOutput opens (once) an output on a queue of the dev broker, which
// lives in this process.
func (s *server) queueOutput(queue string) (bindings.Output, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.outputs[queue]; o != nil {
		return o, nil
	}
	o, _, err := bindings.OpenOutput(s.ctx, bindings.Config{Name: queue, Type: memory.TypeName, Metadata: map[string]string{"queue": queue}})
	if err != nil {
		return nil, err
	}
	s.outputs[queue] = o
	return o, nil
}

// serveWebhook passes a request for any other path to the functions
// triggered by webhooks (bindings.http), first one that knows the route.
func (s *server) serveWebhook(w http.ResponseWriter, req *http.Request) {
	var hooks []*process
	s.mu.Lock()
	for _, f := range s.fns {
		if p := s.procs[f.name]; p != nil && f.webhook {
			hooks = append(hooks, p)
		}
	}
	s.mu.Unlock()
	if len(hooks) == 0 {
		http.Error(w, "tether dev: no function is triggered by a webhook (bindings.http); the dev API is under /v1.0/", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	for i, p := range hooks {
		if i < len(hooks)-1 && !p.hasRoute(req) {
			continue
		}
		target, _ := url.Parse("http://" + p.hooks)
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, req)
		return
	}
}

// hasRoute asks p whether it serves req's path: anything but 404 to an
// OPTIONS probe.
func (p *process) hasRoute(req *http.Request) bool {
	probe, err := http.NewRequestWithContext(req.Context(), http.MethodOptions, "http://"+p.hooks+req.URL.Path, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(probe)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}
