package fntest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
	"github.com/tetherfn/tether/trigger"
)

type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

type receipt struct {
	Order string `json:"order"`
}

type outputs struct {
	Shipped functions.Output[order]   `binding:"shipped"`
	Audit   functions.Output[receipt] `binding:"audit"`
}

// process is what the generator writes for
//
//	//tether:function process trigger=orders return=receipts
//	func Process(ctx context.Context, o order, out outputs) (receipt, error)
func process(handle func(context.Context, order, outputs) (receipt, error)) trigger.Function {
	var out outputs
	return trigger.Function{
		Name: "process", Trigger: "orders", Return: "receipts",
		Bind: func(_ context.Context, o *trigger.Outputs) error {
			return errors.Join(o.Bind("Shipped", &out.Shipped, "shipped"), o.Bind("Audit", &out.Audit, "audit"))
		},
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			var in order
			if err := json.Unmarshal(m.Data, &in); err != nil {
				return trigger.Result{}, functions.Permanent(fmt.Errorf("decode JSON payload into order: %w", err))
			}
			res, err := handle(ctx, in, out)
			if err != nil {
				return trigger.Result{}, err
			}
			data, ct, err := functions.Encode(res)
			if err != nil {
				return trigger.Result{}, functions.Permanent(err)
			}
			return trigger.Result{Data: data, ContentType: ct}, nil
		},
	}
}

// ship sends the order twice, with metadata, then audits it.
func ship(ctx context.Context, o order, out outputs) (receipt, error) {
	if o.Total < 0 {
		return receipt{}, functions.Permanent(errors.New("negative total"))
	}
	for i := range 2 {
		if err := out.Shipped.Send(ctx, o, functions.WithMetadataKey("part", fmt.Sprint(i))); err != nil {
			return receipt{}, err
		}
	}
	if err := out.Audit.Send(ctx, receipt{Order: o.ID}); err != nil {
		return receipt{}, fmt.Errorf("audit: %w", err)
	}
	return receipt{Order: o.ID}, nil
}

func TestAckRecordsOutputsInOrder(t *testing.T) {
	h := fntest.New(t, process(ship))
	out := h.Send(order{ID: "o-1", Total: 5})
	if !out.Acked() {
		t.Fatalf("outcome = %v, want acked", out)
	}
	sent := h.Output("shipped").Sent()
	if len(sent) != 2 {
		t.Fatalf("shipped %d messages, want 2", len(sent))
	}
	for i, s := range sent {
		if got := fntest.Decode[order](t, s); got.ID != "o-1" || s.Metadata["part"] != fmt.Sprint(i) || s.ContentType != "application/json" || s.Operation != bindings.OpCreate {
			t.Errorf("shipped[%d] = %+v (%+v)", i, got, s)
		}
	}
	if got := h.Output("audit").Sent(); len(got) != 1 {
		t.Errorf("audit got %d messages, want 1", len(got))
	}
	ret := h.Output("receipts").Sent()
	if len(ret) != 1 || fntest.Decode[receipt](t, ret[0]).Order != "o-1" {
		t.Errorf("return binding got %+v, want the receipt of o-1", ret)
	}
	if string(out.Result.Data) != `{"order":"o-1"}` {
		t.Errorf("result = %s", out.Result.Data)
	}
}

func TestFailingOutputRetriesThenDeadLetters(t *testing.T) {
	down := errors.New("audit log down")
	policy := bindings.DefaultDeliveryPolicy()
	policy.Jitter, policy.MaxAttempts, policy.InitialInterval = 0, 3, 2*time.Second
	h := fntest.New(t, process(ship), fntest.Fail("audit", down), fntest.DeliveryPolicy(policy))

	out := h.Send(order{ID: "o-2"}, fntest.ID("m-2"))
	if out.Action != trigger.RetryLater || out.Delay != 2*time.Second || !errors.Is(out.Err, down) {
		t.Fatalf("first attempt: %v; want a retry in 2s with the output's error", out)
	}
	if out := h.Send(order{ID: "o-2"}, fntest.ID("m-2"), fntest.Attempt(2)); out.Delay != 4*time.Second {
		t.Errorf("second attempt: %v; want a retry in 4s (backoff doubles)", out)
	}
	out = h.Send(order{ID: "o-2"}, fntest.ID("m-2"), fntest.Attempt(3), fntest.Metadata(map[string]string{"tenant": "t1"}))
	if out.Action != trigger.DeadLettered || out.DeadLetter == nil {
		t.Fatalf("last attempt: %v; want dead-lettered", out)
	}
	dl := out.DeadLetter
	if dl.Function != "process" || dl.Binding != "orders" || dl.MessageID != "m-2" || dl.Attempts != 3 ||
		dl.Permanent || !strings.Contains(dl.Error, "audit log down") || dl.Metadata["tenant"] != "t1" ||
		string(dl.Data) != `{"id":"o-2","total":0}` {
		t.Errorf("dead letter = %+v", dl)
	}
	sent := h.Output("audit").Sent()
	if len(sent) != 3 || !errors.Is(sent[0].Err, down) {
		t.Errorf("audit recorded %d failed calls (%v), want 3", len(sent), sent)
	}
	if got := h.Output("receipts").Sent(); len(got) != 0 {
		t.Errorf("a failed attempt sent %d results to the return binding", len(got))
	}
}

