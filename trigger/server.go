package trigger

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/bodyread"
)

// healthRoutes are the liveness and readiness endpoints and the metrics,
// which every surface but the public one serves.
func (r *Runtime) healthRoutes(m *mux.Router) {
	m.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }).Methods(http.MethodGet)
	m.HandleFunc("/readyz", r.serveReady).Methods(http.MethodGet)
	m.Handle("/metrics", promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{})).Methods(http.MethodGet)

	// Dapr's health endpoints, outside the token check as in Dapr (probes
	// carry no token); Dapr's SDKs poll healthz/outbound before their first
	// call.
	m.HandleFunc("/v1.0/healthz", r.serveDaprHealthz).Methods(http.MethodGet)
	m.HandleFunc("/v1.0/healthz/outbound", r.serveOutbound).Methods(http.MethodGet)
}

// controlRoutes are the control surface: health, metrics and the /v1.0 API.
func (r *Runtime) controlRoutes(m *mux.Router) {
	r.healthRoutes(m)
	api := m.PathPrefix("/v1.0").Subrouter()
	api.Use(r.requireToken)
	api.HandleFunc("/status", r.serveStatus).Methods(http.MethodGet)
	api.HandleFunc("/metadata", r.serveMetadata).Methods(http.MethodGet)
	api.HandleFunc("/metadata/{key}", r.servePutMetadata).Methods(http.MethodPut)
	api.HandleFunc("/shutdown", r.serveShutdown).Methods(http.MethodPost)
	api.HandleFunc("/bindings/{name}", r.serveInvoke).Methods(http.MethodPost, http.MethodPut)
	if r.opts.RecentSpans != nil {
		api.Handle("/traces", r.opts.RecentSpans).Methods(http.MethodGet)
	}
}

func (r *Runtime) controlRouter() http.Handler {
	m := mux.NewRouter()
	r.controlRoutes(m)
	return m
}

// mountRouters returns the public surface's router: the routes of the
// inputs of ds that receive over HTTP (webhooks). It counts them in
// r.webhooks and logs those it did not count before.
func (r *Runtime) mountRouters(ds []*dispatcher) *mux.Router {
	m := mux.NewRouter()
	before := r.webhooks
	r.webhooks = 0
	for _, d := range ds {
		rt, ok := d.in.(bindings.Router)
		if !ok {
			continue
		}
		path, methods := rt.Route()
		route := m.Handle(path, rt)
		if len(methods) > 0 {
			route.Methods(methods...)
		}
		r.webhooks++
		if r.webhooks > before {
			r.logger.Info("webhook route", "binding", d.origin.Binding, "path", path, "methods", methods)
		}
	}
	return m
}

// publicRoutes serve the public router, which Await's functions may
// replace.
func (r *Runtime) publicRoutes(m *mux.Router) { m.NotFoundHandler = http.HandlerFunc(r.servePublic) }

// listen opens the listeners the options ask for: the public one only when
// a webhook is mounted.
func (r *Runtime) listen() error {
	public := r.opts.PublicAddr
	if r.webhooks == 0 {
		public = ""
	}
	ls, err := listen([]surface{
		{name: "control", addr: r.opts.ControlAddr, routes: r.controlRoutes, front: r.controlFront},
		{name: "public", addr: public, routes: r.publicRoutes},
		{name: "probe", addr: r.opts.ProbeAddr, routes: r.healthRoutes},
	}, r.opts.HTTP, r.logger)
	if err != nil {
		return err
	}
	r.listeners = ls
	for _, l := range ls {
		go l.serve(r.logger)
	}
	return nil
}

