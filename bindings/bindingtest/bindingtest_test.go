package bindingtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/memory"
)

// The suite is tested on drivers with one deliberate bug each: a suite that
// passes them is a suite that cannot fail. Each is the memory driver wrapped
// to misbehave in one way, registered as "bindings.broken.<bug>"; the sound
// wrapper must pass everything.

// A bug, the subtest that must catch it, and words the failure must contain.
var bugs = []struct {
	bug, subtest, says string
}{
	{"undeclared-key", bindingtest.TestDeclaration, "no Description"},
	{"accepts-invalid", bindingtest.TestInvalidMetadata, "accepted invalid metadata"},
	{"plain-unsupported", bindingtest.TestUnsupportedOperation, "ErrUnsupportedOperation"},
	{"false-lease", bindingtest.TestOpenClose, "LeaseExtender"},
	{"ignores-context", bindingtest.TestReceiveContext, "did not return"},
	{"ignores-close", bindingtest.TestCloseUnblocksReceive, "did not return after Close"},
	{"drops-metadata", bindingtest.TestRoundTrip, "metadata"},
	{"drops-content-type", bindingtest.TestRoundTrip, "ContentType"},
	{"mangles-binary", bindingtest.TestRoundTrip, "arrived as"},
	{"ack-keeps", bindingtest.TestAckRemoves, "unexpected message"},
	{"ack-keeps-on-close", bindingtest.TestAckRemoves, "unexpected message"},
	{"count-stuck", bindingtest.TestNackRedelivers, "DeliveryCount"},
	{"nack-drops", bindingtest.TestNackRedelivers, "still waiting"},
	{"delay-ignored", bindingtest.TestNackDelay, "received again after"},
	{"never-batches", bindingtest.TestBatchReceive, "one per Receive"},
	{"undeclared-batches", bindingtest.TestBatchReceive, "BatchReceive is false"},
	{"reorders", bindingtest.TestOrdering, "expected next"},
	{"drops-key", bindingtest.TestOrdering, "Key"},
	{"close-loses", bindingtest.TestCloseInFlight, "still waiting"},
	{"close-count-stuck", bindingtest.TestCloseInFlight, "DeliveryCount"},
	{"loses-some", bindingtest.TestConcurrentConsumers, "lost"},
	{"duplicates-some", bindingtest.TestConcurrentConsumers, "duplicate"},
	{"reuses-ids", bindingtest.TestConcurrentConsumers, "share an ID"},
	{"send-stalls", bindingtest.TestConcurrentConsumers, "nothing sent or delivered"},
}

const bugEnv = "BINDINGTEST_BUG"

func TestSuiteCatchesBugs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary once per bug")
	}
	for _, b := range bugs {
		t.Run(b.bug, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBrokenDriver$/^"+b.subtest+"$", "-test.v", "-test.count=1", "-test.timeout=50s")
			cmd.Env = append(os.Environ(), bugEnv+"="+b.bug)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a driver with bug %q:\n%s", b.bug, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenDriver/"+b.subtest) {
				t.Fatalf("bug %q: want subtest %s to fail:\n%s", b.bug, b.subtest, out)
			}
			if !strings.Contains(string(out), b.says) {
				t.Errorf("bug %q: the failure does not say %q:\n%s", b.bug, b.says, out)
			}
		})
	}
}

// TestBrokenDriver runs the suite on the driver named by $BINDINGTEST_BUG,
// for TestSuiteCatchesBugs.
func TestBrokenDriver(t *testing.T) {
	bug := os.Getenv(bugEnv)
	if bug == "" {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	bindingtest.Run(t, brokenConfig(bug, 3*time.Second))
}

// TestSoundWrapper checks that the wrapper without a bug passes, so that the
// failures above come from the bugs.
func TestSoundWrapper(t *testing.T) {
	bindingtest.Run(t, brokenConfig("none", 30*time.Second))
}

func brokenConfig(bug string, timeout time.Duration) bindingtest.Config {
	return bindingtest.Config{
		Type: "bindings.broken." + bug,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"queue": bindingtest.Unique("broken")}
		},
		InvalidMetadata: []map[string]string{{"limit": "-1"}},
		Messages:        500,
		Timeout:         timeout,
	}
}

func init() {
	mem, ok := bindings.Lookup(memory.TypeName)
	if !ok {
		panic("memory binding not registered")
	}
	for _, bug := range append([]string{"none", "output-only", "input-only"}, bugNames()...) {
		typ := *mem
		typ.Name = "bindings.broken." + bug
		typ.Aliases = nil
		typ.Metadata = append(slices.Clone(mem.Metadata), bindings.MetadataKey{
			Name: "limit", Kind: bindings.KindInt, Description: "A key the driver checks: at least 0.",
		})
		switch bug {
		case "undeclared-key":
			typ.Metadata = append(typ.Metadata, bindings.MetadataKey{Name: "secretSauce", Kind: bindings.KindString})
		case "false-lease":
			typ.Capabilities.Lease = true
		case "undeclared-batches":
			typ.Capabilities.BatchReceive = false
		case "output-only":
			typ.Directions, typ.Capabilities = bindings.DirOutput, bindings.Capabilities{}
		case "input-only":
			typ.Directions, typ.Operations = bindings.DirInput, nil
			typ.Metadata = slices.DeleteFunc(typ.Metadata, func(k bindings.MetadataKey) bool { return k.Direction == bindings.DirOutput })
		}
		typ.NewInput = func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) {
			if err := checkLimit(bug, cfg); err != nil {
				return nil, err
			}
			in, err := mem.NewInput(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return &brokenInput{Input: in, bug: bug, queue: cfg.Values().String("queue"), held: map[*bindings.Message]*bindings.Message{}}, nil
		}
		typ.NewOutput = func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) {
			if err := checkLimit(bug, cfg); err != nil {
				return nil, err
			}
			out, err := mem.NewOutput(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return &brokenOutput{Output: out, bug: bug}, nil
		}
		if !typ.Directions.Has(bindings.DirInput) {
			typ.NewInput = nil
		}
		if !typ.Directions.Has(bindings.DirOutput) {
			typ.NewOutput = nil
		}
		bindings.Register(typ)
	}
}

