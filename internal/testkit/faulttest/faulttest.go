// Package faulttest checks a binding end to end under faults: it runs a real
// function process (the test binary, re-executed) on the binding, kills it
// with SIGKILL mid-stream and restarts it, optionally restarts the broker
// too, later stops it with SIGTERM while messages flow and starts it again,
// and counts every message in and out. Delivered plus dead-lettered must be
// exactly the number sent; duplicates are counted and reported.
//
// A binding's test uses it like this:
//
//	func TestMain(m *testing.M) { faulttest.Main(m) }
//
//	func TestFaults(t *testing.T) {
//		faulttest.Run(t, faulttest.Config{Components: yaml, Restart: restartBroker})
//	}
//
// The components are three: "in" triggers the function and is also opened
// as an output by the test to publish; the function returns every payload it
// handled to "done"; "in" dead-letters to "dead". The test reads "done" and
// "dead" as inputs. Every hundredth message fails permanently, so the
// dead-letter path carries real traffic; three more in a hundred fail their
// first attempt, one each by an error, a panic and overrunning the trigger's
// handlerTimeout, so the retry, recover and timeout paths do too.
//
// With Config.Batch the function is a batch function
// (trigger.Function.BatchHandler, see batchRelay): the same faults, with
// per-item outcomes, and panics and timeouts that fail whole batches. A
// binding's test runs both (see Variants).
package faulttest

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/internal/testkit/syncbuf"
	"github.com/tetherfn/tether/trigger"
)

const (
	childEnv      = "TETHER_FAULTTEST_CHILD"
	childBatchEnv = "TETHER_FAULTTEST_BATCH"
)

