package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/tetherfn/tether/trigger"
)

// The Message page's trace: every function process keeps its last spans
// (TETHER_TRACES_RECENT, GET /v1.0/traces on its control API). The span
// of the delivery names the message (messaging.message.id); its trace is
// gathered from every function, so that what the message caused further
// down shows in the same waterfall.

// tracesKept is how many finished spans each function process keeps.
const tracesKept = 2000

type traceAnswer struct {
	TraceID string             `json:"traceId,omitempty"`
	Spans   []trigger.SpanJSON `json:"spans"`
	Error   string             `json:"error,omitempty"`
}

func (s *server) serveTraceAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fn, id := q.Get("function"), q.Get("messageId")
	s.mu.Lock()
	procs := map[string]*process{}
	for n, p := range s.procs {
		procs[n] = p
	}
	s.mu.Unlock()
	ans := traceAnswer{Spans: []trigger.SpanJSON{}}
	p := procs[fn]
	if p == nil {
		ans.Error = fmt.Sprintf("function %s is not running", fn)
		writeJSON(w, ans)
		return
	}
	spans, err := traces(r.Context(), p, "")
	if err != nil {
		ans.Error = err.Error()
		writeJSON(w, ans)
		return
	}
	for _, sp := range spans {
		if v, ok := sp.Attributes["messaging.message.id"].(string); ok && v == id && sp.Kind == "consumer" {
			ans.TraceID = sp.TraceID
		}
	}
	if ans.TraceID == "" {
		for _, sp := range spans {
			if v, ok := sp.Attributes["messaging.message.id"].(string); ok && v == id {
				ans.TraceID = sp.TraceID
			}
		}
	}
	if ans.TraceID == "" {
		writeJSON(w, ans)
		return
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() {
			got, err := traces(r.Context(), p, ans.TraceID)
			if err != nil {
				return // a process that stopped: its spans are gone with it
			}
			mu.Lock()
			ans.Spans = append(ans.Spans, got...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(ans.Spans, func(a, b trigger.SpanJSON) int { return a.Start.Compare(b.Start) })
	writeJSON(w, ans)
}

// traces asks p for its kept spans, of one trace when traceID is set.
func traces(ctx context.Context, p *process, traceID string) ([]trigger.SpanJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := "http://" + p.addr + "/v1.0/traces"
	if traceID != "" {
		u += "?trace_id=" + url.QueryEscape(traceID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: /v1.0/traces: %s", p.f.name, resp.Status)
	}
	var body struct {
		Spans []trigger.SpanJSON `json:"spans"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: /v1.0/traces: %w", p.f.name, err)
	}
	return body.Spans, nil
}