func (r *Runtime) serveReady(w http.ResponseWriter, req *http.Request) {
	if !r.Ready() || !r.inputsHealthy(req.Context()) {
		http.Error(w, "not ready\n", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// serveDaprHealthz is daprd's /v1.0/healthz: 204 once ready; until then
// (while it waits for the app, during shutdown) daprd's 500 and
// ERR_HEALTH_NOT_READY.
func (r *Runtime) serveDaprHealthz(w http.ResponseWriter, req *http.Request) {
	if !r.Ready() || !r.inputsHealthy(req.Context()) {
		writeAPIError(w, http.StatusInternalServerError, "ERR_HEALTH_NOT_READY", "dapr is not ready")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// healthTimeout bounds an input's Healthy on a probe.
const healthTimeout = time.Second

// inputsHealthy asks every input that can tell (bindings.HealthChecker)
// whether it is connected to its broker, and logs each change of state
// once (probes come every few seconds). The probe's answer carries no
// detail: the probe port is unauthenticated.
func (r *Runtime) inputsHealthy(ctx context.Context) bool {
	ok := true
	ds, _ := r.live()
	for _, d := range ds {
		hc, can := d.in.(bindings.HealthChecker)
		if !can {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, healthTimeout)
		err := hc.Healthy(cctx)
		cancel()
		if was := d.unhealthy.Swap(err != nil); was != (err != nil) {
			if err != nil {
				d.origin.Logger.Warn("input lost its broker: not ready until it is back", "error", err)
			} else {
				d.origin.Logger.Info("input connected to its broker again: ready")
			}
		}
		ok = ok && err == nil
	}
	return ok
}

// serveOutbound is Dapr's healthz/outbound: the output bindings are open
// (once Start succeeded), whether or not the inputs receive yet.
func (r *Runtime) serveOutbound(w http.ResponseWriter, _ *http.Request) {
	if !r.outbound.Load() || r.shutdown.Load() {
		writeAPIError(w, http.StatusInternalServerError, "ERR_OUTBOUND_HEALTH_NOT_READY", "dapr outbound is not ready")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// requireToken enforces Dapr's API token when one is configured.
func (r *Runtime) requireToken(next http.Handler) http.Handler {
	if r.opts.APIToken == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.tokenOK(w, req) {
			next.ServeHTTP(w, req)
		}
	})
}

// tokenOK reports whether req shows the API token, when one is set, and
// answers 401 when it does not.
func (r *Runtime) tokenOK(w http.ResponseWriter, req *http.Request) bool {
	if r.opts.APIToken == "" {
		return true
	}
	if subtle.ConstantTimeCompare([]byte(req.Header.Get("dapr-api-token")), []byte(r.opts.APIToken)) != 1 {
		writeAPIError(w, http.StatusUnauthorized, "ERR_API_UNAUTHORIZED", "missing or wrong dapr-api-token")
		return false
	}
	return true
}

// controlFront serves POST and PUT /v1.0/bindings/{name}, the route an
// app calls for every message it sends, before the router: gorilla/mux
// tries each route's regular expressions in turn and copies the request
// twice to carry the route's variables, which cost as much as the rest of
// the hop (BenchmarkOutputHop). Any other request, or a path the router
// would clean or refuse, goes to next, which serves the same route too.
func (r *Runtime) controlFront(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost || req.Method == http.MethodPut {
			if name, ok := strings.CutPrefix(req.URL.Path, "/v1.0/bindings/"); ok && name != "" && name != "." && name != ".." && !strings.Contains(name, "/") {
				if r.tokenOK(w, req) {
					r.invoke(w, req, name)
				}
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// invokeRequest is Dapr's bindings API body.
type invokeRequest struct {
	Data      json.RawMessage   `json:"data"`
	Metadata  map[string]string `json:"metadata"`
	Operation string            `json:"operation"`
}

// serveInvoke is Dapr's POST/PUT /v1.0/bindings/{name}: the component's
// response data is the body (200), no data is 204, metadata comes back as
// metadata.<key> headers, errors are Dapr's error JSON.
func (r *Runtime) serveInvoke(w http.ResponseWriter, req *http.Request) {
	r.invoke(w, req, mux.Vars(req)["name"])
}

func (r *Runtime) invoke(w http.ResponseWriter, req *http.Request, name string) {
	ob, ok := r.Output(name)
	if !ok {
		if r.fire(w, req, name) {
			return
		}
		msg := "output binding " + name + " not found"
		if c, ok := r.opts.Components.Get(name); ok && !c.Direction.Has(bindings.DirOutput) && c.Binding.Directions.Has(bindings.DirOutput) {
			// Most often a trigger on a real broker that someone wants to
			// put a message on: say how (where the file is, to a caller
			// who showed the token).
			file := "its component file"
			if r.authenticated() {
				file = c.File
			}
			msg = fmt.Sprintf("%s is not opened as an output: its direction is %s; add output to the direction key of %s to send to it from here",
				name, c.Direction, file)
		}
		writeAPIError(w, http.StatusNotFound, "ERR_INVOKE_OUTPUT_BINDING", msg)
		return
	}
	body, status, err := readLimited(w, req, r.opts.MaxRequestBodySize)
	if err != nil {
		writeAPIError(w, status, "ERR_MALFORMED_REQUEST", err.Error())
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
	data := bindingData(in.Data)
	ctx := req.Context()
	if r.tracer != nil {
		ctx = extractHTTP(ctx, req.Header, in.Metadata)
	}
	resp, err := ob.Invoke(ctx, &bindings.InvokeRequest{
		Operation: bindings.Operation(in.Operation), Data: data, Metadata: in.Metadata,
		ContentType: in.Metadata["contentType"],
	})
	if err != nil {
		if errors.Is(err, bindings.ErrUnsupportedOperation) {
			writeAPIError(w, http.StatusBadRequest, "ERR_INVOKE_OUTPUT_BINDING",
				fmt.Sprintf("%s (%s) has no operation %q; it has %s", name, ob.Type.Name, in.Operation, operations(ob.Type)))
			return
		}
		r.invokeFailed(w, req, name, err)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for k, v := range resp.Metadata {
		w.Header().Set("metadata."+k, v)
	}
	if resp.Data == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp.Data)
}

// authenticated reports whether callers of the /v1.0 API have shown the API
// token (requireToken lets no other through when one is set).
func (r *Runtime) authenticated() bool { return r.opts.APIToken != "" }

// invokeFailed answers a failed invocation with 500. A driver's error can
// hold a file path, a SQL statement, a host or a database's own message:
// the detail goes to the log under an error id, and into the body only for
// a caller who showed the API token; others get the id to quote.
func (r *Runtime) invokeFailed(w http.ResponseWriter, req *http.Request, name string, err error) {
	id := errorID()
	r.logger.Warn("invoke output binding failed", "binding", name, "errorId", id, "error", err, "remote", req.RemoteAddr)
	msg := fmt.Sprintf("invoking %s failed (error id %s: the function's log has the detail)", name, id)
	if r.authenticated() {
		msg = fmt.Sprintf("%v (error id %s)", err, id)
	}
	writeAPIError(w, http.StatusInternalServerError, "ERR_INVOKE_OUTPUT_BINDING", msg)
}

// errorID is a short random id tying an error body to its log line.
func errorID() string { return rand.Text()[:10] }

func operations(t *bindings.Type) string {
	var ops []string
	for _, op := range t.Operations {
		ops = append(ops, string(op))
	}
	return strings.Join(ops, ", ")
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorCode": code, "message": msg})
}

// Status is what /v1.0/status shows. It never holds metadata values, so no
// secret can leak through it.
type Status struct {
	Ready bool `json:"ready"`
	// PID is the runtime's process id: tether run checks it before its
	// --send, to know that the process answering on the port is the one it
	// started.
	PID       int              `json:"pid"`
	Functions []FunctionStatus `json:"functions"`
	Outputs   []BindingStatus  `json:"outputs"`
}

// FunctionStatus describes one function and its trigger's delivery settings.
type FunctionStatus struct {
	Name      string                  `json:"name"`
	Trigger   BindingStatus           `json:"trigger"`
	Return    string                  `json:"return,omitempty"`
	Delivery  bindings.DeliveryPolicy `json:"delivery"`
	Receiving bool                    `json:"receiving"`
	// Sample describes the function's input, when the generator wrote it.
	Sample *Sample `json:"sample,omitempty"`
}

// BindingStatus names a binding and its type.
type BindingStatus struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Operations []string `json:"operations,omitempty"`
}

// Status reports the functions, their delivery settings and the outputs.
func (r *Runtime) Status() Status {
	st := Status{Ready: r.Ready(), PID: os.Getpid()}
	ds, funcs := r.live()
	for _, d := range ds {
		fs := FunctionStatus{Name: d.origin.Function, Trigger: BindingStatus{Name: d.origin.Binding, Type: d.typ.Name},
			Delivery: d.policy, Receiving: d.receiving.Load()}
		for _, f := range funcs {
			if f.Name == d.origin.Function {
				fs.Return, fs.Sample = f.Return, f.Sample
			}
		}
		st.Functions = append(st.Functions, fs)
	}
	r.mu.Lock()
	for _, name := range r.outputOrder {
		ob := r.outputs[name]
		bs := BindingStatus{Name: name, Type: ob.Type.Name}
		for _, op := range ob.Type.Operations {
			bs.Operations = append(bs.Operations, string(op))
		}
		st.Outputs = append(st.Outputs, bs)
	}
	r.mu.Unlock()
	return st
}

func (r *Runtime) serveStatus(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if strings.Contains(req.URL.RawQuery, "pretty") {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(r.Status())
}

// readLimited reads a request body of at most limit bytes, refusing a
// larger one (413) before reading it when its Content-Length says so, and
// as soon as it passes the limit otherwise: a flood of large bodies costs
// at most limit bytes each. It returns the status to answer with when it
// fails. Once the body is in, the connection's read deadline is cleared:
// the server keeps reading in the background to see the caller hang up, and
// the deadline passing then would cancel a long invocation.
func readLimited(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, int, error) {
	if req.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body of %d bytes is larger than the limit of %d bytes (TETHER_API_MAX_REQUEST_SIZE)", req.ContentLength, limit)
	}
	var body []byte
	var err error
	if req.ContentLength >= 0 {
		// net/http ends the body at its Content-Length: read it at once,
		// into a buffer of its size.
		body = make([]byte, req.ContentLength)
		_, err = io.ReadFull(req.Body, body)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("body shorter than its Content-Length: %w", err)
		}
	} else {
		body, err = bodyread.ReadAll(http.MaxBytesReader(w, req.Body, limit), 512, limit+1)
	}
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body larger than the limit of %d bytes (TETHER_API_MAX_REQUEST_SIZE)", limit)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, http.StatusRequestTimeout, errors.New("body not read within the read timeout (TETHER_HTTP_READ_TIMEOUT)")
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("read body: %w", err)
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	return body, 0, nil
}

// fire serves an invocation of a trigger that makes its messages itself
// (bindings.Firer: cron) with the operation fire: one message now, through
// the trigger like the others; the answer is {"id": ...}. False when name is
// no such trigger.
func (r *Runtime) fire(w http.ResponseWriter, req *http.Request, name string) bool {
	var f bindings.Firer
	ds, _ := r.live()
	for _, d := range ds {
		if d.origin.Binding == name {
			f, _ = d.in.(bindings.Firer)
			break
		}
	}
	if f == nil {
		return false
	}
	body, status, err := readLimited(w, req, r.opts.MaxRequestBodySize)
	if err != nil {
		writeAPIError(w, status, "ERR_MALFORMED_REQUEST", err.Error())
		return true
	}
	var in invokeRequest
	if err := json.Unmarshal(body, &in); err != nil {
		writeAPIError(w, http.StatusBadRequest, "ERR_MALFORMED_REQUEST", "body: "+err.Error())
		return true
	}
	if bindings.Operation(in.Operation) != bindings.OpFire {
		writeAPIError(w, http.StatusBadRequest, "ERR_INVOKE_OUTPUT_BINDING",
			fmt.Sprintf("%s is a trigger that makes its own messages; its only operation here is %q (fires it now)", name, bindings.OpFire))
		return true
	}
	id, err := f.Fire(req.Context())
	if err != nil {
		r.invokeFailed(w, req, name, err)
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	return true
}