// Main is the test binary's TestMain: in the re-executed child it runs the
// relay function (or batchRelay) until SIGTERM; otherwise it runs the tests.
func Main(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		failEvery, _ := strconv.Atoi(os.Getenv(childEnv))
		if mode := os.Getenv(childBatchEnv); mode != "" {
			trigger.Main(batchRelay(failEvery, mode == "ordered", os.Stdout))
		} else {
			trigger.Main(relay(failEvery))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// relay returns each payload, with the attempt that handled it ("m00042/1",
// see Result), to "done" after a little work. Every failEvery-th message (by
// its number) fails permanently; three others in every hundred fail their
// first attempt only (see transientFault), so they are retried and must end
// delivered, not dead-lettered.
func relay(failEvery int) trigger.Function {
	return trigger.Function{Name: "relay", Trigger: "in", Return: "done",
		Handler: func(ctx context.Context, m *bindings.Message) (trigger.Result, error) {
			attempt := functions.FromContext(ctx).Attempt
			n, err := strconv.Atoi(strings.TrimPrefix(string(m.Data), "m"))
			if err == nil && failEvery > 0 && n%failEvery == 0 {
				return trigger.Result{}, functions.Permanent(fmt.Errorf("message %d is poison", n))
			}
			if err == nil && attempt == 1 {
				switch transientFault(n) {
				case faultError:
					return trigger.Result{}, fmt.Errorf("message %d: first attempt fails", n)
				case faultPanic:
					panic(fmt.Sprintf("message %d: first attempt panics", n))
				case faultTimeout:
					<-ctx.Done() // the trigger's handlerTimeout ends the attempt
					return trigger.Result{}, ctx.Err()
				}
			}
			select {
			case <-time.After(time.Duration(rand.IntN(1000)) * time.Microsecond):
			case <-ctx.Done():
				return trigger.Result{}, ctx.Err()
			}
			return trigger.Result{Data: fmt.Appendf(nil, "%s/%d", m.Data, attempt), ContentType: "text/plain"}, nil
		}}
}

// batchRelay is relay as a batch function: it sends each payload of a
// batch, with the attempt that handled it, to "done" through an output it
// binds (one send per item, at once, so that a failed send fails only its
// item). Per item, as relay: poison is permanent, and a message whose first
// attempt fails by an error fails alone. A message whose first attempt
// panics does so for its whole batch, and so does one in four of those
// whose first attempt overruns the handlerTimeout (wholeBatchTimeout), so
// that the runtime's whole-batch failures (every item failed, each retried
// on its own) carry traffic: but only in a batch whose every message is on
// its first attempt, so that each message is failed by another's fault at
// most once and the retries converge; in a batch with retries in it, and
// for the other timeouts, such a message fails alone by an error. Each whole-batch fault is written to
// w as a line ("faulttest: batch panic" or "faulttest: batch timeout"),
// which the test counts.
//
// On an ordered trigger the relay stops handling a key at its first failed
// message, as docs/batch.md advises: the runtime holds back the key's later
// messages of the batch whatever their outcome, and those already sent
// would be sent again.
func batchRelay(failEvery int, ordered bool, w io.Writer) trigger.Function {
	var done functions.Output[[]byte]
	var wmu sync.Mutex
	note := func(what string) {
		wmu.Lock()
		defer wmu.Unlock()
		fmt.Fprintf(w, "faulttest: batch %s\n", what)
	}
	return trigger.Function{Name: "relay", Trigger: "in",
		Bind: func(ctx context.Context, o *trigger.Outputs) error { return o.Bind("Done", &done, "done") },
		BatchHandler: func(ctx context.Context, msgs []*bindings.Message) []error {
			fresh, whole := true, faultNone
			for _, m := range msgs {
				if m.DeliveryCount > 1 {
					fresh = false
				}
				n, err := strconv.Atoi(strings.TrimPrefix(string(m.Data), "m"))
				if err != nil || m.DeliveryCount > 1 || failEvery > 0 && n%failEvery == 0 {
					continue
				}
				if f := transientFault(n); f == faultPanic || f == faultTimeout && wholeBatchTimeout(n) && whole == faultNone {
					whole = f
				}
			}
			if fresh {
				switch whole {
				case faultPanic:
					note("panic")
					panic(fmt.Sprintf("a batch of %d panics: one of its messages panics on its first attempt", len(msgs)))
				case faultTimeout:
					note("timeout")
					<-ctx.Done() // the trigger's handlerTimeout ends the call
					// One item's error after the deadline fails them all.
					errs := make([]error, len(msgs))
					errs[0] = ctx.Err()
					return errs
				}
			}
			select {
			case <-time.After(time.Duration(rand.IntN(1000)) * time.Microsecond):
			case <-ctx.Done():
				note("late 0")
				errs := make([]error, len(msgs))
				for i := range errs {
					errs[i] = ctx.Err()
				}
				return errs
			}
			errs := make([]error, len(msgs))
			var wg sync.WaitGroup
			var failedKeys map[string]bool // ordered: keys with a failed message in this batch
			for i, m := range msgs {
				attempt := max(m.DeliveryCount, 1)
				n, err := strconv.Atoi(strings.TrimPrefix(string(m.Data), "m"))
				switch {
				case ordered && failedKeys[m.Key]:
					errs[i] = errHeldBack
					continue
				case err == nil && failEvery > 0 && n%failEvery == 0:
					errs[i] = functions.Permanent(fmt.Errorf("message %d is poison", n))
				case err == nil && attempt == 1 && transientFault(n) != faultNone:
					errs[i] = fmt.Errorf("message %d: first attempt fails", n)
				}
				if errs[i] != nil {
					if ordered {
						if failedKeys == nil {
							failedKeys = map[string]bool{}
						}
						failedKeys[m.Key] = true
					}
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = done.Send(ctx, fmt.Appendf(nil, "%s/%d", m.Data, attempt), functions.WithContentType("text/plain"))
				}()
			}
			wg.Wait()
			if ctx.Err() != nil {
				// Past the handlerTimeout with an item failed, the runtime
				// retries every item (it cannot tell one handled from one
				// the handler gave up on): those sent are sent again.
				again := 0
				if slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
					for _, err := range errs {
						if err == nil {
							again++
						}
					}
				}
				note(fmt.Sprintf("late %d", again))
			}
			return errs
		}}
}

// errHeldBack is the ordered batch relay's outcome for a message after a
// failed one of its key: not handled (the runtime holds it back).
var errHeldBack = errors.New("held back behind a failed message of its key")

// wholeBatchTimeout reports whether message n, whose first attempt overruns
// the handlerTimeout, overruns it for its whole batch (batchRelay): one in
// four do, some fifteen batches a run. Each holds a worker for the
// batchHandlerTimeout, and on an ordered trigger its keys (a Kafka
// partition) too, or the prefetch its messages take (RabbitMQ): when every
// such message did, a run took minutes more.
func wholeBatchTimeout(n int) bool { return n/100%4 == 0 }

// lateNote is batchRelay's line for a batch that returned past its
// handlerTimeout, with how many of its messages will be sent again.
var lateNote = regexp.MustCompile(`(?m)^faulttest: batch late (\d+)$`)

// Result splits a payload the relay returned to "done" into the message it
// was ("m00042") and the attempt that handled it.
func Result(data []byte) (id string, attempt int) {
	id, n, _ := strings.Cut(string(data), "/")
	attempt, _ = strconv.Atoi(n)
	return id, attempt
}

type fault int

const (
	faultNone fault = iota
	faultError
	faultPanic
	faultTimeout
)

// transientFault is how message n's first attempt fails, if it does.
func transientFault(n int) fault {
	switch n % 100 {
	case 13:
		return faultError
	case 37:
		return faultPanic
	case 71:
		return faultTimeout
	}
	return faultNone
}

// Config describes one fault run.
type Config struct {
	// Components is the YAML of the components "in", "done" and "dead".
	Components string
	// Messages to send; default 10,000.
	Messages int
	// FailEvery: every FailEvery-th message fails permanently and must be
	// dead-lettered; default 100.
	FailEvery int
	// Restart, when set, restarts the broker mid-stream. It returns when the
	// broker accepts connections again.
	Restart func(t *testing.T)
	// Timeout bounds the whole run; default 10 minutes. The bound only
	// catches a hang: CI runs every package at once under -race on two
	// cores, at loads of 40, and at load 25 a run took from 20 s (Redis)
	// to over 3 minutes (Kafka ordered, with a batch function: one batch
	// per partition at a time), where 4 minutes ran out.
	Timeout time.Duration
	// Batch runs the function as a batch function (batchRelay): batches of
	// at most maxBatchSize, handed over after maxBatchWait (Components sets
	// 50 and 20ms), with per-item outcomes and whole-batch panics and
	// timeouts, and a handlerTimeout of batchHandlerTimeout.
	Batch bool
	// Ordered: the trigger "in" is ordered; the batch relay then stops
	// handling a key at its first failed message (see batchRelay).
	Ordered bool
	// Drained, when set, is called once every message is accounted for,
	// before the last process is terminated, and returns once the broker
	// shows that process has settled all it holds (Kafka: its commits reached
	// the ends of the partitions). Messages are accounted for when first
	// handled, while the last process may still hold redeliveries of some
	// (those a killed process handled but had not acked); a SIGTERM then
	// nacks them, rightly, and leaves them uncommitted, which a test that
	// checks what the broker committed after the run would take for a
	// shutdown that committed too little.
	Drained func(ctx context.Context, t *testing.T)
}

// Report is what a run counted. Run also logs it as JSON, by these keys
// (see ReportPrefix).
type Report struct {
	Sent         int `json:"sent"` // distinct messages, as are the next two
	Delivered    int `json:"delivered"`
	DeadLettered int `json:"deadLettered"`
	// DuplicateDeliveries: deliveries to "done" beyond the first per message.
	DuplicateDeliveries  int `json:"duplicateDeliveries"`
	DuplicateDeadLetters int `json:"duplicateDeadLetters"`
	// Both: messages both delivered and dead-lettered.
	Both int `json:"both"`
	// Faults is how many messages fail their first attempt (an error, a
	// panic, a timeout); RetriedFaults how many of them were delivered and
	// never by a first attempt: none went through as if it had not failed.
	Faults        int `json:"faults"`
	RetriedFaults int `json:"retriedFaults"`
	// With Config.Batch: how many batches panicked, and how many overran
	// the handlerTimeout, failing all their messages.
	BatchPanics   int `json:"batchPanics"`
	BatchTimeouts int `json:"batchTimeouts"`
	// BatchesLate: batches that returned after their handlerTimeout
	// without a planned fault (slow sends); the runtime retries every item
	// of such a batch when one failed, sending the others twice.
	BatchesLate int `json:"batchesLate"`
	// SentAgain: messages handled in such late batches that had an item
	// failed, which the runtime retries and the function sends again.
	SentAgain int `json:"sentAgain"`
	// DuplicatesByPhase splits DuplicateDeliveries by when the test saw
	// them: before the SIGKILL, after it, after the broker restart, after
	// the SIGTERM.
	DuplicatesByPhase [4]int `json:"duplicatesByPhase"`
	// LeaseFailures: lease extensions the function processes logged as
	// failed (a failed one lets the broker hand the messages out again).
	LeaseFailures int `json:"leaseFailures"`
}

// Accounted is how many distinct messages ended delivered or dead-lettered:
// Sent when nothing was lost.
func (r Report) Accounted() int { return r.Delivered + r.DeadLettered - r.Both }

// ReportPrefix starts the line Run logs for programs to read: the prefix,
// then a Logged as JSON. go run ./internal/bench reads it from the fault
// tests' -v output (ParseLogged), and the test's own --- PASS or --- FAIL
// line for the verdict.
const ReportPrefix = "faulttest report: "

// Logged is what Run logs after ReportPrefix: the test's full name, whether
// the function was a batch function, and its Report.
type Logged struct {
	Test  string `json:"test"`
	Batch bool   `json:"batch"`
	Report
}

// reportLine is the line Run logs with ReportPrefix.
func reportLine(l Logged) string {
	line, err := json.Marshal(l)
	if err != nil { // a struct of ints and strings always marshals
		panic(err)
	}
	return ReportPrefix + string(line)
}

// ParseLogged reads the Logged of a line of a fault test's output; ok is
// false when the line carries none.
func ParseLogged(line string) (l Logged, ok bool, err error) {
	_, js, ok := strings.Cut(line, ReportPrefix)
	if !ok {
		return Logged{}, false, nil
	}
	if err := json.Unmarshal([]byte(js), &l); err != nil {
		return Logged{}, true, fmt.Errorf("a fault report that does not parse: %w: %s", err, line)
	}
	return l, true, nil
}

// Run sends Messages through a function process, SIGKILLs and restarts it
// at a quarter, restarts the broker at half when Config.Restart is set,
// stops the process with SIGTERM at three quarters and starts another, and
// fails t unless every message ends delivered or dead-lettered, exactly once
// as a set.
func Run(t *testing.T, c Config) Report {
	t.Helper()
	if c.Messages == 0 {
		c.Messages = 10000
	}
	if c.FailEvery == 0 {
		c.FailEvery = 100
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()

	if c.Batch {
		c.Components = batchComponents(c.Components)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "components.yaml"), []byte(c.Components), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("components: %v", err)
	}
	get := func(name string) *component.Component {
		comp, ok := set.Get(name)
		if !ok {
			t.Fatalf("faulttest needs a component named %q", name)
		}
		return comp
	}
	in, done, dead := get("in"), get("done"), get("dead")
	if in.Delivery.DeadLetter != "dead" {
		t.Fatalf(`component "in" must set deadLetter: dead (has %q)`, in.Delivery.DeadLetter)
	}
	if in.Delivery.HandlerTimeout <= 0 || in.Delivery.HandlerTimeout > 5*time.Second || in.Delivery.MaxAttempts < 2 {
		t.Fatalf(`component "in" must set a handlerTimeout of 5s at most and maxAttempts of 2 or more: some first attempts time out (has %v, %d)`,
			in.Delivery.HandlerTimeout, in.Delivery.MaxAttempts)
	}

	// Count before anything is sent, so that brokers without retention
	// (MQTT without a session yet) keep what the function returns.
	tally := newTally(c.Messages, c.FailEvery)
	stopCounting := tally.count(ctx, t, done, false)
	defer stopCounting()
	stopDead := tally.count(ctx, t, dead, true)
	defer stopDead()

	var procs []*child
	start := func() *child {
		p := startChild(t, dir, c.FailEvery, c.Batch, c.Ordered)
		procs = append(procs, p)
		p.waitReady(ctx, t)
		return p
	}
	proc := start()

	pub, _, err := bindings.OpenOutput(ctx, outputConfig(in))
	if err != nil {
		t.Fatalf("open %q to publish: %v", in.Name, err)
	}
	defer pub.Close()
	published := make(chan error, 1)
	go func() {
		for i := range c.Messages {
			req := &bindings.InvokeRequest{Operation: bindings.OpCreate, Data: fmt.Appendf(nil, "m%05d", i), ContentType: "text/plain"}
			var err error
			for attempt := 0; attempt < 600; attempt++ { // the broker may be restarting
				if _, err = pub.Invoke(ctx, req); err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				published <- fmt.Errorf("publish message %d: %w", i, err)
				return
			}
		}
		published <- nil
	}()

	tally.waitFor(ctx, t, c.Messages/4)
	t.Logf("%s: SIGKILL the function process", tally.summary())
	tally.setPhase(1)
	proc.kill(t)
	proc = start()

	if c.Restart != nil {
		tally.waitFor(ctx, t, c.Messages/2)
		t.Logf("%s: restarting the broker (or cutting it off)", tally.summary())
		tally.setPhase(2)
		c.Restart(t)
	}
	// A rolling update: the process drains what it has in hand and exits
	// cleanly while messages keep coming; its successor takes over.
	tally.waitFor(ctx, t, 3*c.Messages/4)
	t.Logf("%s: SIGTERM the function process", tally.summary())
	tally.setPhase(3)
	proc.terminate(t)
	proc = start()

	if err := <-published; err != nil {
		t.Fatal(err)
	}
	tally.waitFor(ctx, t, c.Messages)
	if c.Drained != nil {
		c.Drained(ctx, t)
	}
	proc.terminate(t)

	r := tally.report()
	for _, p := range procs {
		r.BatchPanics += strings.Count(p.out.String(), "faulttest: batch panic\n")
		r.BatchTimeouts += strings.Count(p.out.String(), "faulttest: batch timeout\n")
		for _, m := range lateNote.FindAllStringSubmatch(p.out.String(), -1) {
			r.BatchesLate++
			n, _ := strconv.Atoi(m[1])
			r.SentAgain += n
		}
		r.LeaseFailures += strings.Count(p.log.String(), "lease extension failed")
	}
	mode := "single"
	if c.Batch {
		mode = fmt.Sprintf("batch (%d batches panicked, %d overran the handlerTimeout, %d more were late, %d messages handled in those sent again)",
			r.BatchPanics, r.BatchTimeouts, r.BatchesLate, r.SentAgain)
	}
	t.Logf("%s: sent %d: delivered %d + dead-lettered %d = %d; duplicates: %d deliveries, %d dead letters, %d both; %d of %d failed first attempts delivered on a retry",
		mode, r.Sent, r.Delivered, r.DeadLettered, r.Accounted(), r.DuplicateDeliveries, r.DuplicateDeadLetters, r.Both, r.RetriedFaults, r.Faults)
	t.Logf("duplicate deliveries by phase: %d before the SIGKILL, %d after it, %d after the broker restart, %d after the SIGTERM; %d lease extensions failed",
		r.DuplicatesByPhase[0], r.DuplicatesByPhase[1], r.DuplicatesByPhase[2], r.DuplicatesByPhase[3], r.LeaseFailures)
	t.Log(reportLine(Logged{Test: t.Name(), Batch: c.Batch, Report: r}))
	if r.Accounted() != r.Sent {
		t.Errorf("accounted for %d distinct messages, sent %d", r.Accounted(), r.Sent)
	}
	if want := (c.Messages + c.FailEvery - 1) / c.FailEvery; r.DeadLettered != want {
		t.Errorf("dead-lettered %d distinct messages, want the %d poison ones; the first others:\n%s", r.DeadLettered, want, strings.Join(tally.unexpected, "\n"))
	}
	if r.Both != 0 {
		t.Errorf("%d messages were both delivered and dead-lettered", r.Both)
	}
	if r.RetriedFaults != r.Faults {
		t.Errorf("of the %d messages whose first attempt fails, %d were delivered by a later attempt, want all", r.Faults, r.RetriedFaults)
	}
	if c.Batch && c.Messages >= 1000 && (r.BatchPanics == 0 || r.BatchTimeouts == 0) {
		t.Errorf("%d batches panicked and %d overran the handlerTimeout: the whole-batch failure paths carried no traffic", r.BatchPanics, r.BatchTimeouts)
	}
	return r
}

func outputConfig(c *component.Component) bindings.Config {
	cfg := c.Config(nil)
	// "in" is opened for publishing: the delivery keys belong to its input
	// side and are not output metadata.
	md := map[string]string{}
	for k, v := range cfg.Metadata {
		if !isDeliveryKey(k) && k != "direction" {
			md[k] = v
		}
	}
	cfg.Metadata = md
	return cfg
}

func isDeliveryKey(k string) bool {
	for _, d := range bindings.DeliveryKeys {
		if strings.EqualFold(d.Name, k) {
			return true
		}
	}
	return false
}

// tally counts distinct payloads seen on "done" and "dead".
type tally struct {
	mu           sync.Mutex
	want         int
	failEvery    int // every failEvery-th message is poison
	delivered    map[string]int
	deadLetters  map[string]int
	firstAttempt map[string]int // delivered: the lowest attempt that handled it
	unexpected   []string       // the first few dead letters of messages not poison, described
	phase        int            // of the run, for dupsByPhase (see Report.DuplicatesByPhase)
	dupsByPhase  [4]int
	changed      chan struct{}
}

func newTally(want, failEvery int) *tally {
	return &tally{want: want, failEvery: failEvery, delivered: map[string]int{}, deadLetters: map[string]int{}, firstAttempt: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (t *tally) distinct() int {
	n := len(t.delivered) + len(t.deadLetters)
	for id := range t.deadLetters {
		if t.delivered[id] > 0 {
			n--
		}
	}
	return n
}

func (t *tally) setPhase(p int) {
	t.mu.Lock()
	t.phase = p
	t.mu.Unlock()
}

func (t *tally) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprintf("%d/%d accounted for", t.distinct(), t.want)
}

// count receives from c until ctx ends, acking everything.
func (t *tally) count(ctx context.Context, tb *testing.T, c *component.Component, deadLetters bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	cfg := c.Config(slog.New(slog.DiscardHandler))
	md := map[string]string{}
	for k, v := range cfg.Metadata {
		if k != "direction" {
			md[k] = v
		}
	}
	cfg.Metadata = md
	in, _, err := bindings.OpenInput(ctx, cfg)
	if err != nil {
		cancel()
		tb.Fatalf("open %q to count: %v", c.Name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			msgs, err := in.Receive(ctx, 100)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, bindings.ErrClosed) {
					time.Sleep(50 * time.Millisecond) // broker restarting
				}
				continue
			}
			for _, m := range msgs {
				id, attempt := Result(m.Data)
				if deadLetters {
					var env functions.DeadLetter
					if err := json.Unmarshal(m.Data, &env); err != nil {
						tb.Errorf("dead letter is not an envelope: %v: %q", err, m.Data)
					}
					id = string(env.Data)
				}
				t.mu.Lock()
				if n, err := strconv.Atoi(strings.TrimPrefix(id, "m")); deadLetters && err == nil && n%t.failEvery != 0 && len(t.unexpected) < 5 {
					var env functions.DeadLetter
					_ = json.Unmarshal(m.Data, &env)
					t.unexpected = append(t.unexpected, fmt.Sprintf("%s after %d attempts (permanent %v): %s", id, env.Attempts, env.Permanent, env.Error))
				}
				if deadLetters {
					t.deadLetters[id]++
				} else {
					t.delivered[id]++
					if t.delivered[id] > 1 {
						t.dupsByPhase[t.phase]++
					}
					if a, ok := t.firstAttempt[id]; !ok || attempt < a {
						t.firstAttempt[id] = attempt
					}
				}
				t.mu.Unlock()
				select {
				case t.changed <- struct{}{}:
				default:
				}
				_ = in.Ack(ctx, m)
			}
		}
	}()
	return func() { cancel(); wg.Wait(); in.Close() }
}

