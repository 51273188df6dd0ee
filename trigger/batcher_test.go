package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// queueInput is a fakeInput that hands out what the test put, as many at
// a time as Receive asks for, and records the largest ask.
type queueInput struct {
	*fakeInput
	mu      sync.Mutex
	waiting []*bindings.Message
	more    chan struct{}
	asked   int
}

func newQueueInput() *queueInput {
	f := newFakeInput()
	f.events = make(chan fakeEvent, 10000)
	return &queueInput{fakeInput: f, more: make(chan struct{}, 1)}
}

func (q *queueInput) put(ids ...string) {
	q.mu.Lock()
	for _, id := range ids {
		key, _, _ := strings.Cut(id, "/")
		if key == id {
			key = ""
		}
		q.waiting = append(q.waiting, &bindings.Message{ID: id, Key: key, DeliveryCount: 1})
	}
	q.mu.Unlock()
	select {
	case q.more <- struct{}{}:
	default:
	}
}

func (q *queueInput) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	for {
		q.mu.Lock()
		q.asked = max(q.asked, limit)
		if n := min(limit, len(q.waiting)); n > 0 {
			got := slices.Clone(q.waiting[:n])
			q.waiting = q.waiting[n:]
			q.mu.Unlock()
			return got, nil
		}
		q.mu.Unlock()
		select {
		case <-q.more:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closed:
			return nil, bindings.ErrClosed
		}
	}
}

// events returns what happened to the messages so far, "op id" each, in
// order; the bubble must be idle (synctest.Wait).
func (q *queueInput) drained() []string {
	var out []string
	for {
		select {
		case ev := <-q.events:
			out = append(out, ev.op+" "+ev.id)
		default:
			return out
		}
	}
}

// batchLog records the batches a BatchHandler was called with.
type batchLog struct {
	mu      sync.Mutex
	batches [][]string
}

func (l *batchLog) add(ms []*bindings.Message) {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = fmt.Sprintf("%s#%d", m.ID, m.DeliveryCount)
	}
	l.mu.Lock()
	l.batches = append(l.batches, ids)
	l.mu.Unlock()
}

func (l *batchLog) take() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.batches
	l.batches = nil
	return b
}

type batchOptions struct {
	typ        *bindings.Type
	deadLetter bindings.Output
	metrics    *Metrics     // nil: a registry of the test's own
	failures   *failureLog  // the dead-letter middleware's; nil: its own
	chained    bool         // every item through the chain, as with tracing or an observer (no dispatcher.handled)
	middleware []Middleware // around batchItem, inside the runtime's own middleware (which stays bare: chainWith)
}

// startBatchDispatcher runs a batch function on in, as the runtime does.
func startBatchDispatcher(in bindings.Input, policy bindings.DeliveryPolicy, h BatchHandler, o batchOptions) *dispatcher {
	typ := o.typ
	if typ == nil {
		typ = &bindings.Type{Name: "test.batch", Capabilities: bindings.Capabilities{BatchReceive: true, DelayedNack: true}}
	}
	metrics := o.metrics
	if metrics == nil {
		metrics = NewMetrics(prometheus.NewRegistry())
	}
	failures := o.failures
	if failures == nil {
		failures = newFailureLog(failureLogMax)
	}
	item := Handler(batchItem)
	for i := len(o.middleware) - 1; i >= 0; i-- {
		item = o.middleware[i](item)
	}
	chain, own := chainWith(item, ChainOptions{Function: "fn", Binding: "in", Policy: policy, DeadLetter: o.deadLetter,
		Metrics: metrics}, failures)
	d := newDispatcher("fn", "in", typ, in, policy, chain, h, context.Background(), discardLogger)
	if !o.chained { // as the runtime's chain without tracing or observer
		d.handled = own
	}
	d.start()
	return d
}

func batchPolicy(conc, size int, wait time.Duration) bindings.DeliveryPolicy {
	p := bindings.DefaultDeliveryPolicy()
	p.MaxConcurrency, p.MaxBatchSize, p.MaxBatchWait = conc, size, wait
	p.InitialInterval, p.MaxInterval, p.Jitter = time.Second, time.Second, 0
	return p
}

