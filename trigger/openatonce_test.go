package trigger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// test.rendezvous is a binding whose opens meet: each waits until "want"
// opens of its "group" (inputs and outputs alike) have begun, so that
// bindings opened one at a time never open. "fail" makes the open fail
// once the group has met. Each open and close is recorded in
// rendezvousLog by "<group>/<component>".
var (
	rendezvousMu     sync.Mutex
	rendezvousGroups = map[string]*rendezvous{}
	rendezvousLog    sync.Map // "open <group>/<name>", "close <group>/<name>" -> true
)

type rendezvous struct {
	arrived int
	met     chan struct{}
}

func init() {
	open := func(ctx context.Context, cfg bindings.Config) (string, error) {
		group := cfg.Metadata["group"]
		want, _ := strconv.Atoi(cfg.Metadata["want"])
		rendezvousMu.Lock()
		g := rendezvousGroups[group]
		if g == nil {
			g = &rendezvous{met: make(chan struct{})}
			rendezvousGroups[group] = g
		}
		if g.arrived++; g.arrived == want {
			close(g.met)
		}
		rendezvousMu.Unlock()
		// Sequential opens would each wait here for the others, which
		// have not begun: a bound, not a timing, ends that wait.
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case <-g.met:
		case <-timer.C:
			rendezvousMu.Lock()
			defer rendezvousMu.Unlock()
			return "", fmt.Errorf("%s: opened alone: %d of %d opens of group %s begun", cfg.Name, g.arrived, want, group)
		case <-ctx.Done():
			// A failed sibling cancels the opens still waiting; one whose
			// group has met goes on (select picks at random among ready
			// cases, and the test must not depend on that pick).
			select {
			case <-g.met:
			default:
				return "", ctx.Err()
			}
		}
		if msg := cfg.Metadata["fail"]; msg != "" {
			return "", errors.New(msg)
		}
		key := group + "/" + cfg.Name
		rendezvousLog.Store("open "+key, true)
		return key, nil
	}
	bindings.Register(bindings.Type{
		Name: "test.rendezvous", Version: "v1", Directions: bindings.DirBoth,
		Operations: []bindings.Operation{bindings.OpCreate},
		Metadata: []bindings.MetadataKey{
			{Name: "group", Kind: bindings.KindString, Description: "The opens that meet."},
			{Name: "want", Kind: bindings.KindInt, Description: "How many opens meet."},
			{Name: "fail", Kind: bindings.KindString, Description: "An error to fail the open with."},
		},
		NewInput: func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) {
			key, err := open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return &rendezvousInput{fakeInput: newFakeInput(), key: key}, nil
		},
		NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) {
			key, err := open(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return &rendezvousOutput{hookedOutput: &hookedOutput{name: cfg.Name, closed: make(chan struct{})}, key: key}, nil
		},
	})
}

type rendezvousInput struct {
	*fakeInput
	key string
}

func (r *rendezvousInput) Close() error {
	rendezvousLog.Store("close "+r.key, true)
	return r.fakeInput.Close()
}

type rendezvousOutput struct {
	*hookedOutput
	key string
}

func (r *rendezvousOutput) Close() error {
	rendezvousLog.Store("close "+r.key, true)
	return r.hookedOutput.Close()
}

func logged(event string) bool {
	_, ok := rendezvousLog.Load(event)
	return ok
}

func rendezvousComponent(name, direction, group string, want int, fail string) string {
	return fmt.Sprintf("%s:test.rendezvous   - {name: direction, value: %s}\n  - {name: group, value: %s}\n  - {name: want, value: %q}\n  - {name: fail, value: %q}\n",
		name, direction, group, strconv.Itoa(want), fail)
}

