package cron_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/cron"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// events records what the inputs log, so that tests wait for a decision
// (fired, skipped, fired elsewhere) instead of for time.
type events struct {
	mu      sync.Mutex
	list    []event
	changed chan struct{}
}

type event struct {
	replica int
	msg     string
	tick    string
}

func newEvents() *events { return &events{changed: make(chan struct{})} }

func (e *events) add(ev event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	close(e.changed)
	e.changed = make(chan struct{})
	e.mu.Unlock()
}

// waitFor blocks until cond holds over the events so far.
func (e *events) waitFor(t *testing.T, ctx context.Context, what string, cond func([]event) bool) {
	t.Helper()
	for {
		e.mu.Lock()
		ok, ch := cond(e.list), e.changed
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("timed out waiting for %s; events: %v", what, e.list)
		}
	}
}

func (e *events) logger(replica int) *slog.Logger {
	return slog.New(&recordHandler{e: e, replica: replica})
}

type recordHandler struct {
	e       *events
	replica int
	tick    string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	ev := event{replica: h.replica, msg: r.Message, tick: h.tick}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "tick" {
			ev.tick = a.Value.String()
		}
		return true
	})
	h.e.add(ev)
	return nil
}

func (h *recordHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	for _, a := range attrs {
		if a.Key == "tick" {
			c.tick = a.Value.String()
		}
	}
	return &c
}

func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func openInput(t *testing.T, md map[string]string, logger *slog.Logger) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(testContext(t), bindings.Config{Name: "tick", Type: cron.TypeName, Metadata: md, Logger: logger})
	if err != nil {
		t.Fatalf("OpenInput: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func receiveOne(t *testing.T, ctx context.Context, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(ctx, 10)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("Receive returned %d ticks, want 1", len(msgs))
	}
	return msgs[0]
}

func TestTickMessage(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	in := openInput(t, map[string]string{"schedule": "@every 1s"}, nil)
	m := receiveOne(t, ctx, in)
	at, err := time.Parse(time.RFC3339Nano, m.ID)
	if err != nil || at.Nanosecond() != 0 || !at.Equal(m.Time) {
		t.Fatalf("ID %q, Time %v: want the tick's second, RFC 3339", m.ID, m.Time)
	}
	var tick cron.Tick
	if err := json.Unmarshal(m.Data, &tick); err != nil || m.ContentType != "application/json" {
		t.Fatalf("payload %s (%s): %v", m.Data, m.ContentType, err)
	}
	if !tick.ScheduledTime.Equal(at) || tick.Schedule != "@every 1s" || tick.FiredTime.Before(at) {
		t.Errorf("payload %+v for tick %s", tick, m.ID)
	}
	md := m.Metadata
	if md[cron.MetaScheduledTime] != m.ID || md[cron.MetaSchedule] != "@every 1s" || md[cron.MetaTimeZone] == "" || md[cron.MetaReadTimeUTC] == "" {
		t.Errorf("metadata %v", md)
	}
	if m.DeliveryCount != 1 {
		t.Errorf("DeliveryCount %d", m.DeliveryCount)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(ctx, m); err == nil {
		t.Error("a second Ack succeeded")
	}
	next := receiveOne(t, ctx, in)
	if nat, _ := time.Parse(time.RFC3339Nano, next.ID); !nat.After(at) {
		t.Errorf("next tick %s after %s", next.ID, m.ID)
	}
}

func TestNackRedeliversAfterDelay(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ev := newEvents()
	in := openInput(t, map[string]string{"schedule": "@every 1s"}, ev.logger(0))
	m := receiveOne(t, ctx, in)
	nacked := time.Now()
	const delay = 1500 * time.Millisecond
	if err := in.Nack(ctx, m, delay); err != nil {
		t.Fatal(err)
	}
	again := receiveOne(t, ctx, in)
	if waited := time.Since(nacked); waited < delay {
		t.Errorf("redelivered after %s, nacked with %s", waited, delay)
	}
	if again.ID != m.ID || again.DeliveryCount != 2 {
		t.Fatalf("after a nack: %s (delivery %d), want %s (delivery 2)", again.ID, again.DeliveryCount, m.ID)
	}
	// The retry kept the tick unsettled: the ticks in between were skipped.
	ev.waitFor(t, ctx, "a skipped tick", func(evs []event) bool {
		for _, e := range evs {
			if strings.Contains(e.msg, "skipped") && e.tick > m.ID {
				return true
			}
		}
		return false
	})
	if err := in.Ack(ctx, again); err != nil {
		t.Fatal(err)
	}
}

func TestTicksDoNotOverlap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ev := newEvents()
	in := openInput(t, map[string]string{"schedule": "@every 1s"}, ev.logger(0))
	held := receiveOne(t, ctx, in)
	var skipped string
	ev.waitFor(t, ctx, "the next tick skipped while the first is unsettled", func(evs []event) bool {
		for _, e := range evs {
			if strings.Contains(e.msg, "tick skipped: the previous tick is still unsettled") {
				skipped = e.tick
				return true
			}
		}
		return false
	})
	if err := in.Ack(ctx, held); err != nil {
		t.Fatal(err)
	}
	next := receiveOne(t, ctx, in)
	if next.ID <= skipped {
		t.Errorf("after the ack: tick %s, but %s was skipped", next.ID, skipped)
	}
}

func TestAllowOverlap(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	in := openInput(t, map[string]string{"schedule": "@every 1s", "allowOverlap": "true"}, nil)
	first := receiveOne(t, ctx, in)
	second := receiveOne(t, ctx, in) // while first is unsettled
	if second.ID <= first.ID {
		t.Errorf("ticks %s then %s", first.ID, second.ID)
	}
}

func TestCloseEndsReceive(t *testing.T) {
	t.Parallel()
	in := openInput(t, map[string]string{"schedule": "@every 1s"}, nil)
	m := receiveOne(t, testContext(t), in)
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Receive(context.Background(), 1); !errors.Is(err, bindings.ErrClosed) {
		t.Errorf("Receive after Close: %v", err)
	}
	if err := in.Ack(context.Background(), m); err != nil {
		t.Errorf("Ack after Close: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		schedule string
		from     time.Time
		want     time.Time
	}{
		// @every counts from the Unix epoch, so replicas agree.
		{"@every 15s", time.Date(2026, 5, 1, 10, 0, 7, 0, time.UTC), time.Date(2026, 5, 1, 10, 0, 15, 0, time.UTC)},
		{"@every 1h", time.Date(2026, 5, 1, 10, 59, 0, 0, time.UTC), time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)},
		// Five fields start with minutes; six with seconds.
		{"CRON_TZ=UTC 30 2 * * *", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 2, 30, 0, 0, time.UTC)},
		{"CRON_TZ=UTC 15 30 2 * * *", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 2, 30, 15, 0, time.UTC)},
		{"CRON_TZ=Asia/Tokyo 0 9 * * *", time.Date(2026, 5, 1, 0, 30, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=UTC @daily", time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)},
	} {
		next, err := cron.NextTick(c.schedule, c.from)
		if err != nil || !next.Equal(c.want) {
			t.Errorf("%q after %v: %v, %v; want %v", c.schedule, c.from, next, err, c.want)
		}
	}
}