func bugNames() []string {
	names := make([]string, len(bugs))
	for i, b := range bugs {
		names[i] = b.bug
	}
	return names
}

func checkLimit(bug string, cfg bindings.Config) error {
	if bug != "accepts-invalid" && cfg.Values().Int("limit") < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}

type brokenOutput struct {
	bindings.Output
	bug string
	n   atomic.Int64
}

func (o *brokenOutput) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	switch {
	case o.bug == "plain-unsupported" && req.Operation != bindings.OpCreate:
		return nil, fmt.Errorf("cannot do %q", req.Operation)
	case o.bug == "send-stalls" && o.n.Add(1) > 100:
		<-ctx.Done() // a broker that stops taking messages
		return nil, ctx.Err()
	}
	return o.Output.Invoke(ctx, req)
}

// brokenInput wraps a memory input. Messages it changes are copies that keep
// the memory Handle, so acks still reach the queue; held maps a copy to the
// original the memory input returned.
type brokenInput struct {
	bindings.Input
	bug   string
	queue string
	n     atomic.Int64

	mu   sync.Mutex
	held map[*bindings.Message]*bindings.Message
}

func (in *brokenInput) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	switch in.bug {
	case "ignores-context":
		ctx = context.Background()
	case "never-batches":
		limit = 1
	}
	for {
		msgs, err := in.Input.Receive(ctx, limit)
		if err != nil {
			return nil, err
		}
		out := msgs[:0:0]
		for _, m := range msgs {
			c := *m
			switch in.bug {
			case "drops-metadata":
				c.Metadata = nil
			case "drops-content-type":
				c.ContentType = ""
			case "mangles-binary":
				c.Data = []byte(strings.ToValidUTF8(string(c.Data), "?"))
			case "count-stuck", "close-count-stuck":
				c.DeliveryCount = 1
			case "drops-key":
				c.Key = ""
			case "reuses-ids":
				c.ID = fmt.Sprint(in.n.Add(1) % 100)
			case "loses-some":
				if in.n.Add(1)%97 == 0 {
					in.Input.Ack(ctx, m)
					continue
				}
			}
			in.mu.Lock()
			in.held[&c] = m
			in.mu.Unlock()
			out = append(out, &c)
		}
		if in.bug == "reorders" {
			slices.Reverse(out)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
}

// original returns the message the memory input returned for m.
func (in *brokenInput) original(m *bindings.Message) *bindings.Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	orig, ok := in.held[m]
	if !ok {
		return m
	}
	delete(in.held, m)
	return orig
}

func (in *brokenInput) Ack(ctx context.Context, m *bindings.Message) error {
	orig := in.original(m)
	switch in.bug {
	case "ack-keeps":
		return in.Input.Nack(ctx, orig, 0)
	case "ack-keeps-on-close":
		return nil // the ack never reaches the broker; Close gives the message back
	case "duplicates-some":
		if in.n.Add(1)%89 == 0 {
			memory.Publish(in.queue, &bindings.Message{Data: orig.Data})
		}
	}
	return in.Input.Ack(ctx, orig)
}

func (in *brokenInput) Nack(ctx context.Context, m *bindings.Message, delay time.Duration) error {
	orig := in.original(m)
	switch in.bug {
	case "delay-ignored":
		delay = 0
	case "nack-drops":
		return in.Input.Ack(ctx, orig)
	}
	return in.Input.Nack(ctx, orig, delay)
}

func (in *brokenInput) Close() error {
	switch in.bug {
	case "ignores-close":
		return nil
	case "close-loses":
		in.mu.Lock()
		for c, orig := range in.held {
			in.Input.Ack(context.Background(), orig)
			delete(in.held, c)
		}
		in.mu.Unlock()
	}
	return in.Input.Close()
}

// TestOutputOnly runs the reduced suite on an output-only type, by RunOutput
// and by Run.
func TestOutputOnly(t *testing.T) {
	c := brokenConfig("output-only", 30*time.Second)
	t.Run("RunOutput", func(t *testing.T) { bindingtest.RunOutput(t, c) })
	t.Run("Run", func(t *testing.T) { bindingtest.Run(t, c) })
}

// TestInputOnlyWithSend runs the suite on an input-only type whose test
// publishes through Config.Send.
func TestInputOnlyWithSend(t *testing.T) {
	c := brokenConfig("input-only", 30*time.Second)
	c.Send = func(ctx context.Context, md map[string]string, req *bindings.InvokeRequest) error {
		memory.Publish(md["queue"], &bindings.Message{Data: req.Data, ContentType: req.ContentType, Metadata: req.Metadata, Key: req.Metadata["partitionKey"]})
		return nil
	}
	bindingtest.Run(t, c)
}
