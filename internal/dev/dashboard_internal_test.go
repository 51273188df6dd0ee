package dev

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tetherfn/tether/trigger"
)

func TestQuantile(t *testing.T) {
	// 100 observations: 50 under 1 ms, 40 in (1, 4] ms, 10 in (4, 16] ms.
	b := []bucket{{0.001, 50}, {0.004, 90}, {0.016, 100}, {math.Inf(1), 100}}
	if q := quantile(b, 0.5); q != 0.001 {
		t.Errorf("p50 = %v, want 0.001", q)
	}
	if q := quantile(b, 0.99); math.Abs(q-0.0148) > 1e-9 {
		t.Errorf("p99 = %v, want 0.0148 (interpolated in the last bucket)", q)
	}
	if q := quantile([]bucket{{0.001, 0}, {math.Inf(1), 0}}, 0.5); q != -1 {
		t.Errorf("empty = %v, want -1", q)
	}
	if q := quantile([]bucket{{0.001, 0}, {math.Inf(1), 4}}, 0.5); q != 0.001 {
		t.Errorf("beyond the last bound = %v, want the last bound", q)
	}
}

func TestLayout(t *testing.T) {
	g := layout([]fnView{
		{Name: "second", Running: true, Trigger: trigger.BindingStatus{Name: "middle"}, Outputs: []string{"out"}},
		{Name: "first", Running: true, Trigger: trigger.BindingStatus{Name: "in"}, Outputs: []string{"middle"}, DeadLetter: "dead"},
	}, false)
	x := map[string]int{}
	for _, n := range g.Nodes {
		x[n.ID] = n.X
	}
	// in → first → middle → second → out, each a column to the right.
	order := []string{"b:in", "f:first", "b:middle", "f:second", "b:out"}
	for i := 1; i < len(order); i++ {
		if x[order[i]] <= x[order[i-1]] {
			t.Errorf("%s at x=%d, not right of %s at x=%d", order[i], x[order[i]], order[i-1], x[order[i-1]])
		}
	}
	if len(g.Edges) != 5 {
		t.Errorf("%d edges, want 5", len(g.Edges))
	}
	for _, n := range g.Nodes {
		if n.X+n.W > g.Width || n.Y+n.H > g.Height {
			t.Errorf("node %s outside the %dx%d drawing", n.ID, g.Width, g.Height)
		}
	}
	// A cycle does not loop forever.
	layout([]fnView{{Name: "loop", Trigger: trigger.BindingStatus{Name: "q"}, Outputs: []string{"q2"}}, {Name: "back", Trigger: trigger.BindingStatus{Name: "q2"}, Outputs: []string{"q"}}}, true)
}

func TestLoopbackOnly(t *testing.T) {
	h := loopbackOnly(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, c := range []struct {
		method, remote, host, origin string
		want                         int
	}{
		{"GET", "127.0.0.1:5000", "127.0.0.1:3500", "", http.StatusTeapot},
		{"GET", "[::1]:5000", "[::1]:3500", "", http.StatusTeapot},
		{"GET", "127.0.0.1:5000", "localhost:3500", "", http.StatusTeapot},
		{"GET", "10.1.2.3:5000", "127.0.0.1:3500", "", http.StatusForbidden},
		{"GET", "127.0.0.1:5000", "evil.example:3500", "", http.StatusForbidden}, // DNS rebinding
		{"POST", "127.0.0.1:5000", "127.0.0.1:3500", "http://127.0.0.1:3500", http.StatusTeapot},
		{"POST", "127.0.0.1:5000", "127.0.0.1:3500", "", http.StatusTeapot}, // curl
		{"POST", "127.0.0.1:5000", "127.0.0.1:3500", "https://evil.example", http.StatusForbidden},
	} {
		r := httptest.NewRequest(c.method, "/ui/", nil)
		r.RemoteAddr, r.Host = c.remote, c.host
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s from %s to %s, origin %q: %d, want %d", c.method, c.remote, c.host, c.origin, w.Code, c.want)
		}
	}
}

func TestTestSource(t *testing.T) {
	src, err := testSource("example.com/m/hello", "hello", "GreetFunction", savedMessage{
		Function: "greet", Binding: "names", MessageID: "ab12", Attempt: 1, Outcome: "acked",
		Payload: `{"name":"Ada"}`, ContentType: "application/json", Metadata: map[string]string{"k": "v`"},
		Outputs: []savedOutput{{Output: "greetings", Payload: `{"message":"Hello, Ada!"}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"func TestGreetSavedAb12(t *testing.T)",
		"h := fntest.New(t, hello.GreetFunction())",
		"out := h.Send([]byte(`{\"name\":\"Ada\"}`),",
		`fntest.Metadata(map[string]string{"k": "v` + "`" + `"})`,
		"if out.Action != trigger.Acked",
		`"greetings": {string([]byte(` + "`" + `{"message":"Hello, Ada!"}` + "`" + `))},`,
		"func samePayloadGreetSavedAb12(",
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("the test lacks %q:\n%s", want, src)
		}
	}
	if _, err := testSource("m", "p", "F", savedMessage{Function: "f", Outcome: "abandoned"}); err == nil {
		t.Error("an abandoned attempt was saved")
	}
	if _, err := testSource("m", "p", "F", savedMessage{Function: "f", Outcome: "acked", Outputs: []savedOutput{{Output: "o", Truncated: true}}}); err == nil {
		t.Error("a cut output was asserted")
	}
}

func TestShellQuote(t *testing.T) {
	if got := sendCommand("names", []byte(`{"name":"O'Brien"}`), map[string]string{"b": "2", "a": "x y"}); got != `tether send names --data '{"name":"O'\''Brien"}' --metadata 'a=x y' --metadata b=2` {
		t.Error(got)
	}
}

func TestLogRing(t *testing.T) {
	var r logRing
	for i := range logsKept + 10 {
		r.add("[f] ", []byte(fmt.Sprintf("line %d id=m%d\n", i, i%3)))
	}
	r.add("[g] ", []byte("id=m1 from g\n"))
	got := r.find("f", "id=m1")
	if len(got) == 0 || got[0].Text != fmt.Sprintf("line %d id=m1", 13) || got[len(got)-1].Function != "f" {
		t.Errorf("oldest kept m1 line %q, last %+v", got[0].Text, got[len(got)-1])
	}
	for _, l := range got {
		if !strings.Contains(l.Text, "id=m1") {
			t.Errorf("found %q", l.Text)
		}
	}
	if n := len(r.buf); n != logsKept {
		t.Errorf("kept %d lines, want %d", n, logsKept)
	}
}