func stopNow(t *testing.T, d *dispatcher) {
	t.Helper()
	if err := d.stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBatchSizes: batches are cut at maxBatchSize, handed over at once when
// maxBatchWait is 0, after maxBatchWait when not full, and keep growing
// while no worker is free; Receive asks for at least maxBatchSize.
func TestBatchSizes(t *testing.T) {
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%d", prefix, i))
		}
		return out
	}
	t.Run("cut at maxBatchSize", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			in := newQueueInput()
			var log batchLog
			d := startBatchDispatcher(in, batchPolicy(1, 3, 0), func(_ context.Context, ms []*bindings.Message) []error {
				log.add(ms)
				return nil
			}, batchOptions{})
			defer stopNow(t, d)
			in.put(ids("m", 7)...)
			synctest.Wait()
			got := log.take()
			want := [][]string{{"m0#1", "m1#1", "m2#1"}, {"m3#1", "m4#1", "m5#1"}, {"m6#1"}}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("batches %v, want %v", got, want)
			}
			if in.asked != 10 { // batchSize's default, over maxBatchSize 3
				t.Errorf("Receive asked for %d, want 10", in.asked)
			}
			if acks := in.drained(); len(acks) != 7 {
				t.Errorf("%d settled, want 7 acks: %v", len(acks), acks)
			}
		})
	})
	t.Run("receive asks for maxBatchSize", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			in := newQueueInput()
			d := startBatchDispatcher(in, batchPolicy(1, 250, 0), func(context.Context, []*bindings.Message) []error { return nil }, batchOptions{})
			defer stopNow(t, d)
			synctest.Wait()
			if in.asked != 250 {
				t.Errorf("Receive asked for %d, want maxBatchSize 250", in.asked)
			}
		})
	})
	t.Run("maxBatchWait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			in := newQueueInput()
			var log batchLog
			called := make(chan time.Time, 10)
			d := startBatchDispatcher(in, batchPolicy(1, 3, time.Second), func(_ context.Context, ms []*bindings.Message) []error {
				log.add(ms)
				called <- time.Now()
				return nil
			}, batchOptions{})
			defer stopNow(t, d)
			start := time.Now()
			in.put("a", "b")
			synctest.Wait()
			if got := log.take(); got != nil {
				t.Fatalf("a batch of 2 (max 3) handed over before maxBatchWait: %v", got)
			}
			time.Sleep(500 * time.Millisecond)
			in.put("c") // fills it: at once
			synctest.Wait()
			if got := log.take(); fmt.Sprint(got) != "[[a#1 b#1 c#1]]" {
				t.Fatalf("batches %v, want [[a#1 b#1 c#1]] as soon as full", got)
			}
			if at := (<-called).Sub(start); at != 500*time.Millisecond {
				t.Errorf("full batch handed over after %s, want at once (500ms)", at)
			}
			start = time.Now()
			in.put("d")
			<-called
			if at := time.Since(start); at != time.Second {
				t.Errorf("batch of 1 handed over after %s, want maxBatchWait (1s)", at)
			}
			if got := log.take(); fmt.Sprint(got) != "[[d#1]]" {
				t.Errorf("batches %v, want [[d#1]]", got)
			}
		})
	})
	t.Run("grows while the workers are busy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			in := newQueueInput()
			var log batchLog
			release := make(chan struct{})
			d := startBatchDispatcher(in, batchPolicy(1, 4, 0), func(_ context.Context, ms []*bindings.Message) []error {
				log.add(ms)
				if ms[0].ID == "first" {
					<-release
				}
				return nil
			}, batchOptions{})
			defer stopNow(t, d)
			in.put("first")
			synctest.Wait()
			for _, id := range ids("m", 6) { // one Receive each
				in.put(id)
				synctest.Wait()
			}
			close(release)
			synctest.Wait()
			// The batch built while the worker was busy grew to
			// maxBatchSize; what came after it follows, split as the
			// worker and the receiver met.
			got := log.take()
			if len(got) < 3 || fmt.Sprint(got[:2]) != "[[first#1] [m0#1 m1#1 m2#1 m3#1]]" || fmt.Sprint(slices.Concat(got[2:]...)) != "[m4#1 m5#1]" {
				t.Errorf("batches %v, want [first#1], then [m0#1 m1#1 m2#1 m3#1], then m4 and m5", got)
			}
		})
	})
}

