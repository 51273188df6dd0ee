package dev

import (
	"net/http"
	"strings"
	"sync"
)

// The Message page's log lines: the last lines each function wrote, kept
// by tether dev as it prints them, and those of one message picked by its
// id (the runtime's log lines carry id=<message id>).

// logsKept bounds the lines kept, of all functions together.
const logsKept = 5000

type logLine struct {
	Function string `json:"function"`
	Text     string `json:"text"`
}

// logRing keeps the last logsKept lines.
type logRing struct {
	mu   sync.Mutex
	buf  []logLine
	next int
}

// add keeps line, written by the function whose prefix is "[name] ".
func (r *logRing) add(prefix string, line []byte) {
	fn := strings.TrimSuffix(strings.TrimPrefix(prefix, "["), "] ")
	l := logLine{Function: fn, Text: strings.TrimRight(string(line), "\n")}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.buf) < logsKept {
		r.buf = append(r.buf, l)
		return
	}
	r.buf[r.next] = l
	r.next = (r.next + 1) % logsKept
}

// find returns the kept lines of function fn that contain text, oldest
// first.
func (r *logRing) find(fn, text string) []logLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []logLine{}
	for i := range r.buf {
		l := r.buf[(r.next+i)%len(r.buf)]
		if (fn == "" || l.Function == fn) && strings.Contains(l.Text, text) {
			out = append(out, l)
		}
	}
	return out
}

func (s *server) serveLogsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("messageId")
	if id == "" {
		jsonError(w, http.StatusBadRequest, errMessageID)
		return
	}
	writeJSON(w, s.logs.recent.find(q.Get("function"), id))
}
