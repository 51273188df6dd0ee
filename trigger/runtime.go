package trigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/redact"
	"github.com/tetherfn/tether/internal/suggest"
)

// Options configure a Runtime. Components and Functions are required; the
// rest has defaults.
type Options struct {
	// Components are the loaded component files.
	Components *component.Set
	// Functions to run; each names its trigger component.
	Functions []Function
	// Logger; nil discards logs.
	Logger *slog.Logger
	// PublicAddr is where the webhook routes of inputs that receive over
	// HTTP are served, and nothing else, e.g. ":8080". The listener opens
	// only when a trigger is a webhook; "" serves none (PublicHandler still
	// works, for tests).
	PublicAddr string
	// ControlAddr is where the control surface is served: the
	// Dapr-compatible /v1.0 API (which can invoke every output binding),
	// /v1.0/status, /metrics and health, e.g. "127.0.0.1:3500"
	// (DefaultControlAddr). New refuses an address that is not loopback
	// unless APIToken is set. "" serves none (Handler still works).
	ControlAddr string
	// ProbeAddr, when set, serves /healthz, /readyz, /metrics and Dapr's
	// /v1.0/healthz only, for Kubernetes probes and Prometheus, e.g.
	// ":9090".
	ProbeAddr string
	// HTTP bounds every listener: timeouts and connections.
	HTTP HTTPLimits
	// MaxRequestBodySize bounds a /v1.0 request body; a larger one is
	// answered 413. Default DefaultMaxRequestBodySize (4 MiB, as Dapr).
	MaxRequestBodySize int64
	// ShutdownGrace bounds how long in-flight handlers may finish after
	// shutdown starts. Default 25s.
	ShutdownGrace time.Duration
	// ShutdownCancelWait bounds how long Shutdown waits, once the grace
	// period is over and the handlers still running are cancelled, for them
	// to return. Handlers still running after it are left behind (their
	// messages return through the broker's redelivery) and Shutdown's error
	// wraps ErrHandlersRunning. Default 5s.
	ShutdownCancelWait time.Duration
	// APIToken, when set, is required as the dapr-api-token header on the
	// /v1.0 API (Dapr's DAPR_API_TOKEN). Error bodies carry the detail of a
	// failure only to callers who sent it.
	APIToken string
	// Registry for the metrics; nil makes a new one, with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// AppID is the app id /v1.0/metadata shows (daprd's --app-id).
	AppID string
	// AppConnection, when set, is shown by /v1.0/metadata.
	AppConnection *AppConnection
	// TracerProvider, when set, turns tracing on: a span per delivery and
	// attempt, one per output call, and the W3C trace context carried from
	// each message to the outputs it causes (see TracingFromEnv). Nil (the
	// default) makes no span and costs nothing.
	TracerProvider trace.TracerProvider
	// RecentSpans, when set, is served as JSON on GET /v1.0/traces (a dev
	// tool: see NewRecentSpans).
	RecentSpans *RecentSpans
	// Await, when set, waits for an app the runtime delivers to (an app in
	// any language beside it: see AppFunctions) and returns the functions
	// that deliver to it. Start calls it from a goroutine once the outputs
	// are open and the listeners serve, so the app can call its output
	// bindings while it starts; until Await has returned and its functions
	// receive, the runtime is not ready (/readyz 503, Dapr's /v1.0/healthz
	// 500) and Dapr's /v1.0/healthz/outbound answers 204, as daprd waits
	// for its app. Its ctx ends when shutdown starts. An error shuts the
	// runtime down, and Shutdown (so Run) returns it.
	Await func(ctx context.Context) ([]Function, error)
	// Observer, when set, sees every attempt, output and dead letter (see
	// Observer); nil, the default, costs nothing.
	Observer Observer
}