// waitFor blocks until n distinct messages are accounted for.
func (t *tally) waitFor(ctx context.Context, tb *testing.T, n int) {
	tb.Helper()
	for {
		t.mu.Lock()
		got := t.distinct()
		t.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-t.changed:
		case <-ctx.Done():
			tb.Fatalf("timed out: %s, waiting for %d", t.summary(), n)
		}
	}
}

func (t *tally) report() Report {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Report{Sent: t.want, Delivered: len(t.delivered), DeadLettered: len(t.deadLetters), DuplicatesByPhase: t.dupsByPhase}
	for n := range t.want {
		if transientFault(n) != faultNone && n%t.failEvery != 0 { // poison fails before its fault
			r.Faults++
			if a, ok := t.firstAttempt[fmt.Sprintf("m%05d", n)]; ok && a > 1 {
				r.RetriedFaults++
			}
		}
	}
	for id, k := range t.delivered {
		r.DuplicateDeliveries += k - 1
		if t.deadLetters[id] > 0 {
			r.Both++
		}
	}
	for _, k := range t.deadLetters {
		r.DuplicateDeadLetters += k - 1
	}
	return r
}

// child is one run of the function process.
type child struct {
	cmd    *exec.Cmd
	port   int
	log    *syncbuf.Buffer
	out    *syncbuf.Buffer // batchRelay's notes
	exited chan error
}