// TestBatchItemOutcomes: each item is settled on its own by its error, as
// a single message would be.
func TestBatchItemOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delayed bool // the broker delays nacks itself
	}{{"held retries", false}, {"delayed nacks", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newQueueInput()
				dl := &recordingOutput{}
				var log batchLog
				policy := batchPolicy(1, 10, 0)
				policy.InitialInterval, policy.MaxInterval = time.Minute, time.Minute
				typ := &bindings.Type{Name: "test.batch", Capabilities: bindings.Capabilities{BatchReceive: true, DelayedNack: tc.delayed}}
				calls := 0 // one worker: calls are serial
				d := startBatchDispatcher(in, policy, func(_ context.Context, ms []*bindings.Message) []error {
					log.add(ms)
					calls++
					errs := make([]error, len(ms))
					for i, m := range ms {
						switch {
						case m.ID == "fails" && m.DeliveryCount == 1:
							errs[i] = errors.New("not yet")
						case m.ID == "permanent":
							errs[i] = functions.Permanent(errors.New("bad order"))
						case m.ID == "snoozes" && calls == 1:
							errs[i] = functions.RetryAfter(30*time.Second, errors.New("rate limited"))
						}
					}
					return errs
				}, batchOptions{typ: typ, deadLetter: dl})
				defer stopNow(t, d)
				in.put("ok", "fails", "permanent", "snoozes")
				synctest.Wait()
				// Each item is settled on its own, in no given order (the
				// handled items' acks go together, before the others).
				got := in.drained()
				slices.Sort(got)
				wantNow := []string{"ack ok", "ack permanent"}
				if tc.delayed {
					wantNow = []string{"ack ok", "ack permanent", "nack fails"}
				}
				if fmt.Sprint(got) != fmt.Sprint(wantNow) {
					t.Errorf("settled %v, want %v", got, wantNow)
				}
				if len(dl.reqs) != 1 || !strings.Contains(string(dl.reqs[0].Data), "bad order") {
					t.Errorf("dead letters %d, want the permanent item's", len(dl.reqs))
				}
				time.Sleep(30 * time.Second)
				synctest.Wait()
				// The snooze is over: back with the same attempt number.
				if got := in.drained(); fmt.Sprint(got) != "[ack snoozes]" {
					t.Errorf("after the snooze: settled %v, want [ack snoozes]", got)
				}
				if tc.delayed {
					// The broker redelivers "fails" itself.
					in.mu.Lock()
					in.waiting = append(in.waiting, &bindings.Message{ID: "fails", DeliveryCount: 2})
					in.mu.Unlock()
					in.more <- struct{}{}
				}
				time.Sleep(30 * time.Second)
				synctest.Wait()
				if got := in.drained(); fmt.Sprint(got) != "[ack fails]" {
					t.Errorf("after the retry delay: settled %v, want [ack fails]", got)
				}
				batches := fmt.Sprint(log.take())
				want := "[[ok#1 fails#1 permanent#1 snoozes#1] [snoozes#1] [fails#2]]"
				if batches != want {
					t.Errorf("batches %s, want %s", batches, want)
				}
			})
		})
	}
}

