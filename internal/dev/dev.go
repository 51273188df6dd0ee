// Package dev is tether dev: every function of a module built and run
// together on one local broker, with hot reload.
//
// The memory queues of every function live in the tether dev process (the
// dev broker, package memory's Serve): each function process is started with
// memory.BrokerEnv pointing at it, so that function A's output is function
// B's trigger, with the memory binding's own semantics. The queues are
// journaled under .tether/dev/queues, so queued messages and dead letters
// survive a restart of tether dev.
//
// The dev API (default 127.0.0.1:3500) serves the Dapr-compatible bindings
// API for every binding of every function, so tether send, tether dlq and
// the dashboard talk to one address; the functions' webhooks are served there
// too.
//
//	err := dev.Run(ctx, dev.Options{Dir: ".", Stderr: os.Stderr})
package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/internal/emulate"
	"github.com/tetherfn/tether/trigger"
)

// Options configure Run.
type Options struct {
	// Dir is the folder the patterns are relative to (the module's).
	Dir string
	// Patterns select the functions' packages; default ./... A folder with
	// its own go.mod is taken as folder/... in that module.
	Patterns []string
	// Env picks components/<Env> of each function (default local), else
	// components.
	Env string
	// Addr is the dev API's address; default 127.0.0.1:3500. Port 0 picks
	// a free one (see Ready).
	Addr string
	// State is where queues and builds are kept; default Dir/.tether/dev.
	State string
	// Fresh clears State first: no queued message or dead letter is kept.
	Fresh bool
	// NoWatch turns hot reload off.
	NoWatch bool
	// Grace bounds a function's drain when it is stopped; default 25s.
	Grace time.Duration
	// Emulate picks the components run on an in-process emulator
	// (internal/emulate) instead of their broker: EmulateAuto (default),
	// EmulateAll or EmulateNone.
	Emulate string
	// LogLevel is passed to the functions (TETHER_LOG_LEVEL) when set.
	LogLevel string
	// Stderr receives the summary, the functions' logs (each line prefixed
	// with its function's name) and reload reports.
	Stderr io.Writer
	// Kill, when closed, stops the functions at once instead of letting
	// them drain (a second Ctrl-C).
	Kill <-chan struct{}
	// Events prints every delivery event of the functions to Stderr, one
	// line each (tether dev --events).
	Events bool
	// EventsKept is how many delivery events the dev API keeps for GET
	// /v1.0/dev/events; default DefaultEventsKept.
	EventsKept int
	// Ready, when set, is called once every function is ready, with the
	// dev API's address.
	Ready func(addr string)
}

// server is one run of tether dev.
type server struct {
	opts    Options
	ctx     context.Context
	logs    *lineWriter
	bin     string
	broker  string
	events  *eventRing
	shapes  map[string]shape // Go file → its declarations when last generated (watch's)
	targets []target
	emu     *emulate.Set // nil when nothing is emulated

	mu       sync.Mutex
	fns      []*function
	procs    map[string]*process
	restarts map[string]int
	lastErr  map[string]string
	bindings map[string]*bindingInfo
	outputs  map[string]bindings.Output // queue → output, for the dev API

	addr       string     // the dev API's, once it listens
	scrapes    scrapes    // the dashboard's previous metrics
	edgeCounts edgeCounts // the Flow page's counters
}

