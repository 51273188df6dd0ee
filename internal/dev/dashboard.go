package dev

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetherfn/tether/internal/dlq"
	"github.com/tetherfn/tether/trigger"
)

// The dashboard, under /ui/ on the dev API: server-rendered pages
// (html/template, embedded) with small plain scripts for the live parts.
// Nothing is fetched from elsewhere at run time. It answers requests from
// loopback only, whatever --addr listens on.

//go:embed web
var webFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"json": func(v any) (template.JS, error) {
		b, err := json.Marshal(v)
		return template.JS(b), err
	},
	"short": func(s string, n int) string { return oneLine(s, n) },
	"time":  func(t time.Time) string { return t.Local().Format(time.DateTime) },
	"text":  payloadText,
	"div":   func(a, b int) int { return a / b },
}).ParseFS(webFS, "web/*.html"))

func (s *server) dashboardRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(webFS, "web/static")
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, loopbackOnly(h)) }
	mux.Handle("GET /ui/static/", loopbackOnly(http.StripPrefix("/ui/static/", http.FileServerFS(static)).ServeHTTP))
	handle("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	handle("GET /ui/{$}", s.serveFlow)
	handle("GET /ui/stream", s.page("stream", nil))
	handle("GET /ui/message", s.serveMessage)
	handle("GET /ui/send", s.serveSend)
	handle("GET /ui/metrics", s.page("metrics", nil))
	handle("GET /ui/deadletters", s.serveDeadLetters)
	handle("GET /ui/deadletters/{binding}/{id}", s.serveDeadLetter)
	handle("POST /ui/deadletters/{binding}/replay", s.serveReplay)
	handle("POST /ui/deadletters/{binding}/purge", s.servePurge)
	handle("POST /ui/api/send", s.serveSendAPI)
	handle("GET /ui/api/metrics", s.serveMetricsAPI)
	handle("GET /ui/api/flow", s.serveFlowAPI)
	handle("GET /ui/api/trace", s.serveTraceAPI)
	handle("GET /ui/api/logs", s.serveLogsAPI)
	handle("POST /ui/api/test", s.serveSaveTest)
}

// loopbackOnly refuses requests that do not come from this machine, that
// name another host (a DNS name rebound to 127.0.0.1), and changes asked by
// a page of another origin (a form on some web site posting to the
// dashboard).
func loopbackOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "tether dev: the dashboard answers on loopback only", http.StatusForbidden)
			return
		}
		if !loopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("tether dev: the dashboard answers at 127.0.0.1, [::1] or localhost, not %q", r.Host), http.StatusForbidden)
			return
		}
		if origin := r.Header.Get("Origin"); r.Method != http.MethodGet && origin != "" {
			if u, err := url.Parse(origin); err != nil || u.Host != r.Host {
				http.Error(w, "tether dev: a change from another origin ("+origin+") is refused", http.StatusForbidden)
				return
			}
		}
		h(w, r)
	})
}

// loopbackHost says whether host (a Host header) names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// view is what every page template gets.
type view struct {
	Page  string // its name, for the menu
	Title string
	Data  any
	Flash string // what the last action did
	Error string
}

func (s *server) render(w http.ResponseWriter, r *http.Request, name string, data any, err error) {
	v := view{Page: name, Title: name, Data: data, Flash: r.URL.Query().Get("done")}
	if err != nil {
		v.Error = err.Error()
	}
	if e := r.URL.Query().Get("error"); e != "" {
		v.Error = e
	}
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name+".html", v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

func (s *server) page(name string, data func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d any
		var err error
		if data != nil {
			d, err = data(r)
		}
		s.render(w, r, name, d, err)
	}
}

// fnView is one function as the dashboard shows it: from its process's
// status when it runs.
type fnView struct {
	Name       string
	Package    string
	Running    bool
	Restarts   int
	LastError  string
	Trigger    trigger.BindingStatus
	Return     string
	DeadLetter string
	Delivery   any
	Outputs    []string          // bindings it may send to, its dead letter and own trigger left out
	Types      map[string]string // binding → type
	Sample     *trigger.Sample   // its input described, when the generator did
}

// topology asks every running function for its status.
func (s *server) topology(ctx context.Context) []fnView {
	st := s.status()
	s.mu.Lock()
	procs := map[string]*process{}
	for n, p := range s.procs {
		procs[n] = p
	}
	s.mu.Unlock()
	out := make([]fnView, len(st.Functions))
	done := make(chan struct{}, len(st.Functions))
	for i, fi := range st.Functions {
		out[i] = fnView{Name: fi.Name, Package: fi.Package, Restarts: fi.Restarts, LastError: fi.LastError}
		p := procs[fi.Name]
		if p == nil {
			done <- struct{}{}
			continue
		}
		go func() {
			defer func() { done <- struct{}{} }()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			ps, err := p.status(ctx)
			if err != nil {
				return
			}
			v := &out[i]
			v.Running = true
			for _, f := range ps.Functions {
				v.Trigger, v.Return, v.DeadLetter, v.Delivery, v.Sample = f.Trigger, f.Return, f.Delivery.DeadLetter, f.Delivery, f.Sample
			}
			v.Types = map[string]string{}
			for _, o := range ps.Outputs {
				v.Types[o.Name] = o.Type
				if o.Name != v.Trigger.Name && o.Name != v.DeadLetter {
					v.Outputs = append(v.Outputs, o.Name)
				}
			}
			slices.Sort(v.Outputs)
		}()
	}
	for range st.Functions {
		<-done
	}
	return out
}

