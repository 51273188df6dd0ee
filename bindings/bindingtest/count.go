package bindingtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
)

// counter counts the deliveries of the concurrency test's messages.
type counter struct {
	mu         sync.Mutex
	want       int
	seen       []int  // deliveries per message index
	sent       []bool // by message index: its send returned nil, or it arrived
	unsent     int
	progress   time.Time     // of the last send or delivery
	stalled    time.Duration // when the test stopped for nothing moving: for how long
	distinct   int
	duplicates int
	foreign    []string
	perInput   map[int]int
	failures   []string
	ids        map[string]int // message id → index of the message that had it
	idClashes  []string
}

// fail records a failure to report from the test's goroutine.
func (c *counter) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) < 20 {
		c.failures = append(c.failures, fmt.Sprintf(format, args...))
	}
}

func newCounter(n int) *counter {
	return &counter{
		want: n, seen: make([]int, n), sent: make([]bool, n), unsent: n, progress: time.Now(),
		perInput: map[int]int{}, ids: make(map[string]int, n),
	}
}

// sentOne records that message i was sent.
func (c *counter) sentOne(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markSent(i)
	c.progress = time.Now()
}

// markSent records message i as sent, once: its send returned nil, or it
// arrived (which may come first, and end the test before the send
// returns). Callers hold mu.
func (c *counter) markSent(i int) {
	if !c.sent[i] {
		c.sent[i] = true
		c.unsent--
	}
}

// stall records that the test stops after idle with nothing sent or
// delivered: the messages sent and not delivered by then are lost.
func (c *counter) stall(idle time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stalled = idle
}

// idle reports how long nothing was sent or delivered.
func (c *counter) idle() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.progress)
}

// add records one delivery to input i and reports whether every message has
// now been seen.
func (c *counter) add(run string, input int, m *bindings.Message) (all bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.perInput[input]++
	c.progress = time.Now()
	rest, ok := strings.CutPrefix(string(m.Data), run+"/")
	i, err := strconv.Atoi(rest)
	if !ok || err != nil || i < 0 || i >= c.want {
		c.foreign = append(c.foreign, short(m.Data))
		return c.distinct == c.want
	}
	if first, ok := c.ids[m.ID]; ok && first != i {
		if len(c.idClashes) < 5 {
			c.idClashes = append(c.idClashes, fmt.Sprintf("%q for messages %d and %d", m.ID, first, i))
		}
	} else {
		c.ids[m.ID] = i
	}
	c.markSent(i)
	c.seen[i]++
	if c.seen[i] == 1 {
		c.distinct++
	} else {
		c.duplicates++
	}
	return c.distinct == c.want
}

func (c *counter) report(t *testing.T, duplicatesAllowed bool) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.failures {
		t.Error(f)
	}
	t.Logf("%d messages over %d inputs: %v deliveries per input", c.want, len(c.perInput), c.perInput)
	if c.stalled > 0 {
		t.Errorf("nothing sent or delivered for %v", c.stalled.Round(time.Second))
	}
	if c.unsent > 0 {
		t.Errorf("%d of %d messages were not sent before the test stopped", c.unsent, c.want)
	}
	// A message whose send did not return nil may still have arrived, and
	// one sent may still be on its way when the test stops for another
	// reason: only one sent and not delivered while nothing moved is lost.
	var missing []int
	for i, n := range c.seen {
		if n == 0 && c.sent[i] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		first := missing[:min(len(missing), 10)]
		if c.stalled > 0 {
			t.Errorf("lost %d of %d messages sent (first missing: %v)", len(missing), c.want-c.unsent, first)
		} else {
			t.Errorf("%d of %d messages sent were not delivered before the test stopped (first missing: %v)", len(missing), c.want-c.unsent, first)
		}
	}
	if c.duplicates > 0 {
		if duplicatesAllowed {
			t.Logf("%d duplicate deliveries; allowed, Capabilities.Duplicates is set", c.duplicates)
		} else {
			t.Errorf("%d duplicate deliveries", c.duplicates)
		}
	}
	if len(c.idClashes) > 0 {
		t.Errorf("distinct messages share an ID: %s", strings.Join(c.idClashes, "; "))
	}
	if len(c.foreign) > 0 {
		t.Errorf("%d messages that were never sent: %v", len(c.foreign), c.foreign[:min(len(c.foreign), 5)])
	}
}

// short renders a payload for a message: at most 60 bytes, quoted by the caller.
func short(b []byte) string {
	const n = 60
	if len(b) <= n {
		return string(b)
	}
	return fmt.Sprintf("%s...(%d bytes)", b[:n], len(b))
}

// someKeys lists up to 5 keys of a set, sorted and quoted.
func someKeys(set map[string]bool) string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, strconv.Quote(short([]byte(k))))
	}
	slices.Sort(keys)
	if len(keys) > 5 {
		return strings.Join(keys[:5], ", ") + ", ..."
	}
	return strings.Join(keys, ", ")
}