// bindingInfo is one component name across the functions.
type bindingInfo struct {
	name     string
	typ      string
	queue    string // the dev broker queue; "" when not a memory component
	function string // the first function that has it
	where    string // what the summary says it points at
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Env == "" {
		o.Env = "local"
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:3500"
	}
	if o.State == "" {
		o.State = filepath.Join(o.Dir, ".tether", "dev")
	}
	if o.Grace == 0 {
		o.Grace = 25 * time.Second
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
}

// Run runs tether dev until ctx is done, then drains every function
// (Options.Kill cuts the drain short).
func Run(ctx context.Context, opts Options) error {
	opts.defaults()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	opts.Dir = dir
	if opts.State, err = filepath.Abs(opts.State); err != nil {
		return err
	}
	if opts.Fresh {
		if err := os.RemoveAll(opts.State); err != nil {
			return fmt.Errorf("--fresh: %w", err)
		}
	}
	s := &server{
		opts: opts, ctx: ctx, logs: &lineWriter{w: opts.Stderr},
		bin: filepath.Join(opts.State, "bin"), targets: targets(opts.Dir, opts.Patterns),
		procs: map[string]*process{}, restarts: map[string]int{}, lastErr: map[string]string{},
		outputs: map[string]bindings.Output{}, events: newEventRing(opts.EventsKept),
	}
	if err := os.RemoveAll(s.bin); err != nil {
		return err
	}
	if err := os.MkdirAll(s.bin, 0o755); err != nil {
		return err
	}
	if err := memory.Persist(filepath.Join(opts.State, "queues")); err != nil {
		return err
	}
	defer memory.StopPersisting() // after the broker stops (defers run last first)

	// The broker, and the dev API.
	brokerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dev broker: %w", err)
	}
	s.broker = brokerLn.Addr().String()
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- memory.Serve(brokerCtx, brokerLn) }()
	defer func() {
		stopBroker()
		<-brokerDone
	}()
	apiLn, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("dev API on %s: %w\nis another tether dev running? pass --addr to use another address", opts.Addr, err)
	}
	s.addr = apiLn.Addr().String()
	addr := s.addr
	api := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go api.Serve(apiLn)
	defer api.Close()
	if opts.Events {
		// Until Run returns: the drain's events are printed too.
		evCtx, stopEvents := context.WithCancel(context.WithoutCancel(ctx))
		evDone := make(chan struct{})
		go func() { defer close(evDone); s.printEvents(evCtx) }()
		defer func() { stopEvents(); <-evDone }()
	}

	// Generate, find, build and start the functions.
	if err := generate(s.targets); err != nil {
		return err
	}
	fns, err := discover(s.targets, opts.Env)
	if err != nil {
		return err
	}
	for _, f := range fns {
		if err := f.load(); err != nil {
			return err
		}
	}
	if s.emu, err = s.startEmulators(ctx, fns); err != nil {
		return err
	}
	if s.emu != nil {
		defer s.emu.Close()
	}
	s.setFunctions(fns)
	var startErr error
	for _, f := range fns {
		if err := s.replace(ctx, f, true); err != nil {
			startErr = errors.Join(startErr, err)
		}
	}
	if startErr != nil {
		s.stopAll()
		return startErr
	}
	s.summary(addr)
	if opts.Ready != nil {
		opts.Ready(addr)
	}

	var watchErr error
	if !opts.NoWatch {
		watchErr = s.watch(ctx)
	} else {
		<-ctx.Done()
	}
	s.logs.printf("tether dev: stopping: the functions drain (Ctrl-C again stops them at once)\n")
	s.stopAll()
	s.logs.wg.Wait()
	return watchErr
}

// load reads f's components, for the summary and the dev API.
func (f *function) load() error {
	set, err := component.Load([]string{f.components}, &component.Options{})
	if err != nil {
		return fmt.Errorf("function %s: components:\n%w", f.name, err)
	}
	f.set = set
	if f.overrides != nil {
		if err := f.writeEmulated(); err != nil {
			return fmt.Errorf("function %s: emulated components: %w", f.name, err)
		}
	}
	for _, c := range set.Components() {
		if c.Binding.Name == "bindings.http" && c.Direction.Has(bindings.DirInput) {
			f.webhook = true
		}
	}
	return nil
}

// setFunctions records fns and the bindings they name.
func (s *server) setFunctions(fns []*function) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = fns
	s.bindings = map[string]*bindingInfo{}
	for _, f := range fns {
		for _, c := range f.set.Components() {
			b := &bindingInfo{name: c.Name, typ: c.Binding.Name, function: f.name}
			if c.Binding.Name == memory.TypeName {
				b.queue = c.Metadata["queue"]
				if b.queue == "" {
					b.queue = c.Name
				}
				b.where = fmt.Sprintf("dev broker queue %q", b.queue)
			} else {
				b.where = fmt.Sprintf("%s (%s:%d)", c.Binding.Name, rel(s.opts.Dir, c.File), c.Line)
				if f.overrides[c.Name] != nil {
					b.where = fmt.Sprintf("%s emulator (%s:%d)", c.Binding.Name, rel(s.opts.Dir, c.File), c.Line)
				}
			}
			if old := s.bindings[c.Name]; old != nil {
				if old.queue != b.queue || old.typ != b.typ {
					s.logs.printf("tether dev: warning: component %s of %s is not the one of %s (%s); tether send %s goes to %s's\n",
						c.Name, f.name, old.function, old.where, c.Name, old.function)
				}
				continue
			}
			s.bindings[c.Name] = b
		}
	}
}

func (s *server) binding(name string) (*bindingInfo, *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.bindings[name]
	if b == nil {
		return nil, nil
	}
	return b, s.procs[b.function]
}