func TestPermanentAndUndecodable(t *testing.T) {
	h := fntest.New(t, process(ship))
	if out := h.Send(order{ID: "o-3", Total: -1}); out.Action != trigger.DeadLettered || !out.DeadLetter.Permanent {
		t.Errorf("permanent error: %v; want dead-lettered at the first attempt", out)
	}
	out := h.Send("not json")
	if out.Action != trigger.DeadLettered || !strings.Contains(out.DeadLetter.Error, "decode JSON payload") {
		t.Errorf("undecodable payload: %v; want dead-lettered", out)
	}

	kept := fntest.New(t, process(ship), fntest.NoDeadLetter())
	if out := kept.Send("not json"); out.Action != trigger.Exhausted || out.DeadLetter != nil {
		t.Errorf("without a dead-letter binding: %v; want exhausted", out)
	}
}

func TestRetryAfterPanicAndTimeout(t *testing.T) {
	calls := 0
	h := fntest.New(t, process(func(ctx context.Context, o order, _ outputs) (receipt, error) {
		calls++
		switch o.ID {
		case "slow-down":
			return receipt{}, functions.RetryAfter(42*time.Second, errors.New("rate limited"))
		case "panic":
			panic("boom")
		case "hang":
			<-ctx.Done()
			return receipt{}, ctx.Err()
		}
		return receipt{}, nil
	}), fntest.DeliveryPolicy(bindings.DeliveryPolicy{
		MaxConcurrency: 1, BatchSize: 1, MaxBatchSize: 1, MaxAttempts: 5, InitialInterval: time.Second, MaxInterval: time.Minute,
		Multiplier: 2, HandlerTimeout: 50 * time.Millisecond,
	}))
	if out := h.Send(order{ID: "slow-down"}); out.Action != trigger.RetryLater || out.Delay != 42*time.Second {
		t.Errorf("RetryAfter: %v; want a retry in exactly 42s", out)
	}
	out := h.Send(order{ID: "panic"})
	var pe *trigger.PanicError
	if out.Action != trigger.RetryLater || !errors.As(out.Err, &pe) || pe.Value != "boom" {
		t.Errorf("panic: %v; want a retry with the PanicError", out)
	}
	if out := h.Send(order{ID: "hang"}); out.Action != trigger.RetryLater || !errors.Is(out.Err, trigger.ErrHandlerTimeout) {
		t.Errorf("timeout: %v; want a retry with ErrHandlerTimeout", out)
	}
	if calls != 3 {
		t.Errorf("handler called %d times, want 3", calls)
	}
}

func TestSendEvent(t *testing.T) {
	var got *functions.Event
	fn := trigger.Function{Name: "ev", Trigger: "things", Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
		got = functions.EventOf(ctx, m) // as generated for a *functions.Event input
		return trigger.Result{}, nil
	}}
	h := fntest.New(t, fn, fntest.TriggerType("bindings.aws.sqs"))
	ev := event.New()
	ev.SetID("e-1")
	ev.SetSource("/somewhere")
	ev.SetType("thing.happened")
	ev.SetExtension("tenant", "t9")
	if err := ev.SetData("application/json", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if out := h.SendEvent(ev, fntest.Attempt(2)); !out.Acked() {
		t.Fatal(out)
	}
	if got.ID() != "e-1" || got.Source() != "/bindings/things" || got.Type() != "dev.tether.aws.sqs.message" ||
		string(got.Data()) != `{"n":1}` || got.Extensions()["tenant"] != "t9" || got.Attempt != 2 {
		t.Errorf("event = %v (attempt %d)", got, got.Attempt)
	}
}

