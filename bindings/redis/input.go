package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/internal/ackbatch"
)

// blockFor bounds one blocking XREADGROUP. A blocked read does not see its
// context end, a nack or a due reclaim until it returns, so this is the
// longest such an event waits; an idle consumer costs one command per period.
const blockFor = time.Second

// released is the idle time given to an entry this consumer hands back (a
// nack, or Close with entries in flight): far beyond any processingTimeout,
// so that the next XAUTOCLAIM of any consumer in the group takes it.
const released = 365 * 24 * time.Hour

// touchScript sets the idle time of pending entries that this consumer still
// owns, without delivering them again (XCLAIM ... JUSTID does not count a
// delivery). An idle time of 0 renews the entry's lease; a large one
// releases the entry. Checking the owner and claiming in one script keeps
// a consumer from taking back an entry another consumer has claimed since.
// KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3] idle ms, ARGV[4:]
// ids. Returns the ids touched.
var touchScript = goredis.NewScript(`
local touched = {}
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'RETRYCOUNT', p[1][4], 'JUSTID')
    touched[#touched + 1] = ARGV[i]
  end
end
return touched
`)

// leaveScript deletes consumer ARGV[2] from group ARGV[1] if it holds no
// pending entry. KEYS[1] stream.
var leaveScript = goredis.NewScript(`
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1
`)

// reapScript deletes the group's consumers that hold no pending entries and
// have been idle at least ARGV[2] ms, except ARGV[3] (the caller). Consumers
// are named anew on every start, so without it the group would keep one per
// process that ever ran. Deleting only consumers with nothing pending, in one
// script, never drops an entry. KEYS[1] stream; ARGV[1] group.
var reapScript = goredis.NewScript(`
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) and info['name'] ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    n = n + 1
  end
end
return n
`)

// input is one consumer of a stream's consumer group.
type input struct {
	rdb    goredis.UniversalClient
	log    *slog.Logger
	stream string
	group  string
	me     string // consumer name

	processingTimeout time.Duration
	redeliverInterval time.Duration

	closed atomic.Bool

	acks *ackbatch.Writer[string]

	// receiving lets one Receive at a time talk to the server, so that
	// reclaim scans do not overlap and a blocked read holds one connection.
	receiving sync.Mutex

	mu          sync.Mutex
	inFlight    map[string]struct{} // delivered here, not settled
	nextReclaim time.Time           // when the next XAUTOCLAIM scan is due
	cursor      string              // of the scan in progress; "" between scans
}

func newInput(ctx context.Context, cfg bindings.Config) (*input, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	if s.stream == "" {
		return nil, &bindings.KeyError{Key: "stream", Msg: "is required for an input: the stream the consumer group reads"}
	}
	if s.group == "" {
		return nil, &bindings.KeyError{Key: "consumerGroup", Msg: "no group name: set it, or give the component a name"}
	}
	rdb, err := connect(ctx, cfg, s.client)
	if err != nil {
		return nil, err
	}
	in := &input{
		rdb:               rdb,
		log:               cfg.Logger.With("stream", s.stream, "group", s.group, "consumer", s.consumer),
		stream:            s.stream,
		group:             s.group,
		me:                s.consumer,
		processingTimeout: s.processingTimeout,
		redeliverInterval: s.redeliverInterval,
		inFlight:          map[string]struct{}{},
	}
	in.acks = ackbatch.New(in.log, "acknowledge entries", func(ctx context.Context, ids []string) error {
		return in.rdb.XAck(ctx, in.stream, in.group, ids...).Err()
	})
	if err := in.createGroup(ctx); err != nil {
		rdb.Close()
		return nil, err
	}
	return in, nil
}

// LeaseInterval tells the runtime how often to renew the entries this
// consumer holds: a third of processingTimeout, so that two renewals may be
// late before another consumer's reclaim scan takes them.
func (in *input) LeaseInterval() time.Duration { return in.processingTimeout / 3 }

// touchBatch is how many ids one run of touchScript takes: a script blocks
// the server while it runs.
const touchBatch = 500

