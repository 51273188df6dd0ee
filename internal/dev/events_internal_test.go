package dev

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tetherfn/tether/trigger"
)

func eventsServer(t *testing.T, kept int) (*server, *httptest.Server) {
	s := &server{ctx: t.Context(), events: newEventRing(kept)}
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	return s, srv
}

func postEvents(t *testing.T, url string, dropped int, evs ...trigger.DeliveryEvent) {
	t.Helper()
	var b strings.Builder
	for _, ev := range evs {
		data, _ := json.Marshal(ev)
		b.Write(data)
		b.WriteByte('\n')
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1.0/dev/events", strings.NewReader(b.String()))
	if dropped > 0 {
		req.Header.Set(trigger.DroppedHeader, fmt.Sprint(dropped))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST events: %s", resp.Status)
	}
}

func recent(t *testing.T, url string) EventsPage {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page EventsPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page
}

func ids(evs []trigger.DeliveryEvent) string {
	var s []string
	for _, ev := range evs {
		s = append(s, fmt.Sprintf("%d:%s", ev.Seq, ev.MessageID))
	}
	return strings.Join(s, " ")
}

// TestEventsRecent: the ring keeps the last events, numbered; the recent
// list pages with after and limit, filters, and counts what the ring lost
// and what the functions dropped.
func TestEventsRecent(t *testing.T) {
	_, srv := eventsServer(t, 4)
	for i := range 6 {
		fn := "a"
		if i%2 == 1 {
			fn = "b"
		}
		postEvents(t, srv.URL, i, trigger.DeliveryEvent{Kind: trigger.EventReceived, Function: fn, MessageID: fmt.Sprint("m", i)})
	}
	page := recent(t, srv.URL+"/v1.0/dev/events/recent")
	if got := ids(page.Events); got != "3:m2 4:m3 5:m4 6:m5" || page.Next != 7 || page.Dropped != 15 || page.Kept != 4 || page.Missed != 0 {
		t.Errorf("recent: %s, next %d, dropped %d, kept %d, missed %d", got, page.Next, page.Dropped, page.Kept, page.Missed)
	}
	page = recent(t, srv.URL+"/v1.0/dev/events/recent?after=1&limit=2")
	if got := ids(page.Events); got != "3:m2 4:m3" || page.Missed != 1 {
		t.Errorf("after=1&limit=2: %s, missed %d", got, page.Missed)
	}
	page = recent(t, srv.URL+"/v1.0/dev/events/recent?function=b")
	if got := ids(page.Events); got != "4:m3 6:m5" {
		t.Errorf("function=b: %s", got)
	}
	page = recent(t, srv.URL+"/v1.0/dev/events/recent?last=1")
	if got := ids(page.Events); got != "6:m5" {
		t.Errorf("last=1: %s", got)
	}
	resp, err := http.Get(srv.URL + "/v1.0/dev/events/recent?after=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("after=x: %s, want 400", resp.Status)
	}
}

// TestEventsStream: the stream sends each event as it is recorded, with its
// seq as the id, resumes after Last-Event-ID, and says when a reader asked
// for events the ring no longer holds.
func TestEventsStream(t *testing.T) {
	_, srv := eventsServer(t, 3)
	postEvents(t, srv.URL, 0, trigger.DeliveryEvent{Kind: trigger.EventReceived, MessageID: "old"})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1.0/dev/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	// readEvent returns the next event's fields (comments skipped).
	readEvent := func() map[string]string {
		t.Helper()
		fields := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "" && len(fields) > 0:
				return fields
			case line == "" || strings.HasPrefix(line, ":"):
			default:
				k, v, _ := strings.Cut(line, ": ")
				fields[k] = v
			}
		}
	}
	// The stream starts with the next event: "old" is not sent.
	postEvents(t, srv.URL, 0, trigger.DeliveryEvent{Kind: trigger.EventAttempt, MessageID: "new", Outcome: "acked", DurationMs: 1.5})
	f := readEvent()
	var ev trigger.DeliveryEvent
	if err := json.Unmarshal([]byte(f["data"]), &ev); err != nil {
		t.Fatalf("data %q: %v", f["data"], err)
	}
	if f["event"] != "delivery" || f["id"] != "2" || ev.Seq != 2 || ev.MessageID != "new" || ev.Outcome != "acked" {
		t.Errorf("first event: %v", f)
	}
	cancel()

	// A reader resuming from seq 1 after the ring moved on is told how many
	// it missed, then gets the rest.
	for i := range 3 {
		postEvents(t, srv.URL, 0, trigger.DeliveryEvent{Kind: trigger.EventReceived, MessageID: fmt.Sprint("later", i)})
	}
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1.0/dev/events", nil)
	req.Header.Set("Last-Event-ID", "1")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	r = bufio.NewReader(resp2.Body)
	if f := readEvent(); f["event"] != "missed" || f["data"] != `{"missed":1}` {
		t.Errorf("resumed stream starts with %v, want 1 missed (seq 2)", f)
	}
	for i := range 3 {
		if f := readEvent(); f["id"] != fmt.Sprint(3+i) || !strings.Contains(f["data"], fmt.Sprint("later", i)) {
			t.Errorf("resumed event %d: %v", i, f)
		}
	}
}

func TestFormatEvent(t *testing.T) {
	at := time.Date(2026, 12, 6, 18, 0, 0, 0, time.Local)
	for _, c := range []struct {
		ev   trigger.DeliveryEvent
		want string
	}{
		{trigger.DeliveryEvent{Time: at, Kind: trigger.EventReceived, Function: "f", Binding: "in", MessageID: "m1", Attempt: 1, Size: 7, Payload: `{"a":1}`},
			`[events] 18:00:00.000 received f from in id=m1 attempt=1 7B "{\"a\":1}"`},
		{trigger.DeliveryEvent{Time: at, Kind: trigger.EventAttempt, Function: "f", Binding: "in", MessageID: "m1", Attempt: 2, Outcome: "retry", DurationMs: 1.5, RetryInMs: 200, Error: "boom"},
			`[events] 18:00:00.000 attempt f from in id=m1 attempt=2 retry in 1.5ms, again in 200ms: boom`},
		{trigger.DeliveryEvent{Time: at, Kind: trigger.EventOutput, Function: "f", Binding: "in", MessageID: "m1", Attempt: 1, Output: "out", Operation: "create", Size: 3, Outcome: "ok"},
			`[events] 18:00:00.000 output f from in id=m1 to out create 3B ok`},
		{trigger.DeliveryEvent{Time: at, Kind: trigger.EventDeadLettered, Function: "f", Binding: "in", MessageID: "m1", Attempt: 3, Output: "dead", Error: "boom"},
			`[events] 18:00:00.000 dead-lettered f from in id=m1 attempt=3 to dead: boom`},
	} {
		if got := FormatEvent(&c.ev); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