// invoke is how the dashboard reaches a binding: the dev API's own
// bindings API, as tether send and tether dlq do.
func (s *server) invoke(ctx context.Context, binding, operation string, data []byte, md map[string]string) ([]byte, error) {
	body := map[string]any{"operation": operation}
	if len(md) > 0 {
		body["metadata"] = md
	}
	if data != nil {
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%s: the payload is not text; the bindings API carries text only", binding)
		}
		body["data"] = string(data)
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.addr+"/v1.0/bindings/"+url.PathEscape(binding), bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Message string }
		if json.Unmarshal(answer, &e) == nil && e.Message != "" {
			return nil, fmt.Errorf("%s: %s: %s", binding, operation, e.Message)
		}
		return nil, fmt.Errorf("%s: %s: %s: %s", binding, operation, resp.Status, strings.TrimSpace(string(answer)))
	}
	return answer, nil
}

// Send.

type sendView struct {
	Triggers []sendTrigger
	Selected string
	Other    []string // bindings that trigger nothing
}

type sendTrigger struct {
	Binding     string
	Type        string
	Function    string
	Sample      string // an example payload
	Schema      string // the JSON Schema of the handler's input, "" when unknown
	ContentType string
}

func (s *server) serveSend(w http.ResponseWriter, r *http.Request) {
	fns := s.topology(r.Context())
	v := sendView{Selected: r.URL.Query().Get("binding")}
	triggers := map[string]bool{}
	for _, f := range fns {
		if f.Trigger.Name == "" {
			continue
		}
		triggers[f.Trigger.Name] = true
		t := sendTrigger{Binding: f.Trigger.Name, Type: f.Trigger.Type, Function: f.Name}
		if f.Sample != nil {
			t.Sample, t.Schema, t.ContentType = f.Sample.Example, string(f.Sample.Schema), f.Sample.ContentType
		}
		v.Triggers = append(v.Triggers, t)
	}
	for _, n := range s.bindingNames() {
		if !triggers[n] {
			v.Other = append(v.Other, n)
		}
	}
	if v.Selected == "" && len(v.Triggers) > 0 {
		v.Selected = v.Triggers[0].Binding
	}
	s.render(w, r, "send", v, nil)
}

type sendRequest struct {
	Binding  string            `json:"binding"`
	Data     string            `json:"data"`
	Metadata map[string]string `json:"metadata"`
}

func (s *server) serveSendAPI(w http.ResponseWriter, r *http.Request) {
	var in sendRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&in); err != nil {
		jsonError(w, http.StatusBadRequest, err)
		return
	}
	if in.Binding == "" {
		jsonError(w, http.StatusBadRequest, errors.New("binding is required"))
		return
	}
	if _, err := s.invoke(r.Context(), in.Binding, "create", []byte(in.Data), in.Metadata); err != nil {
		jsonError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, map[string]any{"ok": true})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// Dead letters.

type deadLettersView struct {
	Bindings []dlBinding
}

type dlBinding struct {
	Name      string
	Functions []string
	Letters   []dlq.Letter
	Error     string
}

func (s *server) deadLetterBindings(ctx context.Context) []dlBinding {
	var out []dlBinding
	for _, f := range s.topology(ctx) {
		if f.DeadLetter == "" {
			continue
		}
		i := slices.IndexFunc(out, func(b dlBinding) bool { return b.Name == f.DeadLetter })
		if i < 0 {
			out = append(out, dlBinding{Name: f.DeadLetter})
			i = len(out) - 1
		}
		out[i].Functions = append(out[i].Functions, f.Name)
	}
	return out
}

func (s *server) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	v := deadLettersView{Bindings: s.deadLetterBindings(r.Context())}
	for i := range v.Bindings {
		b := &v.Bindings[i]
		letters, err := dlq.List(r.Context(), s.invoke, b.Name)
		if err != nil {
			b.Error = err.Error()
		}
		b.Letters = letters
	}
	s.render(w, r, "deadletters", v, nil)
}

type deadLetterView struct {
	Binding string
	Letter  dlq.Letter
	Payload payloadView
	Send    string // the tether send command that sends it again
}

func (s *server) serveDeadLetter(w http.ResponseWriter, r *http.Request) {
	b, id := r.PathValue("binding"), r.PathValue("id")
	l, err := dlq.Get(r.Context(), s.invoke, b, id)
	if err != nil {
		s.render(w, r, "deadletter", deadLetterView{Binding: b}, err)
		return
	}
	e := l.Envelope
	v := deadLetterView{Binding: b, Letter: l, Payload: newPayloadView(e.Data, e.ContentType),
		Send: sendCommand(e.Binding, e.Data, e.Metadata)}
	s.render(w, r, "deadletter", v, nil)
}