// TestBindingsOpenAtOnce: Start opens a function's outputs at once, and
// then every function's trigger at once, so that it takes the time of the
// slowest of each, not of their sum. Here each output waits for the other
// to begin, and each input too.
func TestBindingsOpenAtOnce(t *testing.T) {
	outs, ins := uniqueName("outs"), uniqueName("ins")
	set := loadSet(t,
		rendezvousComponent("out1", "output", outs, 2, ""),
		rendezvousComponent("out2", "output", outs, 2, ""),
		rendezvousComponent("in1", "input", ins, 2, ""),
		rendezvousComponent("in2", "input", ins, 2, ""))
	rt, err := New(Options{Components: set, Functions: []Function{
		{Name: "f1", Trigger: "in1", Handler: noop},
		{Name: "f2", Trigger: "in2", Handler: noop},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rt.outputOrder; strings.Join(got, ",") != "out1,out2" {
		t.Errorf("outputs registered as %v, want in the components' order", got)
	}
}

// TestFailedOpensAllReported: when triggers fail to open, Start reports
// every failure, not only the first, and closes what did open: the other
// triggers and the outputs.
func TestFailedOpensAllReported(t *testing.T) {
	outs, ins := uniqueName("outs"), uniqueName("ins")
	set := loadSet(t,
		rendezvousComponent("good-out", "output", outs, 1, ""),
		rendezvousComponent("bad-in1", "input", ins, 3, "no such queue"),
		rendezvousComponent("bad-in2", "input", ins, 3, "no such topic"),
		rendezvousComponent("good-in", "input", ins, 3, ""))
	rt, err := New(Options{Components: set, Functions: []Function{
		{Name: "f1", Trigger: "bad-in1", Handler: noop},
		{Name: "f2", Trigger: "bad-in2", Handler: noop},
		{Name: "f3", Trigger: "good-in", Handler: noop},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded with two bindings failing to open")
	}
	for _, want := range []string{"no such queue", "no such topic"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start's error %q does not report %q", err, want)
		}
	}
	for _, c := range []string{outs + "/good-out", ins + "/good-in"} {
		if !logged("open " + c) {
			t.Errorf("%s did not open", c)
		} else if !logged("close " + c) {
			t.Errorf("%s opened and was not closed after Start failed", c)
		}
	}
}

// TestNoTriggerOpensWhenAnOutputFails: an input may start taking messages
// as it opens (a prefetch); a start that fails on an output, again and
// again in a crash loop, must not take and give them back each time.
func TestNoTriggerOpensWhenAnOutputFails(t *testing.T) {
	outs, ins := uniqueName("outs"), uniqueName("ins")
	set := loadSet(t,
		rendezvousComponent("bad-out", "output", outs, 1, "no route to the broker"),
		rendezvousComponent("in", "input", ins, 1, ""))
	rt, err := New(Options{Components: set, Functions: []Function{{Name: "f", Trigger: "in", Handler: noop}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no route to the broker") {
		t.Fatalf("Start: %v, want the output's failure", err)
	}
	if logged("open " + ins + "/in") {
		t.Error("the trigger opened although an output had failed")
	}
}

// TestOpenAtOnceCancelsTheRest: the first failure cancels the opens still
// waiting, and the error names that failure, not the cancellations.
func TestOpenAtOnceCancelsTheRest(t *testing.T) {
	opened, err := openAtOnce(context.Background(), []string{"slow", "bad", "slow"}, func(ctx context.Context, name string) (string, error) {
		if name == "bad" {
			return "", errors.New("bad: refused")
		}
		<-ctx.Done() // an open that would wait for its init timeout
		return "", ctx.Err()
	})
	if err == nil || err.Error() != "bad: refused" {
		t.Fatalf("error %v, want only the failure that cancelled the rest", err)
	}
	if len(opened) != 3 {
		t.Errorf("%d results, want one per item", len(opened))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = openAtOnce(ctx, []string{"a"}, func(ctx context.Context, _ string) (string, error) { return "", ctx.Err() })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("with the caller's context cancelled: %v, want its cancellation", err)
	}
}