func (s *server) bindingNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.bindings {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (s *server) function(name string) *function {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fns {
		if f.name == name {
			return f
		}
	}
	return nil
}

// env is what every function process runs with, besides its own settings.
func (s *server) env() []string {
	env := []string{memory.BrokerEnv + "=" + s.broker, "TETHER_DEV=1",
		"TETHER_DEV_EVENTS=http://" + s.addr + "/v1.0/dev/events"}
	if s.opts.LogLevel != "" {
		env = append(env, "TETHER_LOG_LEVEL="+s.opts.LogLevel)
	}
	// Each function keeps its last spans for the dashboard's waterfalls
	// (GET /v1.0/traces), unless the user chose how many.
	if os.Getenv("TETHER_TRACES_RECENT") == "" {
		env = append(env, fmt.Sprintf("TETHER_TRACES_RECENT=%d", tracesKept))
	}
	return env
}

// replace builds f and starts it; once the new process is ready, the old
// one (if any) is stopped, and its drain gives back what it held. On any
// failure the old process keeps running.
func (s *server) replace(ctx context.Context, f *function, first bool) error {
	binary, err := build(ctx, f, s.bin)
	if err != nil {
		s.fail(f, err)
		return err
	}
	return s.restart(ctx, f, binary, first)
}

// restart starts binary for f and retires the old process once the new one
// is ready.
func (s *server) restart(ctx context.Context, f *function, binary string, first bool) error {
	p, err := start(f, binary, s.env(), s.logs)
	if err != nil {
		s.fail(f, err)
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = p.waitReady(readyCtx)
	cancel()
	if err != nil {
		p.stop(s.opts.Grace, s.opts.Kill)
		os.Remove(binary)
		err = fmt.Errorf("%s did not start: %w", f.name, err)
		s.fail(f, err)
		return err
	}
	s.mu.Lock()
	old := s.procs[f.name]
	s.procs[f.name] = p
	if !first {
		s.restarts[f.name]++
	}
	delete(s.lastErr, f.name)
	s.mu.Unlock()
	if old != nil {
		old.stop(s.opts.Grace, s.opts.Kill)
		os.Remove(old.binary)
	}
	return nil
}

func (s *server) fail(f *function, err error) {
	s.mu.Lock()
	s.lastErr[f.name] = err.Error()
	running := s.procs[f.name] != nil
	s.mu.Unlock()
	keep := ""
	if running {
		keep = " (the previous build keeps running)"
	}
	s.logs.printf("tether dev: %s%s:\n%s\n", f.name, keep, indent(err.Error()))
}

// stopAll stops every function at once, each draining up to the grace.
func (s *server) stopAll() {
	s.mu.Lock()
	procs := make([]*process, 0, len(s.procs))
	for _, p := range s.procs {
		procs = append(procs, p)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stop(s.opts.Grace, s.opts.Kill) })
	}
	wg.Wait()
}

func (s *server) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Broker: s.broker, State: s.opts.State}
	for _, f := range s.fns {
		fi := FunctionInfo{Name: f.name, Package: rel(s.opts.Dir, f.pkgDir), Components: rel(s.opts.Dir, f.components),
			Restarts: s.restarts[f.name], LastError: s.lastErr[f.name]}
		if p := s.procs[f.name]; p != nil {
			fi.Addr, fi.PID = p.addr, p.cmd.Process.Pid
		}
		st.Functions = append(st.Functions, fi)
	}
	return st
}

// summary prints the functions, their triggers and outputs, where each
// binding points, and the dev API's address.
func (s *server) summary(addr string) {
	var b strings.Builder
	fmt.Fprintf(&b, "tether dev: %d function(s) on the dev broker; state in %s\n", len(s.fns), rel(s.opts.Dir, s.opts.State))
	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	for _, f := range s.fns {
		s.mu.Lock()
		p := s.procs[f.name]
		s.mu.Unlock()
		st, err := p.status(s.ctx)
		if err != nil {
			fmt.Fprintf(tw, "  %s\t(status: %v)\n", f.name, err)
			continue
		}
		for _, fs := range st.Functions {
			fmt.Fprintf(tw, "  %s\ttrigger\t%s\t%s\n", fs.Name, fs.Trigger.Name, s.where(fs.Trigger.Name))
			if fs.Delivery.DeadLetter != "" {
				fmt.Fprintf(tw, "  \tdead letters\t%s\t%s\n", fs.Delivery.DeadLetter, s.where(fs.Delivery.DeadLetter))
			}
		}
		for _, o := range st.Outputs {
			if slices.ContainsFunc(st.Functions, func(fs trigger.FunctionStatus) bool { return fs.Trigger.Name == o.Name }) {
				continue // its own trigger, opened as an output too (direction both)
			}
			fmt.Fprintf(tw, "  \toutput\t%s\t%s\n", o.Name, s.where(o.Name))
		}
	}
	tw.Flush()
	if s.emu != nil {
		for _, e := range s.emu.Emulators() {
			fmt.Fprintf(&b, "emulator %s: %s on %s, for %s\n", e.Type, e.Speaks, e.Addr, strings.Join(e.Components, ", "))
		}
	}
	fmt.Fprintf(&b, "dev API: http://%s (tether send <binding> --data ..., tether dlq list <binding>, GET /v1.0/dev/status)\n", addr)
	fmt.Fprintf(&b, "dashboard: http://%s/ui/\n", addr)
	if !s.opts.NoWatch {
		b.WriteString("watching for changes; Ctrl-C stops\n")
	}
	s.logs.line([]byte(b.String()))
}

func (s *server) where(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.bindings[name]; b != nil {
		return b.where
	}
	return ""
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
