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
// once the group has met. Closed inputs are recorded in rendezvousClosed.
var (
	rendezvousMu     sync.Mutex
	rendezvousGroups = map[string]*rendezvous{}
	rendezvousClosed sync.Map // group/component name -> true
)

type rendezvous struct {
	arrived int
	met     chan struct{}
}

func init() {
	open := func(ctx context.Context, cfg bindings.Config) error {
		want, _ := strconv.Atoi(cfg.Metadata["want"])
		rendezvousMu.Lock()
		g := rendezvousGroups[cfg.Metadata["group"]]
		if g == nil {
			g = &rendezvous{met: make(chan struct{})}
			rendezvousGroups[cfg.Metadata["group"]] = g
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
			return fmt.Errorf("%s: opened alone: %d of %d opens of group %s begun", cfg.Name, g.arrived, want, cfg.Metadata["group"])
		case <-ctx.Done():
			return ctx.Err()
		}
		if msg := cfg.Metadata["fail"]; msg != "" {
			return errors.New(msg)
		}
		return nil
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
			if err := open(ctx, cfg); err != nil {
				return nil, err
			}
			return &rendezvousInput{fakeInput: newFakeInput(), name: cfg.Metadata["group"] + "/" + cfg.Name}, nil
		},
		NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) {
			if err := open(ctx, cfg); err != nil {
				return nil, err
			}
			return &hookedOutput{name: cfg.Name, closed: make(chan struct{})}, nil
		},
	})
}

type rendezvousInput struct {
	*fakeInput
	name string
}

func (r *rendezvousInput) Close() error {
	rendezvousClosed.Store(r.name, true)
	return r.fakeInput.Close()
}

func rendezvousComponent(name, direction, group string, want int, fail string) string {
	return fmt.Sprintf("%s:test.rendezvous   - {name: direction, value: %s}\n  - {name: group, value: %s}\n  - {name: want, value: %q}\n  - {name: fail, value: %q}\n",
		name, direction, group, strconv.Itoa(want), fail)
}

// TestBindingsOpenAtOnce: Start opens a function's outputs and every
// function's trigger at once, so that it takes the time of the slowest
// open, not of their sum. Here each open waits for the other three to
// begin.
func TestBindingsOpenAtOnce(t *testing.T) {
	group := uniqueName("g")
	set := loadSet(t,
		rendezvousComponent("out1", "output", group, 4, ""),
		rendezvousComponent("out2", "output", group, 4, ""),
		rendezvousComponent("in1", "input", group, 4, ""),
		rendezvousComponent("in2", "input", group, 4, ""))
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

// TestFailedOpensAllReported: when opens fail, Start reports every
// failure, not only the first, and closes the inputs that did open.
func TestFailedOpensAllReported(t *testing.T) {
	group := uniqueName("g")
	set := loadSet(t,
		rendezvousComponent("bad-out", "output", group, 3, "no route to the broker"),
		rendezvousComponent("bad-in", "input", group, 3, "no such queue"),
		rendezvousComponent("good-in", "input", group, 3, ""))
	rt, err := New(Options{Components: set, Functions: []Function{
		{Name: "f1", Trigger: "bad-in", Handler: noop},
		{Name: "f2", Trigger: "good-in", Handler: noop},
	}})
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded with two bindings failing to open")
	}
	for _, want := range []string{"no route to the broker", "no such queue"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start's error %q does not report %q", err, want)
		}
	}
	if _, ok := rendezvousClosed.Load(group + "/good-in"); !ok {
		t.Error("the input that opened was not closed after Start failed")
	}
}