// TestBatchHandledItemsAsTheChain: the items a BatchHandler handled are
// settled without the per-item chain (ownChain.handledItem and handledItems) exactly as through it:
// the same acks, nacks and dead letters, the same counts in every metric,
// and a success forgets the item's earlier failure (the dead-letter
// middleware's first-failure time), as the chain does. The dead letter
// takes a second: the chain counts it in the failed item's duration only,
// and so must ownChain.handledItems (the durations of the handled items are their
// own, not the settling's). Only the failed items run through the chain
// when the dispatcher settles handled items itself.
func TestBatchHandledItemsAsTheChain(t *testing.T) {
	run := func(t *testing.T, chained bool) (settled []string, metrics map[string]float64, remembered int64, through int64) {
		synctest.Test(t, func(t *testing.T) {
			in := newQueueInput()
			dl := &slowOutput{delay: time.Second}
			var items atomic.Int64
			count := func(next Handler) Handler {
				return func(ctx context.Context, m *bindings.Message) (Result, error) {
					items.Add(1)
					return next(ctx, m)
				}
			}
			reg := prometheus.NewRegistry()
			failures := newFailureLog(failureLogMax)
			policy := batchPolicy(1, 10, 0)
			typ := &bindings.Type{Name: "test.batch", Capabilities: bindings.Capabilities{BatchReceive: true, DelayedNack: true}}
			d := startBatchDispatcher(in, policy, func(_ context.Context, ms []*bindings.Message) []error {
				errs := make([]error, len(ms))
				for i, m := range ms {
					switch {
					case strings.HasPrefix(m.ID, "fails") && m.DeliveryCount == 1:
						errs[i] = errors.New("not yet")
					case m.ID == "permanent":
						errs[i] = functions.Permanent(errors.New("bad order"))
					}
				}
				return errs
			}, batchOptions{typ: typ, deadLetter: dl, metrics: NewMetrics(reg), failures: failures, chained: chained,
				middleware: []Middleware{count}})
			in.put("ok1", "fails1", "ok2", "permanent", "fails2", "ok3")
			time.Sleep(dl.delay) // the dead letter's
			synctest.Wait()
			settled = in.drained()
			// The broker redelivers the failed ones; they succeed.
			in.mu.Lock()
			in.waiting = append(in.waiting, &bindings.Message{ID: "fails1", DeliveryCount: 2}, &bindings.Message{ID: "fails2", DeliveryCount: 2})
			in.mu.Unlock()
			in.more <- struct{}{}
			synctest.Wait()
			settled = append(settled, in.drained()...)
			stopNow(t, d)
			metrics = map[string]float64{}
			for _, name := range []string{"tether_messages_received_total", "tether_messages_succeeded_total",
				"tether_messages_failed_total", "tether_messages_retried_total", "tether_messages_dead_lettered_total",
				"tether_messages_in_flight"} {
				metrics[name] = gatherValue(t, reg, name)
			}
			h := gatherHistogram(t, reg, "tether_handler_duration_seconds")
			metrics["duration count"] = float64(h.GetSampleCount())
			metrics["duration sum"] = h.GetSampleSum()
			for _, b := range h.GetBucket() {
				metrics[fmt.Sprintf("duration le %g", b.GetUpperBound())] = float64(b.GetCumulativeCount())
			}
			remembered = failures.size.Load()
			through = items.Load()
			if dead := len(dl.reqs); dead != 1 {
				t.Errorf("%d dead letters, want the permanent item's", dead)
			}
		})
		slices.Sort(settled)
		return settled, metrics, remembered, through
	}
	var chainSettled []string
	var chainMetrics map[string]float64
	t.Run("chain", func(t *testing.T) {
		var remembered, through int64
		chainSettled, chainMetrics, remembered, through = run(t, true)
		if remembered != 0 {
			t.Errorf("the chain remembers %d failures of items that succeeded since", remembered)
		}
		if through != 8 {
			t.Errorf("%d items through the chain, want every attempt's (8)", through)
		}
	})
	t.Run("handledItems", func(t *testing.T) {
		settled, metrics, remembered, through := run(t, false)
		if through != 3 {
			t.Errorf("%d items through the chain, want the failed attempts' only (3)", through)
		}
		if fmt.Sprint(settled) != fmt.Sprint(chainSettled) {
			t.Errorf("settled %v, through the chain %v", settled, chainSettled)
		}
		if fmt.Sprint(metrics) != fmt.Sprint(chainMetrics) {
			t.Errorf("metrics %v, through the chain %v", metrics, chainMetrics)
		}
		if remembered != 0 {
			t.Errorf("%d failures remembered of items that succeeded since", remembered)
		}
	})
	want := fmt.Sprint(map[string]float64{
		"tether_messages_received_total": 8, "tether_messages_succeeded_total": 5, "tether_messages_failed_total": 3,
		"tether_messages_retried_total": 2, "tether_messages_dead_lettered_total": 1, "tether_messages_in_flight": 0,
		// Only the dead letter took time (a second, the permanent item's).
		"duration count": 8, "duration sum": 1,
		"duration le 0.0005": 7, "duration le 0.002": 7, "duration le 0.008": 7, "duration le 0.032": 7, "duration le 0.128": 7,
		"duration le 0.512": 7, "duration le 2.048": 8, "duration le 8.192": 8, "duration le 32.768": 8, "duration le 131.072": 8,
	})
	if got := fmt.Sprint(chainMetrics); got != want {
		t.Errorf("through the chain: metrics %s, want %s", got, want)
	}
}