func startChild(t *testing.T, dir string, failEvery int, batch, ordered bool) *child {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(failEvery), "TETHER_COMPONENTS="+dir,
		"TETHER_API_PORT="+strconv.Itoa(port), "TETHER_LOG_LEVEL=warn")
	switch {
	case batch && ordered:
		cmd.Env = append(cmd.Env, childBatchEnv+"=ordered")
	case batch:
		cmd.Env = append(cmd.Env, childBatchEnv+"=1")
	}
	c := &child{cmd: cmd, port: port, log: &syncbuf.Buffer{}, out: &syncbuf.Buffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = c.out, c.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return c
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitReady polls the process's /readyz, as Kubernetes would.
func (c *child) waitReady(ctx context.Context, t *testing.T) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", c.port)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		select {
		case err := <-c.exited:
			t.Fatalf("function process exited (%v) before it was ready; its log:\n%s", err, c.log)
		case <-ctx.Done():
			t.Fatalf("function process never ready; its log:\n%s", c.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.exited
}

func (c *child) terminate(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.exited:
		if err != nil {
			t.Errorf("function process exited with %v after SIGTERM; its log:\n%s", err, c.log)
		}
	case <-time.After(time.Minute):
		t.Errorf("function process ignored SIGTERM; its log:\n%s", c.log)
	}
}

