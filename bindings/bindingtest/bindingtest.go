// Package bindingtest is the conformance suite every binding driver passes. A
// driver's own test runs it against the real broker; which checks apply
// follows the driver's declared bindings.Capabilities, so a declaration is
// tested, not trusted.
//
//	func TestConformance(t *testing.T) {
//		bindingtest.Run(t, bindingtest.Config{
//			Type: "bindings.redis",
//			Metadata: func(t *testing.T) map[string]string {
//				return map[string]string{"redisHost": "127.0.0.1:6379", "stream": bindingtest.Unique("conformance")}
//			},
//			InvalidMetadata: []map[string]string{{"maxLenApprox": "many"}},
//		})
//	}
//
// Every subtest works on a fresh destination from Config.Metadata, opens its
// input before it sends (so a subscription sees what follows), is bounded by
// Config.Timeout, and waits on messages, never on sleeps. See
// docs/bindings/conformance.md.
package bindingtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// Config describes the binding under test.
type Config struct {
	// Type is the binding type, e.g. "bindings.redis". The test must import
	// the driver's package so that it is registered.
	Type string
	// Metadata returns component metadata naming a fresh destination (queue,
	// topic, stream...) unique to this call, valid for both input and
	// output. The suite calls it once per subtest; see Unique.
	Metadata func(t *testing.T) map[string]string
	// InvalidMetadata lists metadata each of which must make opening fail,
	// for every direction the type has. Each is laid over a fresh
	// Metadata(t), so it only needs the keys that make it wrong. The suite
	// adds an unknown key of its own.
	InvalidMetadata []map[string]string
	// Messages is how many messages the concurrency test sends; default
	// 10000. Drivers may lower it with testing.Short().
	Messages int
	// Send, when set, publishes a message to the destination the metadata
	// names, instead of the suite invoking the output's create. Input-only
	// types need it. req.Metadata may hold "partitionKey" (the ordering key).
	Send func(ctx context.Context, metadata map[string]string, req *bindings.InvokeRequest) error
	// Replica, when set, returns the metadata of the i-th of several inputs
	// that consume one destination side by side (replicas of a function),
	// from the destination's metadata: brokers that identify each consumer
	// (an MQTT client id on a shared subscription) need one per replica.
	// Nil opens every replica with the same metadata.
	Replica func(metadata map[string]string, i int) map[string]string
	// Timeout bounds each subtest; default 1 minute. ConcurrentConsumers
	// is bounded by progress instead: it fails when a Timeout passes with
	// no message sent or delivered, or after five Timeouts in all.
	Timeout time.Duration
	// Skip names subtests the driver cannot run, each with the reason that
	// go test -v shows. Skipping is a visible exception, not a way to pass.
	Skip map[string]string
}

// Subtest names, for Config.Skip.
const (
	TestDeclaration          = "Declaration"
	TestInvalidMetadata      = "InvalidMetadata"
	TestOpenClose            = "OpenClose"
	TestUnsupportedOperation = "UnsupportedOperation"
	TestReceiveContext       = "ReceiveContext"
	TestCloseUnblocksReceive = "CloseUnblocksReceive"
	TestRoundTrip            = "RoundTrip"
	TestAckRemoves           = "AckRemoves"
	TestNackRedelivers       = "NackRedelivers"
	TestNackDelay            = "NackDelay"
	TestLease                = "Lease"
	TestBatchReceive         = "BatchReceive"
	TestOrdering             = "Ordering"
	TestCloseInFlight        = "CloseInFlight"
	TestConcurrentConsumers  = "ConcurrentConsumers"
)

var allTests = []string{
	TestDeclaration, TestInvalidMetadata, TestOpenClose, TestUnsupportedOperation,
	TestReceiveContext, TestCloseUnblocksReceive, TestRoundTrip, TestAckRemoves,
	TestNackRedelivers, TestNackDelay, TestLease, TestBatchReceive, TestOrdering,
	TestCloseInFlight, TestConcurrentConsumers,
}

const (
	defaultMessages = 10000
	defaultTimeout  = time.Minute
	// nackDelay is what NackDelay asks for; whole seconds suit brokers whose
	// delays are in seconds.
	nackDelay = time.Second
	// batchLimit is the max the suite passes to Receive.
	batchLimit = 10
	// componentName is the name components are opened with.
	componentName = "conformance"
)

// Unique returns prefix followed by a random suffix, for destination names
// that no other test run uses.
func Unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Run runs the whole suite for a binding type: the input checks when the type
// has an input, the output checks when it has an output.
func Run(t *testing.T, c Config) {
	t.Helper()
	s := newSuite(t, c)
	s.run(t, TestDeclaration, s.testDeclaration)
	s.run(t, TestInvalidMetadata, s.testInvalidMetadata)
	s.run(t, TestOpenClose, s.testOpenClose)
	if s.typ.Directions.Has(bindings.DirOutput) {
		s.run(t, TestUnsupportedOperation, s.testUnsupportedOperation)
	}
	if !s.typ.Directions.Has(bindings.DirInput) {
		return
	}
	s.run(t, TestReceiveContext, s.testReceiveContext)
	s.run(t, TestCloseUnblocksReceive, s.testCloseUnblocksReceive)
	s.run(t, TestRoundTrip, s.testRoundTrip)
	s.run(t, TestAckRemoves, s.testAckRemoves)
	s.run(t, TestNackRedelivers, s.testNackRedelivers)
	s.run(t, TestNackDelay, s.testNackDelay)
	s.run(t, TestLease, s.testLease)
	s.run(t, TestBatchReceive, s.testBatchReceive)
	s.run(t, TestOrdering, s.testOrdering)
	s.run(t, TestCloseInFlight, s.testCloseInFlight)
	s.runWithin(t, TestConcurrentConsumers, concurrentBound*s.c.Timeout, s.testConcurrentConsumers)
}