// slowOutput is a recordingOutput that takes delay to answer.
type slowOutput struct {
	recordingOutput
	delay time.Duration
}

func (o *slowOutput) Invoke(ctx context.Context, r *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	time.Sleep(o.delay)
	return o.recordingOutput.Invoke(ctx, r)
}

// TestBatchFailsWhole: a panic, the handlerTimeout, and a wrong number of
// errors fail every item of the batch with the same error; a handler that
// returns no error after its deadline did its work.
func TestBatchFailsWhole(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler BatchHandler
		want    string // in every item's dead letter; "" when all are acked
	}{
		{"panic", func(context.Context, []*bindings.Message) []error { panic("boom") }, "handler panicked: boom"},
		{"timeout", func(ctx context.Context, ms []*bindings.Message) []error {
			<-ctx.Done()
			errs := make([]error, len(ms))
			errs[1] = ctx.Err() // one item: the whole batch timed out
			return errs
		}, "handler timed out"},
		{"late success", func(ctx context.Context, ms []*bindings.Message) []error {
			<-ctx.Done()
			return nil
		}, ""},
		{"wrong number of errors", func(context.Context, []*bindings.Message) []error { return []error{nil} }, "returned 1 errors for 3 messages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newQueueInput()
				dl := &recordingOutput{}
				policy := batchPolicy(1, 10, 0)
				policy.MaxAttempts, policy.HandlerTimeout = 1, time.Minute
				d := startBatchDispatcher(in, policy, tc.handler, batchOptions{deadLetter: dl})
				defer stopNow(t, d)
				in.put("a", "b", "c")
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				if got := in.drained(); fmt.Sprint(got) != "[ack a ack b ack c]" {
					t.Errorf("settled %v, want every item acked (dead-lettered or handled)", got)
				}
				if tc.want == "" {
					if len(dl.reqs) != 0 {
						t.Errorf("%d dead letters, want none", len(dl.reqs))
					}
					return
				}
				if len(dl.reqs) != 3 {
					t.Fatalf("%d dead letters, want all 3 items", len(dl.reqs))
				}
				for _, r := range dl.reqs {
					if !strings.Contains(string(r.Data), tc.want) {
						t.Errorf("dead letter %s; want its error to say %q", r.Data, tc.want)
					}
				}
			})
		})
	}
}