// handlerTimeout is the fault tests' handlerTimeout: short, as one message
// in a hundred overruns it on its first attempt.
const handlerTimeout = "250ms"

// batchHandlerTimeout replaces handlerTimeout for the batch function (Run
// with Config.Batch). Its call sends up to maxBatchSize (50) messages, each
// a round trip to the broker, inside the timeout; a single message's return
// is sent after its handler, outside it. Under the race detector on a
// loaded machine 50 sends overran 250ms: at load 18, 296 batches of a
// Redis run did, and as one of their items had failed the runtime retried
// them whole, as it must (past the deadline it cannot tell a message
// handled from one the handler gave up on): 2,451 duplicates. Side by side
// at load 15, 250ms gave 1,277 duplicates (1,260 sent again by 136 late
// batches), 2s gave 21 (no late batch). The batches that panic or overrun
// on purpose are unchanged; each overrun holds a worker for this long.
const batchHandlerTimeout = "2s"

// batchComponents gives the "in" component of yaml, written by
// Components, the batch function's handlerTimeout.
func batchComponents(yaml string) string {
	// As Components writes a key (bindingtest.ComponentYAML).
	key := func(v string) string { return fmt.Sprintf("  - name: handlerTimeout\n    value: %q\n", v) }
	return strings.ReplaceAll(yaml, key(handlerTimeout), key(batchHandlerTimeout))
}