// Runtime runs functions: it opens their bindings, receives, dispatches
// to handlers through the delivery policy, serves HTTP, and drains on
// shutdown.
type Runtime struct {
	opts     Options
	logger   *slog.Logger     // redacts every secret of every component
	redact   *redact.Redactor // hides every secret of every component
	registry *prometheus.Registry
	metrics  *Metrics
	tracer   *tracer // nil: tracing off

	mu          sync.Mutex
	outputs     map[string]bindings.OutputBinding
	outputOrder []string
	dispatchers []*dispatcher
	started     bool
	running     bool          // Start succeeded
	stopped     chan struct{} // closed when Shutdown is done
	stopErr     error         // what Shutdown returned
	ready       atomic.Bool   // every function receives (after Await's)
	outbound    atomic.Bool   // the outputs are open and the listeners serve
	shutdown    atomic.Bool
	base        context.Context
	baseCancel  context.CancelFunc
	listeners   []*listener
	handler     http.Handler // the control surface
	public      *mux.Router  // the webhook routes, mounted by Start
	webhooks    int          // how many are mounted
	funcs       []Function

	// lateMu guards what Await's functions add once the listeners serve:
	// dispatchers, funcs, listeners, public and webhooks.
	lateMu      sync.Mutex
	awaitCancel context.CancelFunc
	awaitDone   chan struct{} // closed when Await's goroutine is done
	awaitErr    error         // why it failed; read once awaitDone is closed

	extMu    sync.Mutex
	extended map[string]string // PUT /v1.0/metadata/{key}

	stopOnce      sync.Once
	stopRequested chan struct{} // closed by RequestShutdown
}