// TestBatchTimeoutKeepsItemsApart: when a batch overruns its
// handlerTimeout and fails as a whole, one item's Permanent (or RetryAfter)
// stays that item's: the others fail with the timeout and are retried. (The
// timeout used to wrap the first item's error for every item, so one
// poison message dead-lettered its whole batch at once, the messages
// already handled among them: the fault suite's batch run lost ~2,700 of
// 10,000 to the dead letter.)
func TestBatchTimeoutKeepsItemsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := newQueueInput()
		dl := &recordingOutput{}
		policy := batchPolicy(1, 10, 0)
		policy.MaxAttempts, policy.HandlerTimeout = 2, time.Minute
		d := startBatchDispatcher(in, policy, func(ctx context.Context, ms []*bindings.Message) []error {
			errs := make([]error, len(ms))
			for i, m := range ms {
				switch m.ID {
				case "poison":
					errs[i] = functions.Permanent(errors.New("poison"))
				case "slow":
					<-ctx.Done() // the batch overruns its deadline
					errs[i] = ctx.Err()
				}
			}
			return errs
		}, batchOptions{deadLetter: dl})
		defer stopNow(t, d)
		in.put("poison", "slow", "done")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		// The fake broker redelivers nothing: a retry is a delayed nack.
		if got := fmt.Sprint(in.drained()); got != "[ack poison nack slow nack done]" {
			t.Errorf("settled %s, want the poison message dead-lettered (acked), the others nacked for a retry", got)
		}
		if len(dl.reqs) != 1 {
			t.Fatalf("%d dead letters, want the poison one only", len(dl.reqs))
		}
		var env functions.DeadLetter
		if err := json.Unmarshal(dl.reqs[0].Data, &env); err != nil || env.MessageID != "poison" || !env.Permanent {
			t.Errorf("dead letter %s (%v), want the poison message's, permanent", dl.reqs[0].Data, err)
		}
	})
}

// TestBatchOrderedHoldBack: on an ordered trigger a failed item holds back
// the later items of its key only, in the batch and parked behind it; they
// come back after it, in order, without an attempt counted.
func TestBatchOrderedHoldBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := newQueueInput()
		var log batchLog
		typ := &bindings.Type{Name: "test.ordered", Capabilities: bindings.Capabilities{BatchReceive: true, Ordering: true}}
		policy := batchPolicy(2, 10, 0)
		policy.Ordered = true
		policy.InitialInterval, policy.MaxInterval = time.Minute, time.Minute
		d := startBatchDispatcher(in, policy, func(_ context.Context, ms []*bindings.Message) []error {
			log.add(ms)
			errs := make([]error, len(ms))
			for i, m := range ms {
				if m.ID == "a/2" && m.DeliveryCount == 1 {
					errs[i] = errors.New("not yet")
				}
			}
			return errs
		}, batchOptions{typ: typ})
		defer stopNow(t, d)
		in.put("a/1", "b/1", "a/2", "b/2", "a/3", "c/1")
		synctest.Wait()
		if got := in.drained(); fmt.Sprint(got) != "[ack a/1 ack b/1 ack b/2 ack c/1]" {
			t.Errorf("settled %v; want a/2 failed and a/3 held back behind it", got)
		}
		// Meanwhile a's next message waits behind a/3, b's is handled.
		in.put("a/4", "b/3")
		synctest.Wait()
		if got := in.drained(); fmt.Sprint(got) != "[ack b/3]" {
			t.Errorf("settled %v while a waits; want [ack b/3]", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := in.drained(); fmt.Sprint(got) != "[ack a/2 ack a/3 ack a/4]" {
			t.Errorf("after the retry delay: settled %v, want a/2, a/3, a/4 in order", got)
		}
		want := "[[a/1#1 b/1#1 a/2#1 b/2#1 a/3#1 c/1#1] [b/3#1] [a/2#2 a/3#1 a/4#1]]"
		if got := fmt.Sprint(log.take()); got != want {
			t.Errorf("batches %s, want %s", got, want)
		}
		if all, _ := d.order.parked(); all != 0 {
			t.Errorf("%d parked at the end", all)
		}
	})
}

