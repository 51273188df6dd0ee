package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/functions"
)

// DeadLetter handles attempts that failed for good (retries exhausted, a
// permanent error, an undecodable payload). With a dead-letter output it
// sends a functions.DeadLetter envelope there and the original is acked;
// should that send fail, the message is retried later instead, never dropped.
// Without one (out nil) the message is left for the dispatcher to nack or to
// dead-letter natively, after keep.
//
// It also remembers when each message first failed, for the envelope.
//
// Chain's dead letters also hide secrets and credentials (ChainOptions'
// Redact and Credentials); this one copies error and metadata as they are.
func DeadLetter(function, binding string, out bindings.Output, keep time.Duration) Middleware {
	return deadLetter(function, binding, out, keep, envelopeFilter{}, newFailureLog(failureLogMax))
}

// failureLogMax is how many failing messages a dead-letter middleware
// remembers the first failure of.
const failureLogMax = 10000

// envelopeFilter keeps secrets and credentials out of a dead letter.
type envelopeFilter struct {
	redact func(string) string // nil: none
	drop   []string            // metadata keys, compared case-insensitively
}

func (f envelopeFilter) text(s string) string {
	if f.redact == nil {
		return s
	}
	return f.redact(s)
}

// metadata returns md without the dropped keys and with its values
// redacted; md itself (the message's) is left alone, for the retries.
func (f envelopeFilter) metadata(md map[string]string) map[string]string {
	if f.redact == nil && len(f.drop) == 0 {
		return md
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if !slices.ContainsFunc(f.drop, func(d string) bool { return strings.EqualFold(d, k) }) {
			out[k] = f.text(v)
		}
	}
	return out
}

func deadLetter(function, binding string, out bindings.Output, keep time.Duration, filter envelopeFilter, failures *failureLog) Middleware {
	dl := &deadLetters{function: function, binding: binding, out: out, keep: keep, filter: filter, failures: failures}
	return func(next Handler) Handler {
		return func(ctx context.Context, m *bindings.Message) (Result, error) {
			res, err := next(ctx, m)
			return res, dl.settle(ctx, m, err)
		}
	}
}

// deadLetters is the dead-letter middleware's state and decision.
type deadLetters struct {
	function, binding string
	out               bindings.Output // nil: none
	keep              time.Duration
	filter            envelopeFilter
	failures          *failureLog
}

// settle is the dead-letter middleware's work on m's attempt, which ended
// with err (as Retry passed it on): err as it passes on.
func (dl *deadLetters) settle(ctx context.Context, m *bindings.Message, err error) error {
	if err == nil {
		dl.failures.forget(m.ID)
		return nil
	}
	if errors.Is(err, errShutdown) {
		return err
	}
	now := time.Now()
	first := dl.failures.record(m.ID, now)
	if _, again := asRetry(err); again {
		return err
	}
	if dl.out == nil {
		return &exhaustedError{err: err, delay: dl.keep}
	}
	attempt := attemptOf(m)
	env := functions.DeadLetter{
		Function: dl.function, Binding: dl.binding, MessageID: m.ID,
		Error: dl.filter.text(err.Error()), Permanent: functions.IsPermanent(err), Attempts: attempt,
		FirstFailure: first, LastFailure: now,
		ContentType: m.ContentType, Metadata: dl.filter.metadata(m.ReadMetadata()), Data: m.Data,
	}
	if sendErr := sendDeadLetter(ctx, dl.out, &env); sendErr != nil {
		return &retryError{delay: dl.keep, err: fmt.Errorf("dead-letter failed: %w (after: %w)", sendErr, err)}
	}
	dl.failures.forget(m.ID)
	return &deadLetteredError{err: err}
}

func sendDeadLetter(ctx context.Context, out bindings.Output, env *functions.DeadLetter) error {
	data, err := json.Marshal(env)
	if err != nil {
		return err
	}
	// The original metadata travels inside the envelope only: as request
	// metadata, keys such as "topic" or "subject" would be taken as routing
	// overrides by the dead-letter output and send the message back where
	// it came from.
	md := map[string]string{functions.DeadLetterMetadataKey: "true"}
	// The handler's context may be past its deadline; the dead letter must
	// still go out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err = out.Invoke(ctx, &bindings.InvokeRequest{
		Operation: bindings.OpCreate, Data: data,
		ContentType: functions.DeadLetterContentType, Metadata: md,
	})
	return err
}

// failureLog remembers the first failure time of failing messages, bounded so
// that messages redelivered to other replicas cannot make it grow forever.
type failureLog struct {
	mu    sync.Mutex
	max   int
	first map[string]time.Time
	size  atomic.Int64 // len(first), readable without the lock
}

func newFailureLog(max int) *failureLog {
	return &failureLog{max: max, first: make(map[string]time.Time)}
}

func (l *failureLog) record(id string, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.first[id]; ok {
		return t
	}
	if len(l.first) >= l.max {
		for k := range l.first { // evict an arbitrary entry
			delete(l.first, k)
			break
		}
	}
	l.first[id] = now
	l.size.Store(int64(len(l.first)))
	return now
}

// forget drops id. It is called for every message that succeeds, so it
// skips the lock while nothing is failing.
func (l *failureLog) forget(id string) {
	if l.size.Load() == 0 {
		return
	}
	l.mu.Lock()
	delete(l.first, id)
	l.size.Store(int64(len(l.first)))
	l.mu.Unlock()
}
