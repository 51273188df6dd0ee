package dev

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetherfn/tether/internal/wake"
	"github.com/tetherfn/tether/trigger"
)

// The delivery events of the functions (trigger.Observer): each function
// process POSTs them to /v1.0/dev/events (TETHER_DEV_EVENTS); they are kept
// in a bounded ring and served as server-sent events and as a list.

// DefaultEventsKept is how many events the ring keeps by default.
const DefaultEventsKept = 10000

// eventRing keeps the last events recorded, numbered from 1.
type eventRing struct {
	mu      sync.Mutex
	buf     []trigger.DeliveryEvent // circular; event seq is at buf[(seq-1)%cap]
	next    uint64                  // the seq of the next event
	dropped uint64                  // events the functions could not send
	added   wake.Signal             // fired when events are added
}

func newEventRing(size int) *eventRing {
	if size <= 0 {
		size = DefaultEventsKept
	}
	return &eventRing{buf: make([]trigger.DeliveryEvent, size), next: 1}
}

// add records evs, numbering them, and counts dropped.
func (r *eventRing) add(evs []trigger.DeliveryEvent, dropped uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		ev.Seq = r.next
		r.buf[(r.next-1)%uint64(len(r.buf))] = ev
		r.next++
	}
	r.dropped += dropped
	r.added.Fire()
}

// oldest is the seq of the oldest event kept (next when none is). Call with
// mu held.
func (r *eventRing) oldest() uint64 {
	if n := uint64(len(r.buf)); r.next-1 > n {
		return r.next - n
	}
	return 1
}

// EventsPage is what GET /v1.0/dev/events/recent answers.
type EventsPage struct {
	// Events, oldest first, with seq greater than the after asked for.
	Events []trigger.DeliveryEvent `json:"events"`
	// Next is the seq the next event will have: ask ?after=Next-1 (or open
	// the stream with it) to go on from here.
	Next uint64 `json:"next"`
	// Missed counts the events after the one asked for that the ring no
	// longer holds.
	Missed uint64 `json:"missed"`
	// Dropped counts the events the functions could not send (their buffer
	// was full, or tether dev did not answer), since tether dev started.
	Dropped uint64 `json:"dropped"`
	// Kept is the ring's size.
	Kept int `json:"kept"`
}

// since returns up to limit events with seq > after, and how many after it
// the ring no longer holds; ch is closed when more are added.
func (r *eventRing) since(after uint64, limit int) (evs []trigger.DeliveryEvent, missed, next, dropped uint64, ch <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := after + 1
	if old := r.oldest(); from < old {
		missed, from = old-from, old
	}
	for seq := from; seq < r.next && (limit <= 0 || len(evs) < limit); seq++ {
		evs = append(evs, r.buf[(seq-1)%uint64(len(r.buf))])
	}
	return evs, missed, r.next, r.dropped, r.added.Wait()
}

// last returns the seq after which the last n events kept begin.
func (r *eventRing) last(n int) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if uint64(n) >= r.next-r.oldest() {
		return r.oldest() - 1
	}
	return r.next - 1 - uint64(n)
}

// eventFilter selects events by the query's function, binding (the trigger,
// or the output sent to), messageId and kind (each may repeat).
type eventFilter struct {
	function, binding, message, kind []string
}

func filterOf(q map[string][]string) eventFilter {
	return eventFilter{function: q["function"], binding: q["binding"], message: q["messageId"], kind: q["kind"]}
}

func (f eventFilter) match(ev *trigger.DeliveryEvent) bool {
	in := func(vals []string, v ...string) bool {
		if len(vals) == 0 {
			return true
		}
		for _, want := range vals {
			for _, have := range v {
				if have == want {
					return true
				}
			}
		}
		return false
	}
	return in(f.function, ev.Function) && in(f.binding, ev.Binding, ev.Output) &&
		in(f.message, ev.MessageID) && in(f.kind, string(ev.Kind))
}

// serveEventsIn records a batch POSTed by a function process: JSON lines.
func (s *server) serveEventsIn(w http.ResponseWriter, req *http.Request) {
	var evs []trigger.DeliveryEvent
	sc := bufio.NewScanner(http.MaxBytesReader(w, req.Body, maxBody))
	sc.Buffer(make([]byte, 64<<10), maxBody)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var ev trigger.DeliveryEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			http.Error(w, fmt.Sprintf("event %d: %v", len(evs)+1, err), http.StatusBadRequest)
			return
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	dropped, _ := strconv.ParseUint(req.Header.Get(trigger.DroppedHeader), 10, 64)
	s.events.add(evs, dropped)
	w.WriteHeader(http.StatusNoContent)
}

