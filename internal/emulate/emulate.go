// Package emulate starts in-process emulators for the binding types whose
// brokers a developer may not have installed, so that `tether dev` runs a
// project offline with nothing installed, and points each component at its
// emulator without changing its file.
//
// One emulator runs per binding type, shared by every component of that
// type, listening on a free 127.0.0.1 port so that function processes reach
// it too. Each speaks its broker's real wire protocol, so the same driver
// code runs locally and in production:
//
//	bindings.kafka         franz-go's kfake (Kafka protocol)
//	bindings.gcp.pubsub    pstest, the fake of cloud.google.com/go/pubsub/v2 (Pub/Sub gRPC API)
//	bindings.nats          an embedded nats-server with JetStream
//	bindings.mqtt3         an embedded nats-server's MQTT 3.1.1 listener
//	bindings.redis         miniredis (RESP, Redis Streams and consumer groups)
//	bindings.aws.sqs       sqsemu (the SQS JSON protocol of the current AWS SDKs)
//
// HTTP webhooks, cron, PostgreSQL and RabbitMQ are not emulated here: the
// dev command serves them itself or runs them on its own broker.
//
// Use:
//
//	set, err := emulate.Start(ctx, components.Components(), nil)
//	if err != nil { ... }
//	defer set.Close()
//	for name, md := range set.Overrides() { ... } // lay md over component name's metadata
package emulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/tetherfn/tether/bindings/component"
)

// Options tune Start. A nil *Options is valid.
type Options struct {
	// Dir, when set, is a folder where the emulators that can persist keep
	// their state (Kafka's log, JetStream's streams), each in a sub-folder
	// named after its type, so that a restart keeps the messages. Empty
	// keeps everything in memory.
	Dir string
	// Logger receives one line per emulator started. Nil discards.
	Logger *slog.Logger
}

// Emulator describes one running emulator.
type Emulator struct {
	Type   string // the binding type, e.g. "bindings.kafka"
	Speaks string // what it is and the protocol it speaks, for the start-up summary
	Addr   string // where clients reach it, in the form the type's metadata takes (host:port or URL)
	// Components are the names of the components pointed at it, sorted.
	Components []string
}

// Set is the emulators started for a set of components.
type Set struct {
	emulators []Emulator
	servers   []server
	overrides map[string]map[string]string
	closeOnce sync.Once
	closeErr  error
}

// Types returns the binding types Start emulates, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(backends))
}

// Covers reports whether Start emulates the binding type named typ (its
// registered name, not an alias).
func Covers(typ string) bool {
	_, ok := backends[typ]
	return ok
}

// Start starts one emulator for each binding type among components that
// Covers, prepares what each component expects to find on its broker
// (Kafka topics; the other types' drivers create their own destinations
// once pointed at an emulator), and returns them. Components of other types
// are left alone. On error, whatever started is stopped.
func Start(ctx context.Context, components []*component.Component, opts *Options) (*Set, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	byType := map[string][]*component.Component{}
	for _, c := range components {
		if c.Binding == nil || !Covers(c.Binding.Name) {
			continue
		}
		byType[c.Binding.Name] = append(byType[c.Binding.Name], c)
	}
	s := &Set{overrides: map[string]map[string]string{}}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		b := backends[typ]
		srv, err := b.start(o)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("start the %s emulator: %w", typ, err)
		}
		s.servers = append(s.servers, srv)
		e := Emulator{Type: typ, Speaks: b.speaks, Addr: srv.addr()}
		for _, c := range byType[typ] {
			md := srv.override(c.Metadata)
			if err := srv.prepare(ctx, overlay(c.Metadata, md)); err != nil {
				_ = s.Close()
				return nil, fmt.Errorf("%s:%d: component %q on the %s emulator: %w", c.File, c.Line, c.Name, typ, err)
			}
			s.overrides[c.Name] = md
			e.Components = append(e.Components, c.Name)
		}
		sort.Strings(e.Components)
		s.emulators = append(s.emulators, e)
		o.Logger.Info("emulator started", "type", typ, "addr", e.Addr, "components", e.Components)
	}
	return s, nil
}

// Emulators returns the running emulators, sorted by type.
func (s *Set) Emulators() []Emulator { return slices.Clone(s.emulators) }

// Overrides returns, for each emulated component by name, the metadata
// keys to lay over its metadata so that it uses its emulator: the address,
// and neutral values for credentials and TLS settings the emulator does not
// take ("" means the key is unset). Components not emulated have no entry.
func (s *Set) Overrides() map[string]map[string]string {
	out := make(map[string]map[string]string, len(s.overrides))
	for k, v := range s.overrides {
		out[k] = maps.Clone(v)
	}
	return out
}

// Apply returns a copy of c's metadata with its overrides laid over it:
// what the component's driver opens with under emulation.
func (s *Set) Apply(c *component.Component) map[string]string {
	return overlay(c.Metadata, s.overrides[c.Name])
}

// Close stops every emulator; their state is lost unless Options.Dir kept
// it. It is safe to call more than once.
func (s *Set) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for i := len(s.servers) - 1; i >= 0; i-- {
			errs = append(errs, s.servers[i].close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// overlay returns a copy of md with over's keys laid on it; "" removes a
// key.
func overlay(md, over map[string]string) map[string]string {
	out := maps.Clone(md)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range over {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// backend is one binding type's emulator.
type backend struct {
	speaks string
	start  func(Options) (server, error)
}

// server is a running emulator.
type server interface {
	// addr is where clients reach it, as its type's metadata names it.
	addr() string
	// override returns the metadata to lay over md (see Set.Overrides).
	override(md map[string]string) map[string]string
	// prepare creates on the emulator what a component with metadata md
	// expects to exist and cannot create itself.
	prepare(ctx context.Context, md map[string]string) error
	close() error
}

// backends holds the emulated types by registered name.
var backends = map[string]backend{
	"bindings.kafka":      {speaks: "Kafka protocol (franz-go kfake)", start: startKafka},
	"bindings.gcp.pubsub": {speaks: "Pub/Sub gRPC API (pstest)", start: startPubsub},
	"bindings.nats":       {speaks: "NATS with JetStream (embedded nats-server)", start: startNATS},
	"bindings.mqtt3":      {speaks: "MQTT 3.1.1 (embedded nats-server's MQTT listener)", start: startMQTT},
	"bindings.redis":      {speaks: "Redis protocol with Streams (miniredis)", start: startRedis},
	"bindings.aws.sqs":    {speaks: "SQS JSON protocol (sqsemu)", start: startSQS},
}

// neutralize returns the neutral value of each of keys that md sets, for the
// credentials and TLS settings an emulator does not take.
func neutralize(md, neutral map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range neutral {
		if _, ok := md[k]; ok {
			out[k] = v
		}
	}
	return out
}