// Components is the YAML of a fault test's three components, of binding type
// typ: "in", whose failed attempts (a return publish cut off by the broker's
// restart, say) are retried for about half a minute before they go to
// "dead"; "done"; and "dead". metadata gives the keys of the component of
// that name; run is fresh for each call, for naming queues and topics that
// no other run uses.
func Components(typ string, metadata func(name, run string) map[string]string) string {
	var b [6]byte
	_, _ = crand.Read(b[:])
	run := hex.EncodeToString(b[:])
	// maxBatchSize and maxBatchWait matter only to the batch relay.
	retry := map[string]string{"deadLetter": "dead", "initialInterval": "100ms", "maxInterval": "2s", "maxAttempts": "20", "handlerTimeout": handlerTimeout,
		"maxBatchSize": "50", "maxBatchWait": "20ms"}
	var out strings.Builder
	for _, name := range []string{"in", "done", "dead"} {
		md := maps.Clone(metadata(name, run))
		// As a deployment would: the function only consumes "in" and only
		// writes "done" and "dead", so it opens nothing the test opens the
		// other way (MQTT: no two clients with one id, pushing each other
		// off the broker).
		md["direction"] = "output"
		if name == "in" {
			maps.Copy(md, retry)
			md["direction"] = "input"
		}
		out.WriteString(bindingtest.ComponentYAML(name, typ, md))
		out.WriteString("---\n")
	}
	return out.String()
}

// Variants runs run as two parallel subtests, "single" (batch false: the
// relay function) and "batch" (batch true: batchRelay, for Config.Batch).
// Each variant must use a private broker of its own, as it restarts it: so
// start the broker inside run. In parallel, the two runs take about the
// time of one, as most of a run is waiting (leases running out, retry
// delays, restarts), not work.
func Variants(t *testing.T, run func(t *testing.T, batch bool)) {
	t.Helper()
	variants(t, true, run)
}

// VariantsInTurn runs the two variants as Variants does, but one after the
// other: for an emulator whose own work, not the waiting, sets the pace
// (pstest scans every message of a subscription every 10 ms), so that two
// at once would only compete for the CPU.
func VariantsInTurn(t *testing.T, run func(t *testing.T, batch bool)) {
	t.Helper()
	variants(t, false, run)
}

func variants(t *testing.T, parallel bool, run func(t *testing.T, batch bool)) {
	t.Helper()
	for _, batch := range []bool{false, true} {
		name := "single"
		if batch {
			name = "batch"
		}
		t.Run(name, func(t *testing.T) {
			if parallel {
				t.Parallel()
			}
			run(t, batch)
		})
	}
}