func (s *server) serveReplay(w http.ResponseWriter, r *http.Request) {
	b := r.PathValue("binding")
	if err := r.ParseForm(); err != nil {
		redirectBack(w, r, "/ui/deadletters", "", err)
		return
	}
	ids := r.Form["id"]
	var letters []dlq.Letter
	var err error
	if len(ids) == 0 {
		letters, err = dlq.List(r.Context(), s.invoke, b)
	}
	for _, id := range ids {
		var l dlq.Letter
		if l, err = dlq.Get(r.Context(), s.invoke, b, id); err != nil {
			break
		}
		letters = append(letters, l)
	}
	var data []byte
	if edited, ok := r.Form["data"]; ok && len(ids) == 1 {
		data = []byte(strings.ReplaceAll(edited[0], "\r\n", "\n"))
	}
	replayed, skipped := 0, 0
	for _, l := range letters {
		if err != nil {
			break
		}
		if err = dlq.Replay(r.Context(), s.invoke, b, l, r.Form.Get("to"), data); errors.Is(err, dlq.ErrInFlight) {
			skipped, err = skipped+1, nil
			continue
		}
		if err == nil {
			replayed++
		}
	}
	done := fmt.Sprintf("%s: replayed %d dead letter(s)", b, replayed)
	if skipped > 0 {
		done += fmt.Sprintf(", skipped %d being received", skipped)
	}
	redirectBack(w, r, "/ui/deadletters", done, err)
}

func (s *server) servePurge(w http.ResponseWriter, r *http.Request) {
	b := r.PathValue("binding")
	n, err := dlq.Purge(r.Context(), s.invoke, b)
	redirectBack(w, r, "/ui/deadletters", fmt.Sprintf("%s: deleted %d dead letter(s)", b, n), err)
}

func redirectBack(w http.ResponseWriter, r *http.Request, to, done string, err error) {
	q := url.Values{}
	if done != "" {
		q.Set("done", done)
	}
	if err != nil {
		q.Set("error", err.Error())
	}
	http.Redirect(w, r, to+"?"+q.Encode(), http.StatusSeeOther)
}

// Payloads.

// payloadView is a payload three ways: pretty JSON (when it is), text
// (when it is UTF-8) and hex.
type payloadView struct {
	Size        int
	ContentType string
	JSON        string
	Text        string
	IsText      bool
	Hex         string
}

func newPayloadView(data []byte, contentType string) payloadView {
	v := payloadView{Size: len(data), ContentType: contentType, Hex: hexDump(data)}
	if utf8.Valid(data) {
		v.Text, v.IsText = string(data), true
		var b bytes.Buffer
		if json.Valid(data) && json.Indent(&b, data, "", "  ") == nil {
			v.JSON = b.String()
		}
	}
	return v
}

// hexDump is data as hexdump -C shows it, up to 64 KiB.
func hexDump(data []byte) string {
	const max = 64 << 10
	var b strings.Builder
	cut := len(data) > max
	if cut {
		data = data[:max]
	}
	for off := 0; off < len(data); off += 16 {
		line := data[off:min(off+16, len(data))]
		fmt.Fprintf(&b, "%08x  ", off)
		for i := range 16 {
			if i < len(line) {
				fmt.Fprintf(&b, "%02x ", line[i])
			} else {
				b.WriteString("   ")
			}
			if i == 7 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(" |")
		for _, c := range line {
			if c < 32 || c > 126 {
				c = '.'
			}
			b.WriteByte(c)
		}
		b.WriteString("|\n")
	}
	if cut {
		b.WriteString("…\n")
	}
	return b.String()
}

func payloadText(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	return fmt.Sprintf("(%d bytes, not text)", len(data))
}

var errMessageID = errors.New("messageId is required")

// dashboardKey is the metadata key the Send page tags its messages with, to
// find their attempts among the delivery events.
const dashboardKey = "tether-dashboard"

// sendCommand is the tether send command line that sends data with md to
// binding, quoted for a POSIX shell.
func sendCommand(binding string, data []byte, md map[string]string) string {
	var b strings.Builder
	b.WriteString("tether send " + shellQuote(binding))
	if data != nil {
		b.WriteString(" --data " + shellQuote(string(data)))
	}
	keys := make([]string, 0, len(md))
	for k := range md {
		if k != dashboardKey {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString(" --metadata " + shellQuote(k+"="+md[k]))
	}
	return b.String()
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// The Message page: the JS reads the delivery events of one message (GET
// /v1.0/dev/events/recent?messageId=...) and shows them.

type messageView struct {
	Function, Binding, ID string
}

func (s *server) serveMessage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.render(w, r, "message", messageView{Function: q.Get("function"), Binding: q.Get("binding"), ID: q.Get("id")}, nil)
}