// ExtendLeases renews the entries of msgs, received here and not settled
// (a handler runs, or the runtime holds them for a retry delay: Redis cannot
// delay a redelivery), by resetting their idle time, touchBatch ids per
// XCLAIM script. So the entries of a live consumer are never claimed by
// another; those of a consumer that died are, processingTimeout after the
// last renewal. d is not used: an entry's lease is processingTimeout from its
// last renewal.
func (in *input) ExtendLeases(ctx context.Context, msgs []*bindings.Message, _ time.Duration) error {
	var errs []error
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if err := in.owned(m, "extend lease"); err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, m.ID)
	}
	for start := 0; start < len(ids); start += touchBatch {
		part := ids[start:min(start+touchBatch, len(ids))]
		touched, err := in.touch(ctx, 0, part...)
		if err != nil {
			errs = append(errs, in.errorf(fmt.Sprintf("renew %d entries", len(part)), err))
			continue
		}
		if len(touched) < len(part) {
			kept := make(map[string]bool, len(touched))
			for _, id := range touched {
				kept[id] = true
			}
			for _, id := range part {
				if !kept[id] {
					errs = append(errs, in.errorf("renew "+id, ErrClaimed))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ErrClaimed: another consumer of the group claimed the entry (this one's
// renewals came too late); it will handle it too.
var ErrClaimed = errors.New("entry claimed by another consumer")

// createGroup makes the consumer group, and the stream if need be. A new group
// starts at the stream's first entry, so that entries written before the
// first consumer started are not skipped.
func (in *input) createGroup(ctx context.Context) error {
	err := in.rdb.XGroupCreateMkStream(ctx, in.stream, in.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %q of stream %q: %w", in.group, in.stream, err)
	}
	return nil
}

// Receive returns entries this consumer must handle, in this order of
// preference: entries pending longer than processingTimeout (their consumer
// died, or they were nacked) when a reclaim scan is due, then new entries.
func (in *input) Receive(ctx context.Context, limit int) ([]*bindings.Message, error) {
	limit = max(limit, 1)
	in.receiving.Lock()
	defer in.receiving.Unlock()
	for {
		if in.closed.Load() {
			return nil, in.errorf("receive", bindings.ErrClosed)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, err := in.reclaim(ctx, limit)
		if err == nil && len(msgs) == 0 {
			msgs, err = in.readNew(ctx, limit)
		}
		if err != nil {
			if in.closed.Load() {
				return nil, in.errorf("receive", bindings.ErrClosed)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, in.errorf("receive", err)
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
	}
}

// reclaim runs one step of the XAUTOCLAIM scan when one is due: it claims
// entries idle for at least processingTimeout, whoever holds them.
func (in *input) reclaim(ctx context.Context, limit int) ([]*bindings.Message, error) {
	in.mu.Lock()
	due := in.cursor != "" || !time.Now().Before(in.nextReclaim)
	start := in.cursor
	in.mu.Unlock()
	if !due {
		return nil, nil
	}
	if start == "" {
		start = "0-0"
	}
	entries, next, err := in.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
		Stream: in.stream, Group: in.group, Consumer: in.me,
		MinIdle: in.processingTimeout, Start: start, Count: int64(limit),
	}).Result()
	if err != nil {
		if isNoGroup(err) {
			return nil, in.createGroup(ctx)
		}
		return nil, fmt.Errorf("XAUTOCLAIM: %w", err)
	}
	scanDone := next == "0-0" || next == ""
	in.mu.Lock()
	if scanDone {
		in.cursor = ""
		in.nextReclaim = time.Now().Add(in.redeliverInterval)
	} else {
		in.cursor = next
	}
	// An entry we hold may be claimed back to us when a renewal came late:
	// it is ours already.
	fresh := entries[:0]
	for _, e := range entries {
		if _, mine := in.inFlight[e.ID]; !mine {
			fresh = append(fresh, e)
		}
	}
	in.mu.Unlock()
	if scanDone {
		in.reap(ctx)
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	counts, err := in.deliveryCounts(ctx, fresh)
	if err != nil {
		// The entries are ours now; give them back rather than strand them
		// until the next scan.
		in.release(context.WithoutCancel(ctx), ids(fresh))
		return nil, err
	}
	return in.deliver(fresh, counts), nil
}

// deliveryCounts reads each entry's delivery count from the pending list, in
// one round trip.
func (in *input) deliveryCounts(ctx context.Context, entries []goredis.XMessage) ([]int, error) {
	cmds := make([]*goredis.XPendingExtCmd, len(entries))
	_, err := in.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, e := range entries {
			cmds[i] = p.XPendingExt(ctx, &goredis.XPendingExtArgs{
				Stream: in.stream, Group: in.group, Start: e.ID, End: e.ID, Count: 1, Consumer: in.me,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("XPENDING: %w", err)
	}
	counts := make([]int, len(entries))
	for i, c := range cmds {
		counts[i] = 1
		if p := c.Val(); len(p) == 1 {
			counts[i] = int(p[0].RetryCount)
		}
	}
	return counts, nil
}

// readNew reads entries never delivered to the group, blocking up to
// blockFor.
func (in *input) readNew(ctx context.Context, limit int) ([]*bindings.Message, error) {
	res, err := in.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: in.group, Consumer: in.me, Streams: []string{in.stream, ">"},
		Count: int64(limit), Block: blockFor,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		if isNoGroup(err) {
			// The stream or group was deleted (or the server lost them);
			// make them again and read on.
			return nil, in.createGroup(ctx)
		}
		return nil, fmt.Errorf("XREADGROUP: %w", err)
	}
	var entries []goredis.XMessage
	if len(res) > 0 { // the one stream read
		entries = res[0].Messages
	}
	if len(entries) == 0 {
		return nil, nil
	}
	if ctx.Err() != nil || in.closed.Load() {
		// Too late to hand them out: give them back to the group at once
		// instead of leaving them pending for processingTimeout.
		in.release(context.WithoutCancel(ctx), ids(entries))
		return nil, nil
	}
	return in.deliver(entries, nil), nil // ">" reads only entries never delivered before
}

// deliver makes the messages of entries, delivered counts[i] times each (nil:
// once, for the first time).
func (in *input) deliver(entries []goredis.XMessage, counts []int) []*bindings.Message {
	msgs := make([]*bindings.Message, len(entries))
	backing := make([]entry, len(entries)) // one allocation per batch
	in.mu.Lock()
	for i, e := range entries {
		in.inFlight[e.ID] = struct{}{}
		msgs[i] = &backing[i].msg
		count := 1
		if counts != nil {
			count = counts[i]
		}
		in.fill(&backing[i], e, count)
	}
	in.mu.Unlock()
	return msgs
}

// entry is a received entry's message, its Handle: the message's metadata
// is built from the entry's fields when something reads it
// (bindings.LazyMetadata), most handlers taking the payload alone.
type entry struct {
	msg    bindings.Message
	in     *input
	values map[string]any // the entry's fields; nil once the metadata is built
	once   sync.Once
	md     map[string]string
}

// Metadata implements bindings.LazyMetadata: the entry's fields but "data"
// and "contentType", and "stream". An entry with no "data" field has
// "stream" alone (its fields are the payload).
func (e *entry) Metadata() map[string]string {
	e.once.Do(func() {
		md := make(map[string]string, len(e.values)+1)
		if _, ok := e.values[fieldData]; ok {
			for k, v := range e.values {
				if k != fieldData && k != fieldContentType {
					md[k] = toString(v)
				}
			}
		}
		md["stream"] = e.in.stream
		e.md, e.values = md, nil
	})
	return e.md
}

// fill makes en's message that of an entry: fields "data" and "contentType"
// are the payload and its type, every other field a metadata key (built on
// first read). An entry with no "data" field, from another producer, becomes
// a JSON object of its fields.
func (in *input) fill(en *entry, e goredis.XMessage, count int) {
	en.in, en.values = in, e.Values
	m := &en.msg
	*m = bindings.Message{
		ID:            e.ID,
		DeliveryCount: count,
		Time:          entryTime(e.ID),
		Handle:        en,
	}
	if data, ok := e.Values[fieldData]; ok {
		m.Data = []byte(toString(data))
		if ct, ok := e.Values[fieldContentType]; ok {
			m.ContentType = toString(ct)
		}
		if k, ok := e.Values["partitionKey"]; ok {
			m.Key = toString(k)
		}
	} else {
		fields := make(map[string]string, len(e.Values))
		for k, v := range e.Values {
			fields[k] = toString(v)
		}
		m.Data, _ = json.Marshal(fields) // a map of strings always encodes
		m.ContentType = "application/json"
	}
}

// Ack acknowledges the entry (XACK), so the group does not deliver it again.
// It queues the id and returns: a writer sends the ids queued meanwhile as one
// XACK, at once. If that write fails the entry stays pending and is
// delivered again, as it would be had the handler's process died.
func (in *input) Ack(_ context.Context, m *bindings.Message) error {
	if err := in.settle(m, "ack"); err != nil {
		return err
	}
	if !in.acks.Ack(m.ID) {
		return in.errorf("ack "+m.ID, bindings.ErrClosed)
	}
	return nil
}

// AckBatch implements bindings.BatchAcker: Ack for each of msgs, queued
// for the writer at once.
func (in *input) AckBatch(_ context.Context, msgs []*bindings.Message) error {
	var errs []error
	ids := make([]string, 0, len(msgs))
	in.mu.Lock()
	for _, m := range msgs {
		if err := in.owned(m, "ack"); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := in.inFlight[m.ID]; !ok {
			errs = append(errs, in.errorf("ack "+m.ID, ErrSettled))
			continue
		}
		delete(in.inFlight, m.ID)
		ids = append(ids, m.ID)
	}
	in.mu.Unlock()
	if len(ids) > 0 && !in.acks.AckAll(ids...) {
		errs = append(errs, in.errorf(fmt.Sprintf("ack %d entries", len(ids)), bindings.ErrClosed))
	}
	return errors.Join(errs...)
}

// Nack hands the entry back: it stays pending, its idle time is set so that
// the next reclaim scan of any consumer claims it (this one scans at its next
// Receive), and that claim counts the delivery. Redis streams cannot delay a
// redelivery (DelayedNack is false): the runtime holds a message for its retry
// delay itself, and renews it meanwhile (ExtendLeases).
func (in *input) Nack(ctx context.Context, m *bindings.Message, _ time.Duration) error {
	if err := in.settle(m, "nack"); err != nil {
		return err
	}
	if _, err := in.touch(ctx, released, m.ID); err != nil {
		return in.errorf("nack "+m.ID, err)
	}
	in.mu.Lock()
	in.nextReclaim = time.Time{}
	in.mu.Unlock()
	return nil
}

// ErrSettled: the message was already acked or nacked here.
var ErrSettled = errors.New("message already settled")

// Close stops receiving. Entries still in flight are released to the group
// for any consumer's next reclaim scan; the consumer is removed from the
// group when it holds nothing.
func (in *input) Close() error {
	if !in.closed.CompareAndSwap(false, true) {
		return nil
	}
	in.acks.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in.mu.Lock()
	var left []string
	for id := range in.inFlight {
		left = append(left, id)
	}
	in.mu.Unlock()
	var errs []error
	if len(left) > 0 {
		if _, err := in.touch(ctx, released, left...); err != nil {
			errs = append(errs, fmt.Errorf("release %d entries in flight: %w", len(left), err))
		}
	}
	// Wait for a Receive blocked in XREADGROUP, so that the consumer is not
	// recreated by it after its removal.
	in.receiving.Lock()
	defer in.receiving.Unlock()
	if err := leaveScript.Run(ctx, in.rdb, []string{in.stream}, in.group, in.me).Err(); err != nil {
		// Only tidiness is lost: another consumer's scan removes it later.
		in.log.Debug("remove consumer from group", "err", err)
	}
	if err := in.rdb.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return in.errorf("close", err)
	}
	return nil
}

// reap removes consumers of the group that died with nothing pending.
func (in *input) reap(ctx context.Context) {
	idle := max(in.processingTimeout, time.Minute)
	if err := reapScript.Run(ctx, in.rdb, []string{in.stream}, in.group, idle.Milliseconds(), in.me).Err(); err != nil {
		in.log.Debug("remove dead consumers", "err", err)
	}
}

// release gives entries back to the group for the next reclaim scan.
func (in *input) release(ctx context.Context, ids []string) {
	if _, err := in.touch(ctx, released, ids...); err != nil {
		in.log.Warn("give back entries; they are redelivered after processingTimeout", "ids", ids, "err", err)
	}
	in.mu.Lock()
	in.nextReclaim = time.Time{}
	in.mu.Unlock()
}

func (in *input) touch(ctx context.Context, idle time.Duration, ids ...string) ([]string, error) {
	args := make([]any, 0, 3+len(ids))
	args = append(args, in.group, in.me, idle.Milliseconds())
	for _, id := range ids {
		args = append(args, id)
	}
	return touchScript.Run(ctx, in.rdb, []string{in.stream}, args...).StringSlice()
}

// settle takes m out of flight for an ack or a nack.
func (in *input) settle(m *bindings.Message, op string) error {
	if err := in.owned(m, op); err != nil {
		return err
	}
	in.mu.Lock()
	_, ok := in.inFlight[m.ID]
	delete(in.inFlight, m.ID)
	in.mu.Unlock()
	if !ok {
		return in.errorf(op+" "+m.ID, ErrSettled)
	}
	return nil
}

func (in *input) owned(m *bindings.Message, op string) error {
	if m == nil {
		return in.errorf(op, errors.New("nil message"))
	}
	if e, ok := m.Handle.(*entry); !ok || e.in != in {
		return in.errorf(op+" "+m.ID, errors.New("message was not received from this input"))
	}
	return nil
}

func (in *input) errorf(op string, err error) error {
	return fmt.Errorf("redis stream %q group %q: %s: %w", in.stream, in.group, op, err)
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

func ids(entries []goredis.XMessage) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.ID
	}
	return out
}

// entryTime reads the milliseconds an entry id starts with: when the server
// added it.
func entryTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Healthy implements bindings.HealthChecker: one PING, so that /readyz
// answers not ready while Redis cannot be reached.
func (in *input) Healthy(ctx context.Context) error {
	if err := in.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	return nil
}