// fatalTB records the first Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fatal runs f with a TB whose Fatalf is caught, and returns its message.
func fatal(t *testing.T, f func(tb testing.TB)) string {
	tb := &fatalTB{TB: t}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f(tb) }()
	wg.Wait()
	return tb.msg
}

func TestMisspeltOutputFails(t *testing.T) {
	msg := fatal(t, func(tb testing.TB) { fntest.New(tb, process(ship)).Output("shiped") })
	if !strings.Contains(msg, `no recorded output "shiped"; did you mean "shipped"?`) {
		t.Errorf("Output of a misspelt component: %q", msg)
	}
}

func TestBindErrorNamesFieldComponentAndTypes(t *testing.T) {
	// A memory output behind an Outputs field that needs create works; a
	// binding without create does not.
	msg := fatal(t, func(tb testing.TB) {
		fntest.New(tb, process(ship), fntest.Open("audit", bindings.Config{Type: "test.no-create"}))
	})
	for _, want := range []string{`field Audit`, `*functions.Output[github.com/tetherfn/tether/functions/fntest_test.receipt]`, `component "audit"`, `test.no-create`} {
		if !strings.Contains(msg, want) {
			t.Errorf("bind error %q does not name %s", msg, want)
		}
	}
}

func init() {
	// An output type without create, to see Output[T] refuse it.
	bindings.Register(bindings.Type{
		Name: "test.no-create", Directions: bindings.DirOutput, Operations: []bindings.Operation{bindings.OpGet},
		NewOutput: func(context.Context, bindings.Config) (bindings.Output, error) { return nopOutput{}, nil },
	})
}

type nopOutput struct{}

func (nopOutput) Invoke(context.Context, *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	return nil, nil
}
func (nopOutput) Close() error { return nil }

func TestStartEndToEnd(t *testing.T) {
	suffix := fmt.Sprint(rand.Uint64())
	in, shipped, receipts := "orders-"+suffix, "shipped-"+suffix, "receipts-"+suffix
	dir := t.TempDir()
	for name, queue := range map[string]string{"orders": in, "shipped": shipped, "audit": "audit-" + suffix, "receipts": receipts} {
		yaml := fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: bindings.memory\n  version: v1\n  metadata:\n  - name: queue\n    value: %s\n", name, queue)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fntest.Start(t, []string{dir}, process(ship))
	memory.Publish(in, &bindings.Message{Data: []byte(`{"id":"o-9","total":3}`), ContentType: "application/json"})
	got := fntest.Receive(t, shipped, 2)
	for i, m := range got {
		if string(m.Data) != `{"id":"o-9","total":3}` || m.Metadata["part"] != fmt.Sprint(i) {
			t.Errorf("shipped[%d] = %s %v", i, m.Data, m.Metadata)
		}
	}
	if r := fntest.Receive(t, receipts, 1); string(r[0].Data) != `{"order":"o-9"}` {
		t.Errorf("receipt = %s", r[0].Data)
	}
}

func TestConcurrentSends(t *testing.T) {
	h := fntest.New(t, process(ship))
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			total := 1
			if i%2 == 0 {
				total = -1 // refused for good
			}
			id := fmt.Sprintf("c-%d", i)
			out := h.Send(order{ID: id, Total: total}, fntest.ID(id))
			switch {
			case total > 0 && !out.Acked():
				t.Errorf("%s: %v, want acked", id, out)
			case total < 0 && (out.DeadLetter == nil || out.DeadLetter.MessageID != id):
				t.Errorf("%s: %v with envelope %+v, want its own dead letter", id, out, out.DeadLetter)
			}
		}()
	}
	wg.Wait()
	if n := len(h.Output("shipped").Sent()); n != 20 {
		t.Errorf("shipped %d messages, want 20 (2 per accepted order)", n)
	}
}

func TestStartWithMissingOutputComponent(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"orders", "shipped", "receipts"} { // no "audit"
		yaml := fmt.Sprintf("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: bindings.memory\n  version: v1\n  metadata:\n  - name: queue\n    value: %s-%d\n", name, name, rand.Uint64())
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msg := fatal(t, func(tb testing.TB) { fntest.Start(tb, []string{dir}, process(ship)) })
	want := `start: function "process": field Audit (*functions.Output[github.com/tetherfn/tether/functions/fntest_test.receipt]): no output component named "audit"`
	if !strings.Contains(msg, want) {
		t.Errorf("start-up error:\n%s\nwant it to contain:\n%s", msg, want)
	}
}