// RunOutput runs the reduced suite for an output-only binding type: its
// declaration, invalid metadata, open and close, unsupported operations.
// Run does the same for such a type; RunOutput says so in the test.
func RunOutput(t *testing.T, c Config) {
	t.Helper()
	s := newSuite(t, c)
	if s.typ.Directions.Has(bindings.DirInput) {
		t.Logf("%s has an input too: use bindingtest.Run to check it", s.typ.Name)
	}
	if !s.typ.Directions.Has(bindings.DirOutput) {
		t.Fatalf("%s has no output direction; use bindingtest.Run", s.typ.Name)
	}
	s.run(t, TestDeclaration, s.testDeclaration)
	s.run(t, TestInvalidMetadata, s.testInvalidMetadata)
	s.run(t, TestOpenClose, s.testOpenClose)
	s.run(t, TestUnsupportedOperation, s.testUnsupportedOperation)
}

type suite struct {
	c   Config
	typ *bindings.Type
	cap bindings.Capabilities
}

func newSuite(t *testing.T, c Config) *suite {
	t.Helper()
	if c.Type == "" {
		t.Fatal("bindingtest: Config.Type is empty")
	}
	if c.Metadata == nil {
		t.Fatal("bindingtest: Config.Metadata is nil")
	}
	typ, ok := bindings.Lookup(c.Type)
	if !ok {
		t.Fatalf("bindingtest: %v (does the test import the driver package?)", bindings.UnknownTypeError(c.Type))
	}
	if c.Messages <= 0 {
		c.Messages = defaultMessages
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	for name := range c.Skip {
		if !slices.Contains(allTests, name) {
			t.Errorf("bindingtest: Config.Skip names %q, which is not a subtest (have %v)", name, allTests)
		}
	}
	return &suite{c: c, typ: typ, cap: typ.Capabilities}
}

// run runs one subtest with a context bounded by the timeout.
func (s *suite) run(t *testing.T, name string, f func(t *testing.T, ctx context.Context)) {
	s.runWithin(t, name, s.c.Timeout, f)
}

// deadlineMargin is what a subtest leaves of the test binary's deadline for
// its report and the cleanups.
const deadlineMargin = 30 * time.Second

// concurrentBound is how many Timeouts ConcurrentConsumers may take in all.
// It moves Messages messages, which on a loaded machine can take longer than
// one Timeout while never standing still, so what bounds it is progress: it
// fails once a Timeout passes with nothing sent or delivered.
const concurrentBound = 5

// runWithin runs one subtest with a context bounded by d, and by the test
// binary's own deadline (go test -timeout) less deadlineMargin: a subtest
// that runs out of time reports what it saw rather than dying in the
// binary's panic.
func (s *suite) runWithin(t *testing.T, name string, d time.Duration, f func(t *testing.T, ctx context.Context)) {
	t.Run(name, func(t *testing.T) {
		if reason, ok := s.c.Skip[name]; ok {
			t.Skip(reason)
		}
		if deadline, ok := t.Deadline(); ok {
			d = max(min(d, time.Until(deadline)-deadlineMargin), time.Second)
		}
		ctx, cancel := context.WithTimeout(t.Context(), d)
		defer cancel()
		f(t, ctx)
	})
}

// metadata returns a copy of a fresh destination's metadata.
func (s *suite) metadata(t *testing.T) map[string]string {
	t.Helper()
	md := s.c.Metadata(t)
	if md == nil {
		md = map[string]string{}
	}
	return maps.Clone(md)
}

func (s *suite) config(md map[string]string) bindings.Config {
	return bindings.Config{Name: componentName, Type: s.c.Type, Metadata: maps.Clone(md)}
}

// openInput opens an input on md's destination, closed when the test ends.
func (s *suite) openInput(t *testing.T, ctx context.Context, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(ctx, s.config(md))
	if err != nil {
		t.Fatalf("OpenInput: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// openOutput opens an output on md's destination, closed when the test ends.
func (s *suite) openOutput(t *testing.T, ctx context.Context, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(ctx, s.config(md))
	if err != nil {
		t.Fatalf("OpenOutput: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// sender returns a function that publishes to md's destination, through
// Config.Send or else the output's create. Safe for concurrent use.
func (s *suite) sender(t *testing.T, ctx context.Context, md map[string]string) func(ctx context.Context, req *bindings.InvokeRequest) error {
	t.Helper()
	if s.c.Send != nil {
		return func(ctx context.Context, req *bindings.InvokeRequest) error {
			return s.c.Send(ctx, maps.Clone(md), req)
		}
	}
	if !s.typ.Directions.Has(bindings.DirOutput) || !s.typ.Supports(bindings.OpCreate) {
		t.Fatalf("%s has no output with create: set Config.Send to publish test messages", s.typ.Name)
	}
	out := s.openOutput(t, ctx, md)
	return func(ctx context.Context, req *bindings.InvokeRequest) error {
		r := *req
		r.Operation = bindings.OpCreate
		_, err := out.Invoke(ctx, &r)
		return err
	}
}