// queryAfter reads where a reader starts: ?after=<seq>, else Last-Event-ID
// (an EventSource reconnecting), else ?last=<n> (the last n events), else
// def.
func (s *server) queryAfter(req *http.Request, def uint64) (uint64, error) {
	q := req.URL.Query()
	v := q.Get("after")
	if v == "" {
		v = req.Header.Get("Last-Event-ID")
	}
	if v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("after=%q: want an event's seq", v)
		}
		return n, nil
	}
	if v := q.Get("last"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("last=%q: want a number of events", v)
		}
		return s.events.last(n), nil
	}
	return def, nil
}

// serveEventsRecent answers GET /v1.0/dev/events/recent: the events after
// ?after (default: the last ?limit, 100 by default, at most 1000).
func (s *server) serveEventsRecent(w http.ResponseWriter, req *http.Request) {
	limit := 100
	if v := req.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			http.Error(w, fmt.Sprintf("limit=%q: want a positive number", v), http.StatusBadRequest)
			return
		}
		limit = min(n, 1000)
	}
	after, err := s.queryAfter(req, s.events.last(limit))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	filter := filterOf(req.URL.Query())
	evs, missed, next, dropped, _ := s.events.since(after, 0)
	page := EventsPage{Events: []trigger.DeliveryEvent{}, Missed: missed, Next: next, Dropped: dropped, Kept: len(s.events.buf)}
	for i := range evs {
		if filter.match(&evs[i]) && len(page.Events) < limit {
			page.Events = append(page.Events, evs[i])
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

// serveEventsStream answers GET /v1.0/dev/events with server-sent events:
// each delivery event as "event: delivery", its seq as the id; "event:
// missed" when the reader fell behind the ring. It starts after ?after (or
// Last-Event-ID, or the last ?last events), by default with the next event.
func (s *server) serveEventsStream(w http.ResponseWriter, req *http.Request) {
	after, err := s.queryAfter(req, s.events.last(0))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	filter := filterOf(req.URL.Query())
	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": tether dev delivery events\n\n")
	if flusher != nil {
		flusher.Flush()
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		evs, missed, _, _, more := s.events.since(after, 500)
		if missed > 0 {
			fmt.Fprintf(w, "event: missed\ndata: {\"missed\":%d}\n\n", missed)
		}
		for i := range evs {
			after = evs[i].Seq
			if !filter.match(&evs[i]) {
				continue
			}
			data, _ := json.Marshal(&evs[i])
			fmt.Fprintf(w, "id: %d\nevent: delivery\ndata: %s\n\n", evs[i].Seq, data)
		}
		if len(evs) == 500 {
			continue // more are there already
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-more:
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-req.Context().Done():
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// printEvents writes each event recorded to the logs, one line each, until
// ctx ends (tether dev --events).
func (s *server) printEvents(ctx context.Context) {
	after := s.events.last(0)
	for {
		evs, missed, _, _, more := s.events.since(after, 0)
		if missed > 0 {
			s.logs.printf("[events] (%d events missed)\n", missed)
		}
		for i := range evs {
			after = evs[i].Seq
			s.logs.line([]byte(FormatEvent(&evs[i]) + "\n"))
		}
		if ctx.Err() != nil {
			return // after printing what came before the end
		}
		select {
		case <-more:
		case <-ctx.Done():
		}
	}
}

// FormatEvent is the one-line form of an event that tether dev --events
// prints.
func FormatEvent(ev *trigger.DeliveryEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[events] %s %s", ev.Time.Local().Format("15:04:05.000"), ev.Kind)
	if ev.Function != "" {
		fmt.Fprintf(&b, " %s", ev.Function)
	}
	if ev.Binding != "" {
		fmt.Fprintf(&b, " from %s", ev.Binding)
	}
	if ev.MessageID != "" {
		fmt.Fprintf(&b, " id=%s", ev.MessageID)
	}
	if ev.Attempt > 0 && ev.Kind != trigger.EventOutput {
		fmt.Fprintf(&b, " attempt=%d", ev.Attempt)
	}
	switch ev.Kind {
	case trigger.EventReceived:
		fmt.Fprintf(&b, " %dB", ev.Size)
		if ev.Payload != "" && ev.PayloadEncoding == "" {
			p := ev.Payload
			if len(p) > 80 {
				p = p[:77] + "..."
			}
			fmt.Fprintf(&b, " %q", p)
		}
	case trigger.EventAttempt:
		fmt.Fprintf(&b, " %s in %s", ev.Outcome, time.Duration(ev.DurationMs*float64(time.Millisecond)).Round(time.Microsecond))
		if ev.RetryInMs > 0 {
			fmt.Fprintf(&b, ", again in %s", time.Duration(ev.RetryInMs*float64(time.Millisecond)).Round(time.Millisecond))
		}
	case trigger.EventOutput:
		fmt.Fprintf(&b, " to %s %s %dB %s", ev.Output, ev.Operation, ev.Size, ev.Outcome)
	case trigger.EventDeadLettered:
		fmt.Fprintf(&b, " to %s", ev.Output)
	}
	if ev.Error != "" {
		fmt.Fprintf(&b, ": %s", ev.Error)
	}
	return b.String()
}