// New checks the functions against the components: every trigger names an
// input component, every return and dead-letter binding an output component.
// It reports every problem at once. Nothing is opened yet.
func New(opts Options) (*Runtime, error) {
	if opts.Components == nil {
		return nil, errors.New("trigger: Options.Components is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 25 * time.Second
	}
	if opts.ShutdownCancelWait <= 0 {
		opts.ShutdownCancelWait = defaultCancelWait
	}
	if opts.Registry == nil {
		// A registry of its own has the Go runtime's and the process's
		// collectors (memory, goroutines, GC, CPU, open file descriptors),
		// as a Prometheus client's default registry does.
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if opts.MaxRequestBodySize <= 0 {
		opts.MaxRequestBodySize = DefaultMaxRequestBodySize
	}
	opts.HTTP = opts.HTTP.withDefaults()
	// One redactor for the whole set: a handler's error, a panic or a
	// driver's log line may quote any component's secret.
	red := redact.New(opts.Components.Secrets()...)
	r := &Runtime{
		opts: opts, logger: slog.New(red.Handler(opts.Logger.Handler())), redact: red, registry: opts.Registry,
		metrics: NewMetrics(opts.Registry),
		outputs: map[string]bindings.OutputBinding{},
		funcs:   slices.Clone(opts.Functions),
		stopped: make(chan struct{}),

		stopRequested: make(chan struct{}),
	}
	if opts.TracerProvider != nil {
		r.tracer = newTracer(opts.TracerProvider)
	}
	var errs []error
	if opts.ControlAddr != "" && opts.APIToken == "" && !IsLoopback(opts.ControlAddr) {
		errs = append(errs, errControlExposed(opts.ControlAddr))
	}
	for _, a := range []struct{ name, addr string }{{"public", opts.PublicAddr}, {"probe", opts.ProbeAddr}} {
		if a.addr != "" && a.addr == opts.ControlAddr && opts.APIToken == "" && !IsLoopback(a.addr) {
			errs = append(errs, fmt.Errorf("the %s surface shares the control API's address: %w", a.name, errControlExposed(a.addr)))
		}
	}
	errs = append(errs, r.checkFunctions(r.funcs, map[string]bool{})...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r.handler = r.controlRouter()
	r.public = mux.NewRouter()
	return r, nil
}

// checkFunctions checks fns against the components, and their names
// against those already taken (which it adds them to).
func (r *Runtime) checkFunctions(fns []Function, names map[string]bool) []error {
	var errs []error
	for i := range fns {
		f := &fns[i]
		if err := f.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if names[f.Name] {
			errs = append(errs, fmt.Errorf("function %q registered twice", f.Name))
		}
		names[f.Name] = true
		c, _ := r.opts.Components.Get(f.Trigger)
		switch {
		case c == nil:
			errs = append(errs, fmt.Errorf("function %q: trigger: no component named %q%s", f.Name, f.Trigger, r.componentHint(f.Trigger)))
		case !c.Direction.Has(bindings.DirInput):
			errs = append(errs, fmt.Errorf("function %q: trigger component %q (%s) is not an input", f.Name, f.Trigger, c.Type))
		default:
			if dl := c.Delivery.DeadLetter; dl != "" {
				if err := r.checkOutput(dl, "dead-letter binding of "+f.Trigger); err != nil {
					errs = append(errs, fmt.Errorf("function %q: %w", f.Name, err))
				}
			}
		}
		if f.Return != "" {
			if err := r.checkOutput(f.Return, "return binding"); err != nil {
				errs = append(errs, fmt.Errorf("function %q: %w", f.Name, err))
			}
		}
	}
	return errs
}

func (r *Runtime) checkOutput(name, role string) error {
	c, _ := r.opts.Components.Get(name)
	switch {
	case c == nil:
		return fmt.Errorf("%s: no component named %q%s", role, name, r.componentHint(name))
	case !c.Direction.Has(bindings.DirOutput):
		return fmt.Errorf("%s: component %q (%s) is not an output", role, name, c.Type)
	case !c.Binding.Supports(bindings.OpCreate):
		return fmt.Errorf("%s: component %q (%s) has no create operation", role, name, c.Type)
	}
	return nil
}

func (r *Runtime) componentHint(name string) string {
	var names []string
	for _, c := range r.opts.Components.Components() {
		names = append(names, c.Name)
	}
	return suggest.Hint(name, names)
}

// Start opens the bindings, binds each function's outputs, starts the
// receive loops and the HTTP server, and returns. Errors stop start-up with
// everything opened so far closed again.
func (r *Runtime) Start(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("trigger: runtime already started")
	}
	if r.shutdown.Load() {
		// Shutdown ran, or runs, once: nothing could stop this start.
		return errors.New("trigger: runtime already shut down")
	}
	r.started = true
	// Handlers must survive the cancellation of the caller's context (that
	// is what starts shutdown), yet see its values.
	r.base, r.baseCancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if err != nil {
			r.closeAll()
		}
	}()

	var outs []*component.Component
	for _, c := range r.opts.Components.Components() {
		if c.Direction.Has(bindings.DirOutput) {
			outs = append(outs, c)
		}
	}
	r.dispatchers, err = r.openFunctions(ctx, outs, r.funcs)
	if err != nil {
		return err
	}
	r.lateMu.Lock()
	r.public = r.mountRouters(r.dispatchers)
	r.lateMu.Unlock()
	if err := r.listen(); err != nil {
		return err
	}
	for _, d := range r.dispatchers {
		d.start()
	}
	r.outbound.Store(true)
	if r.opts.Await == nil {
		r.ready.Store(true)
	} else {
		actx, cancel := context.WithCancel(r.base)
		r.awaitCancel, r.awaitDone = cancel, make(chan struct{})
		go r.await(actx)
	}
	r.running = true
	attrs := []any{"functions", len(r.funcs), "outputs", len(r.outputs)}
	for _, l := range r.listeners {
		attrs = append(attrs, strings.Join(l.names, "+"), l.ln.Addr().String())
	}
	r.logger.Info("runtime started", attrs...)
	return nil
}

// openFunctions opens the outputs of outs, binds each function's outputs,
// then opens the trigger of each of fns, and returns the functions'
// dispatchers. The outputs open at once, and then the triggers: an open
// mostly waits on a broker (a connection, a declaration), so a function
// with several bindings starts in the time of its slowest output and
// slowest trigger, not of their sum. No trigger opens before every output
// and binding succeeded: an input may start taking messages as it opens
// (a prefetch), and a start that keeps failing (a crash loop) must not
// take and give back messages each time. The outputs it opened stay
// registered on an error (closeAll closes them); the inputs it opened are
// closed.
func (r *Runtime) openFunctions(ctx context.Context, outs []*component.Component, fns []Function) ([]*dispatcher, error) {
	outputs, err := openAtOnce(ctx, outs, r.openOutput)
	for _, ob := range outputs {
		if ob != nil {
			r.outputs[ob.Name] = *ob
			r.outputOrder = append(r.outputOrder, ob.Name)
		}
	}
	if err != nil {
		return nil, err
	}
	// Outputs before binding: dead letters, returns and functions' clients
	// need them.
	for i := range fns {
		f := &fns[i]
		if f.Bind != nil {
			if err := f.Bind(ctx, &Outputs{function: f.Name, rt: r}); err != nil {
				return nil, err
			}
		}
	}
	type opened struct {
		in  bindings.Input
		typ *bindings.Type
	}
	inputs, err := openAtOnce(ctx, fns, func(ctx context.Context, f Function) (opened, error) {
		c, _ := r.opts.Components.Get(f.Trigger)
		ctx, cancel := initContext(ctx, c)
		defer cancel()
		in, typ, err := bindings.OpenInput(ctx, c.Config(r.logger))
		if err != nil && c.IgnoreErrors {
			r.logger.Warn("input failed to open; ignored (spec.ignoreErrors)", "binding", c.Name, "error", err)
			return opened{}, nil
		}
		return opened{in, typ}, err
	})
	if err != nil {
		for _, o := range inputs {
			if o.in != nil {
				_ = o.in.Close()
			}
		}
		return nil, err
	}
	var ds []*dispatcher
	for i, o := range inputs {
		if o.in == nil { // failed, and ignoreErrors
			continue
		}
		f := &fns[i]
		c, _ := r.opts.Components.Get(f.Trigger)
		h, handled := r.chain(f, c, o.typ, o.in)
		d := newDispatcher(f.Name, c.Name, o.typ, o.in, c.Delivery, h, f.BatchHandler, r.base,
			r.logger.With("function", f.Name, "binding", c.Name))
		d.handled = handled
		d.cancelWait = r.opts.ShutdownCancelWait
		ds = append(ds, d)
	}
	return ds, nil
}

// openAtOnce calls open for each of items, each on a goroutine of its own,
// and returns what they opened, in the order of items: the caller closes
// what opened when the error is not nil. The first failure cancels the
// opens still running; the error joins the failures, less the
// cancellations that one caused.
func openAtOnce[T, R any](ctx context.Context, items []T, open func(context.Context, T) (R, error)) ([]R, error) {
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	opened := make([]R, len(items))
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, item := range items {
		wg.Go(func() {
			if opened[i], errs[i] = open(octx, item); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	var failed []error
	for _, err := range errs {
		if err != nil && (ctx.Err() != nil || !errors.Is(err, context.Canceled)) {
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 { // every failure a cancellation: say so
		failed = errs
	}
	return opened, errors.Join(failed...)
}

// await runs Options.Await, then starts the functions it returns and
// marks the runtime ready; a failure requests shutdown. Shutdown cancels
// ctx and waits for it.
func (r *Runtime) await(ctx context.Context) {
	defer close(r.awaitDone)
	err := r.startLate(ctx)
	if err == nil {
		r.ready.Store(true)
		r.logger.Info("app ready: delivering input bindings to it")
		return
	}
	if ctx.Err() != nil {
		return // shutdown began while waiting: not a failure
	}
	r.awaitErr = fmt.Errorf("waiting for the app: %w", err)
	r.logger.Error("start-up failed: shutting down", "error", r.awaitErr)
	r.RequestShutdown()
}

func (r *Runtime) startLate(ctx context.Context) error {
	fns, err := r.opts.Await(ctx)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	for _, f := range r.funcs {
		names[f.Name] = true
	}
	if errs := r.checkFunctions(fns, names); len(errs) > 0 {
		return errors.Join(errs...)
	}
	ds, err := r.openFunctions(ctx, nil, fns)
	if err != nil {
		return err
	}
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	if err := ctx.Err(); err != nil { // shutdown began: it stops only what it sees
		for _, d := range ds {
			_ = d.in.Close()
		}
		return err
	}
	all := append(slices.Clone(r.dispatchers), ds...)
	if public := r.mountRouters(all); r.webhooks > 0 {
		r.public = public
		if r.addrOfLocked("public") == "" && r.opts.PublicAddr != "" {
			ls, err := listen([]surface{{name: "public", addr: r.opts.PublicAddr, routes: r.publicRoutes}}, r.opts.HTTP, r.logger)
			if err != nil {
				for _, d := range ds {
					_ = d.in.Close()
				}
				return err
			}
			r.listeners = append(r.listeners, ls...)
			go ls[0].serve(r.logger)
		}
	}
	r.dispatchers, r.funcs = all, append(slices.Clone(r.funcs), fns...)
	for _, d := range ds {
		d.start()
	}
	return nil
}

// live returns the dispatchers and functions, which Await's functions
// add to once the listeners serve.
func (r *Runtime) live() ([]*dispatcher, []Function) {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	return r.dispatchers, r.funcs
}

// openOutput opens c's output, wrapped for tracing and the observer; nil
// and no error when it failed and c ignores errors.
func (r *Runtime) openOutput(ctx context.Context, c *component.Component) (*bindings.OutputBinding, error) {
	ctx, cancel := initContext(ctx, c)
	defer cancel()
	out, typ, err := bindings.OpenOutput(ctx, c.Config(r.logger))
	if err != nil {
		if c.IgnoreErrors {
			r.logger.Warn("output failed to open; ignored (spec.ignoreErrors)", "binding", c.Name, "error", err)
			return nil, nil
		}
		return nil, err
	}
	if r.tracer != nil {
		out = r.tracer.output(c, typ, out)
	}
	if r.opts.Observer != nil {
		out = &observedOutput{Output: out, name: c.Name, o: r.opts.Observer, filter: envelopeFilter{redact: r.redact.String}}
	}
	return &bindings.OutputBinding{Name: c.Name, Type: typ, Output: out}, nil
}

// defaultInitTimeout bounds opening a binding whose component sets no
// spec.initTimeout.
const defaultInitTimeout = 30 * time.Second

func initContext(ctx context.Context, c *component.Component) (context.Context, context.CancelFunc) {
	d := c.InitTimeout
	if d <= 0 {
		d = defaultInitTimeout
	}
	return context.WithTimeout(ctx, d)
}

// chain builds a function's handler with the delivery middleware. For a
// batch function whose chain has nothing outside the runtime's own
// middleware that sees an item succeed (no tracing, no observer: a batch
// function has no Middleware and no Return), it also returns that
// middleware, which settles the items the BatchHandler handled without a
// call each; nil otherwise.
func (r *Runtime) chain(f *Function, c *component.Component, typ *bindings.Type, in bindings.Input) (Handler, *ownChain) {
	var ret *bindings.OutputBinding
	if f.Return != "" {
		ob := r.outputs[f.Return]
		ret = &ob
	}
	var dl bindings.Output
	if name := c.Delivery.DeadLetter; name != "" {
		dl = r.outputs[name].Output
	}
	var credentials []string
	if ck, ok := in.(bindings.CredentialKeys); ok {
		credentials = ck.CredentialKeys()
	}
	var tracing Middleware
	if r.tracer != nil {
		tracing = r.tracer.middleware(f.Name, c, typ, c.Delivery)
	}
	h := f.Handler
	policy := c.Delivery
	if f.BatchHandler != nil {
		h = batchItem // each item's chain settles the BatchHandler's error for it
		// The handlerTimeout bounds the BatchHandler's call (CallBatch);
		// an item's chain only returns the error it gave the item.
		policy.HandlerTimeout = 0
	}
	chain, own := chainWith(h, ChainOptions{
		Function: f.Name, Binding: c.Name, Policy: policy,
		Return: ret, DeadLetter: dl, Middleware: f.Middleware,
		Metrics: r.metrics,
		Tracing: tracing,
		Redact:  r.redact.String, Credentials: credentials,
		Observer: r.opts.Observer,
	}, newFailureLog(failureLogMax))
	if f.BatchHandler == nil {
		return chain, nil
	}
	return chain, own
}

// PublicAddr is the address the webhook routes are served on, "" when
// they are not (no webhook trigger, or no Options.PublicAddr).
func (r *Runtime) PublicAddr() string { return r.addrOf("public") }

// ControlAddr is the address the control surface (/v1.0 API, status,
// metrics, health) is served on, "" when it is not.
func (r *Runtime) ControlAddr() string { return r.addrOf("control") }

// ProbeAddr is the address of the probe listener, "" when there is none.
func (r *Runtime) ProbeAddr() string { return r.addrOf("probe") }

func (r *Runtime) addrOf(name string) string {
	r.lateMu.Lock()
	defer r.lateMu.Unlock()
	return r.addrOfLocked(name)
}

func (r *Runtime) addrOfLocked(name string) string {
	for _, l := range r.listeners {
		if slices.Contains(l.names, name) {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// Handler is the control surface: health, readiness, metrics, status and
// the Dapr-compatible bindings API.
func (r *Runtime) Handler() http.Handler { return r.handler }

// PublicHandler is the public surface: the webhook routes, mounted by
// Start.
func (r *Runtime) PublicHandler() http.Handler { return http.HandlerFunc(r.servePublic) }

func (r *Runtime) servePublic(w http.ResponseWriter, req *http.Request) {
	r.lateMu.Lock()
	public := r.public
	r.lateMu.Unlock()
	public.ServeHTTP(w, req)
}

// Ready reports whether every trigger is receiving, has a worker not held
// by a handler that ignores its timeout, and shutdown has not begun.
func (r *Runtime) Ready() bool {
	if !r.ready.Load() || r.shutdown.Load() {
		return false
	}
	ds, _ := r.live()
	for _, d := range ds {
		if !d.receiving.Load() || d.allStuck() {
			return false
		}
	}
	return true
}

// Tracing reports whether the runtime makes spans (Options.TracerProvider).
func (r *Runtime) Tracing() bool { return r.tracer != nil }

// Output returns an opened output binding by component name.
func (r *Runtime) Output(name string) (bindings.OutputBinding, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ob, ok := r.outputs[name]
	return ob, ok
}

// Shutdown stops intake (readiness goes false), lets in-flight handlers
// finish until ctx ends or the grace period passes, nacks whatever is left,
// then closes inputs, the HTTP server and outputs. Outputs work until the
// handlers and the HTTP requests in flight are done. Handlers that still run
// ShutdownCancelWait after their cancellation are left behind, and the
// error wraps ErrHandlersRunning: their goroutines may still touch what the
// caller closes next. A second call returns
// when the first is done (or its own ctx ends); a call before Start, or
// after a failed one, does nothing, and Start refuses to run after it.
func (r *Runtime) Shutdown(ctx context.Context) error {
	if !r.shutdown.CompareAndSwap(false, true) {
		// Another call shuts down: return when it is done, as it does.
		select {
		case <-r.stopped:
			return r.stopErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(r.stopped)
	// Wait for a Start in progress. Start refuses to begin from now on, so
	// what it set up is settled and read below without the lock, which the
	// HTTP API (Output, Status) takes while the server drains.
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if !running { // never started, or Start failed and closed what it opened
		return nil
	}
	r.logger.Info("shutting down", "grace", r.opts.ShutdownGrace)
	if r.awaitCancel != nil {
		// Stop waiting for the app; what Await's functions started is then
		// settled, and stopped below with the rest.
		r.awaitCancel()
		<-r.awaitDone
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	stopErrs := make([]error, len(r.dispatchers))
	for i, d := range r.dispatchers {
		wg.Add(1)
		go func() { defer wg.Done(); stopErrs[i] = d.stop(ctx) }()
	}
	wg.Wait()
	if r.tracer != nil {
		r.tracer.endAll()
	}
	r.stopErr = errors.Join(append(append(stopErrs, r.awaitErr), r.closeAll())...)
	return r.stopErr
}

// closeAll closes the inputs first (a webhook waiting for a receiver is
// answered 503), then the HTTP server, which waits for the requests in
// flight (an app's /v1.0/bindings calls among them), and the outputs last,
// so that no call finds its output closed.
func (r *Runtime) closeAll() error {
	var errs []error
	for _, d := range r.dispatchers {
		if err := d.in.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(r.listeners) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, l := range r.listeners {
			if err := l.shutdown(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range r.outputOrder {
		if err := r.outputs[name].Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.baseCancel != nil {
		r.baseCancel()
	}
	return errors.Join(errs...)
}

// Run starts the runtime, waits for ctx to end (SIGTERM, SIGINT: see Main),
// and shuts down gracefully.
func (r *Runtime) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-r.ShutdownRequested():
	}
	return r.Shutdown(context.Background())
}