// TestBatchShutdownNacksUnsettled: a stop with batches in flight, one being
// built, items held for a retry and items held back behind a failed one
// gives every unsettled message back, once: nothing is lost or settled
// twice, and the handler sees nothing once stopping has begun.
func TestBatchShutdownNacksUnsettled(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newQueueInput()
				typ := &bindings.Type{Name: "test.batch", Capabilities: bindings.Capabilities{BatchReceive: true, Ordering: true}}
				policy := batchPolicy(2, 3, 0)
				policy.Ordered = ordered
				policy.InitialInterval, policy.MaxInterval = time.Hour, time.Hour
				var stopping sync.Mutex // held by the test once stop began
				var afterStop []string
				d := startBatchDispatcher(in, policy, func(ctx context.Context, ms []*bindings.Message) []error {
					if !stopping.TryLock() {
						for _, m := range ms {
							afterStop = append(afterStop, m.ID)
						}
					} else {
						stopping.Unlock()
					}
					errs := make([]error, len(ms))
					for i, m := range ms {
						switch {
						case strings.HasSuffix(m.ID, "/fail"):
							errs[i] = errors.New("fails")
						case strings.HasSuffix(m.ID, "/block"):
							<-ctx.Done()
							errs[i] = ctx.Err()
						}
					}
					return errs
				}, batchOptions{typ: typ})
				// Worker 1: k1's batch fails its first item (held an hour,
				// k1/2 behind it when ordered). Worker 2: blocks until the
				// grace period ends. Then a batch waits for a worker.
				in.put("k1/fail", "k1/2", "k1/3")
				synctest.Wait()
				in.put("k2/block", "k3/1", "k3/2")
				synctest.Wait()
				in.put("k4/1", "k4/2", "k1/4")
				synctest.Wait()
				stopping.Lock()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := d.stop(ctx); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				settled := map[string][]string{}
				for _, ev := range in.drained() {
					op, id, _ := strings.Cut(ev, " ")
					settled[id] = append(settled[id], op)
				}
				all := []string{"k1/fail", "k1/2", "k1/3", "k2/block", "k3/1", "k3/2", "k4/1", "k4/2", "k1/4"}
				for _, id := range all {
					if len(settled[id]) != 1 {
						t.Errorf("%s settled %v, want once", id, settled[id])
					}
				}
				nacked := []string{"k1/fail", "k2/block"} // held an hour; cut short by the grace period
				if ordered {
					// Held back behind k1/fail, parked behind it, and a batch
					// no worker was free for (worker 1 waits in place).
					nacked = append(nacked, "k1/2", "k1/3", "k1/4", "k4/1", "k4/2")
				}
				for _, id := range nacked {
					if fmt.Sprint(settled[id]) != "[nack]" {
						t.Errorf("%s: %v, want nacked", id, settled[id])
					}
				}
				if len(afterStop) > 0 {
					t.Errorf("handled after stop began: %v", afterStop)
				}
				if d.held.len() != 0 {
					t.Errorf("%d still held", d.held.len())
				}
			})
		})
	}
}

// TestBatchLeasesExtended: the leases of a batch's items are extended
// while its handler runs and while an item is held back, and no longer
// once each is settled.
func TestBatchLeasesExtended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := newQueueInput()
		typ := &bindings.Type{Name: "test.lease", Capabilities: bindings.Capabilities{BatchReceive: true, Ordering: true, Lease: true}}
		policy := batchPolicy(1, 10, 0)
		policy.Ordered = true
		policy.LeaseExtension = 10 * time.Second
		policy.InitialInterval, policy.MaxInterval = time.Minute, time.Minute
		release := make(chan struct{})
		d := startBatchDispatcher(batchLeaseInput{q, leaseInput{q.fakeInput}}, policy, func(_ context.Context, ms []*bindings.Message) []error {
			errs := make([]error, len(ms))
			if ms[0].DeliveryCount == 1 {
				<-release
				errs[0] = errors.New("not yet") // k/1 fails; k/2 is held back, j/1 acked
			}
			return errs
		}, batchOptions{typ: typ})
		defer stopNow(t, d)
		q.put("k/1", "k/2", "j/1")
		time.Sleep(30 * time.Second) // the handler runs
		synctest.Wait()
		extended := map[string]int{}
		for _, ev := range q.drained() {
			op, id, _ := strings.Cut(ev, " ")
			if op != "extend" {
				t.Fatalf("%s while the handler runs", ev)
			}
			extended[id]++
		}
		for _, id := range []string{"k/1", "k/2", "j/1"} {
			if extended[id] < 5 {
				t.Errorf("%s's lease extended %d times in 30s (interval 10s), want about 6", id, extended[id])
			}
		}
		close(release)
		synctest.Wait()
		time.Sleep(30 * time.Second) // k/1 and k/2 wait for the retry
		synctest.Wait()
		extended = map[string]int{}
		for _, ev := range q.drained() {
			op, id, _ := strings.Cut(ev, " ")
			if op == "extend" {
				extended[id]++
			}
		}
		if extended["k/1"] < 5 || extended["k/2"] < 5 || extended["j/1"] != 0 {
			t.Errorf("extensions while k waits: %v; want k/1 and k/2's, not acked j/1's", extended)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := d.leases.len(); n != 0 {
			t.Errorf("%d leases still tracked once all are settled", n)
		}
	})
}

