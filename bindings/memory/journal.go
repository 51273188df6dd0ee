package memory

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// A journal keeps one queue's messages on disk, so that a broker process
// (tether dev) finds them again after a restart: every message added is
// appended, and so is every change of its fate (acked or deleted: done; nacked
// or handed back: its new delivery count). Loading replays the records and
// rewrites the file with the live messages only.
//
// Records are written straight to the file (no buffering in the process), so
// a killed broker loses nothing the system had accepted. A nil *journal
// writes nothing: that is every queue of a process that did not call Persist,
// and costs the hot path one nil check.
type journal struct {
	mu     sync.Mutex
	f      *os.File
	warned bool
}

type record struct {
	Op  string  `json:"op"` // add, done, count
	ID  string  `json:"id"`
	Msg *Stored `json:"msg,omitempty"`
	N   int     `json:"n,omitempty"`
}

// persistDir is where new queues keep their journal; "" keeps them in memory
// only. Guarded by queues' lock.
var persistDir string

const journalExt = ".jsonl"

// Persist keeps every queue of this process in dir (created if needed),
// from now on: it loads the queues saved there by an earlier process, then
// journals every change. A process calls it once, before any queue is used;
// the broker of tether dev does, with .tether/dev/queues. Calling it again
// with the same dir changes nothing.
func Persist(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("memory: persist: %w", err)
	}
	queues.Lock()
	defer queues.Unlock()
	if persistDir == dir {
		return nil // a second tether dev in the same process (tests)
	}
	if persistDir != "" {
		return fmt.Errorf("memory: persist: already persisting in %s", persistDir)
	}
	if len(queues.byName) > 0 {
		return errors.New("memory: persist: queues are already in use; call Persist first")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"+journalExt))
	if err != nil {
		return err
	}
	for _, path := range files {
		name, err := url.PathUnescape(strings.TrimSuffix(filepath.Base(path), journalExt))
		if err != nil {
			continue // not one of ours
		}
		live, err := replay(path)
		if err != nil {
			return fmt.Errorf("memory: persist: %w", err)
		}
		q := newQueue(name)
		for _, s := range live {
			q.add(&entry{msg: bindingsMessage(s)})
		}
		if q.journal, err = rewrite(path, live); err != nil {
			return fmt.Errorf("memory: persist: %w", err)
		}
		queues.byName[name] = q
	}
	persistDir = dir
	return nil
}

// StopPersisting ends what Persist began: it closes every queue's journal
// and forgets the process's queues, so that a later Persist, of another
// tether dev run in the same process (tests), starts from its own folder.
// The queues' receivers and senders must be gone (tether dev's broker has
// stopped).
func StopPersisting() {
	queues.Lock()
	defer queues.Unlock()
	if persistDir == "" {
		return
	}
	for _, q := range queues.byName {
		if j := q.journal; j != nil {
			j.mu.Lock()
			j.f.Close()
			j.mu.Unlock()
		}
	}
	clear(queues.byName)
	persistDir = ""
}

// journalFor opens the journal of a new queue. Callers hold queues' lock.
func journalFor(name string) *journal {
	if persistDir == "" {
		return nil
	}
	path := filepath.Join(persistDir, url.PathEscape(name)+journalExt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "memory: queue %q is not persisted: %v\n", name, err)
		return nil
	}
	return &journal{f: f}
}

// replay reads a journal and returns the messages still live, in the order
// they were added. A torn last line (the process died mid-write) is ignored.
func replay(path string) ([]Stored, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var live []*Stored
	byID := map[string][]*Stored{} // several when ids repeat (Publish may set them)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	line := 0
	for sc.Scan() {
		line++
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if !sc.Scan() { // the last line: torn by a kill
				break
			}
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		switch r.Op {
		case "add":
			if r.Msg != nil {
				live = append(live, r.Msg)
				byID[r.ID] = append(byID[r.ID], r.Msg)
			}
		case "done":
			if l := byID[r.ID]; len(l) > 0 {
				l[0].ID = "\x00done" // marked; dropped below
				byID[r.ID] = l[1:]
			}
		case "count":
			if l := byID[r.ID]; len(l) > 0 {
				l[0].DeliveryCount = r.N
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Stored
	for _, s := range live {
		if s.ID != "\x00done" {
			out = append(out, *s)
		}
	}
	return out, nil
}

// rewrite replaces the journal at path by one holding live, and opens it
// for appending.
func rewrite(path string, live []Stored) (*journal, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(f)
	for i := range live {
		b, _ := json.Marshal(record{Op: "add", ID: live[i].ID, Msg: &live[i]})
		w.Write(append(b, '\n'))
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &journal{f: f}, nil
}

func (j *journal) write(r record) {
	b, err := json.Marshal(r)
	if err == nil {
		j.mu.Lock()
		_, err = j.f.Write(append(b, '\n'))
		warn := err != nil && !j.warned
		j.warned = j.warned || err != nil
		j.mu.Unlock()
		if !warn {
			return
		}
	}
	fmt.Fprintf(os.Stderr, "memory: journal %s: %v (messages may not survive a restart)\n", j.f.Name(), err)
}

func (j *journal) add(e *entry) {
	if j == nil {
		return
	}
	s := stored(e, "")
	s.State = ""
	j.write(record{Op: "add", ID: e.msg.ID, Msg: &s})
}

func (j *journal) done(e *entry) {
	if j == nil {
		return
	}
	j.write(record{Op: "done", ID: e.msg.ID})
}

func (j *journal) count(e *entry) {
	if j == nil {
		return
	}
	j.write(record{Op: "count", ID: e.msg.ID, N: e.msg.DeliveryCount})
}

// truncate forgets every message: the queue was reset.
func (j *journal) truncate() {
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Truncate(0); err != nil && !errors.Is(err, fs.ErrClosed) {
		fmt.Fprintf(os.Stderr, "memory: journal %s: %v\n", j.f.Name(), err)
	}
}