// batchLeaseInput is a queueInput whose broker has leases.
type batchLeaseInput struct {
	*queueInput
	leaseInput
}

func (b batchLeaseInput) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	return b.queueInput.Receive(ctx, limit)
}
func (b batchLeaseInput) Ack(ctx context.Context, m *bindings.Message) error {
	return b.queueInput.Ack(ctx, m)
}
func (b batchLeaseInput) Nack(ctx context.Context, m *bindings.Message, d time.Duration) error {
	return b.queueInput.Nack(ctx, m, d)
}
func (b batchLeaseInput) Close() error { return b.queueInput.Close() }

// TestBatchHandlerIgnoringItsTimeout: a batch handler that ignores its
// context past the handlerTimeout is reported stuck, as a single handler
// is (its context has no message to name), and its batch fails with the
// timeout once it returns an error.
func TestBatchHandlerIgnoringItsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := newQueueInput()
		release := make(chan struct{})
		policy := batchPolicy(1, 10, 0)
		policy.HandlerTimeout, policy.MaxAttempts = time.Second, 1
		dl := &recordingOutput{}
		d := startBatchDispatcher(in, policy, func(_ context.Context, ms []*bindings.Message) []error {
			<-release
			return []error{errors.New("late"), nil}
		}, batchOptions{deadLetter: dl})
		defer stopNow(t, d)
		in.put("a", "b")
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if !d.allStuck() {
			t.Error("the only worker's batch handler ignores its timeout; allStuck = false")
		}
		close(release)
		synctest.Wait()
		if got := in.drained(); fmt.Sprint(got) != "[ack a ack b]" {
			t.Errorf("settled %v, want both dead-lettered (acked)", got)
		}
		if len(dl.reqs) != 2 || !strings.Contains(string(dl.reqs[1].Data), "handler timed out") {
			t.Errorf("%d dead letters, want both items with the timeout", len(dl.reqs))
		}
	})
}

// TestBatchAcksBeforeSlowDeadLetter: the items a BatchHandler handled are
// acked before a failed item of the batch is settled, wherever it stands
// in the batch, so that a slow dead letter does not keep them unacked
// (delivered again if the process died meanwhile).
func TestBatchAcksBeforeSlowDeadLetter(t *testing.T) {
	for _, chained := range []bool{false, true} {
		t.Run(fmt.Sprintf("chained=%v", chained), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in := newQueueInput()
				dl := &slowOutput{delay: time.Minute}
				d := startBatchDispatcher(in, batchPolicy(1, 10, 0), func(_ context.Context, ms []*bindings.Message) []error {
					errs := make([]error, len(ms))
					for i, m := range ms {
						if m.ID == "bad" {
							errs[i] = functions.Permanent(errors.New("bad order"))
						}
					}
					return errs
				}, batchOptions{deadLetter: dl, chained: chained})
				defer stopNow(t, d)
				in.put("a", "bad", "c")
				synctest.Wait() // the dead letter is being sent
				got := in.drained()
				slices.Sort(got)
				if fmt.Sprint(got) != "[ack a ack c]" {
					t.Errorf("while the dead letter is sent: settled %v, want [ack a ack c]", got)
				}
				time.Sleep(time.Minute)
				synctest.Wait()
				if got := in.drained(); fmt.Sprint(got) != "[ack bad]" {
					t.Errorf("once it is sent: settled %v, want [ack bad]", got)
				}
			})
		})
	}
}
