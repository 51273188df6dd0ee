package kafka

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherfn/tether/bindings"
)

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

// partition is the input's state of one partition it owns: records polled
// and not yet handed out, and the window of records handed out since the
// commit point. All fields are guarded by input.mu.
//
// The window is what makes commits safe: it lists, in offset order, every
// record handed out that cannot be committed yet because it, or a record
// before it, is unsettled. An ack marks its slot done; done slots at the front
// are dropped and the commit point moves past them. A failing record stays at
// the front until it is acked (after dead-lettering, say), holding the commit
// point, while the records after it are handed out, acked and kept as done
// slots: a restart redelivers the failing record, never skips it.
type partition struct {
	topicPartition
	key     string // Message.Key: "<topic>/<partition>"
	partStr string // the partition number, for message metadata

	queue []*kgo.Record // polled, not handed out yet, in offset order

	window []slot // handed out since the commit point, in offset order
	slots  []slot // window's whole backing array, reused as the front empties
	base   uint64 // sequence number of window[0]
	next   uint64 // sequence number of the next slot

	// The last record that left the window: the commit point is just after
	// it when the window is empty.
	popped      bool
	poppedOff   int64
	poppedEpoch int32

	outstanding int         // handed out and neither acked nor nacked
	retries     []*delivery // nacked, waiting to be handed out again, by offset

	paused  bool // fetching stopped: too much queued or in the window
	dirty   bool // the commit point moved and is not marked for kgo yet
	revoked bool // no longer ours: acks are ignored, nothing is handed out

	seed seed // from the commit metadata of the previous owner
}

// slot is one handed-out record in a partition's window.
type slot struct {
	offset int64
	epoch  int32
	d      *delivery // nil once done (acked, or skipped as acked before)
}

// delivery is the driver's state of one handed-out record: Message.Handle.
// Its fields are packed: the input allocates one per record it hands out.
type delivery struct {
	p     *partition
	seq   uint64 // its slot's sequence number
	rec   *kgo.Record
	msg   *bindings.Message // the Message of the latest delivery
	first bindings.Message  // the first delivery's, allocated with it
	due   int64             // when nacked: when it may be handed out again (monoNow)
	count int32             // deliveries so far
	state uint8             // stateOut, stateRetry or stateDone

	escape bool                              // settings.escapeHeaders, for Metadata
	md     atomic.Pointer[map[string]string] // built on first use: see Metadata
}

func newPartition(tp topicPartition) *partition {
	n := itoa32(tp.partition)
	return &partition{topicPartition: tp, key: tp.topic + "/" + n, partStr: n}
}

// push adds a handed-out record to the window.
func (p *partition) push(d *delivery) {
	d.p = p
	d.seq = p.next
	p.appendSlot(slot{offset: d.rec.Offset, epoch: d.rec.LeaderEpoch, d: d})
}

// pushDone adds a record that needs no handling (acked by a previous owner).
func (p *partition) pushDone(r *kgo.Record) {
	p.appendSlot(slot{offset: r.Offset, epoch: r.LeaderEpoch})
}

// appendSlot appends s to the window. advance drops slots from the
// window's front, which append alone would never use again: while half of
// the backing array or more is free, the window moves back to its start
// instead of growing into a new one (a copy per window's length of pushes,
// where growing cost an allocation and a copy as often).
func (p *partition) appendSlot(s slot) {
	p.next++
	if n := len(p.window); n == cap(p.window) {
		if cap(p.slots) > 0 && n <= cap(p.slots)/2 {
			copy(p.slots, p.window)
			clear(p.slots[n:]) // the moved slots' old places
			p.window = p.slots[:n]
		} else {
			p.window = slices.Grow(p.window, max(n, 32))
			p.slots = p.window[:cap(p.window)]
		}
	}
	p.window = append(p.window, s)
}

// done marks d's slot done and drops done slots from the front. It reports
// whether the commit point moved.
func (p *partition) done(d *delivery) bool {
	i := d.seq - p.base
	if i >= uint64(len(p.window)) || p.window[i].d != d {
		return false
	}
	p.window[i].d = nil
	return p.advance()
}

func (p *partition) advance() bool {
	n := 0
	for n < len(p.window) && p.window[n].d == nil {
		n++
	}
	if n == 0 {
		return false
	}
	last := p.window[n-1]
	p.popped, p.poppedOff, p.poppedEpoch = true, last.offset, last.epoch
	clear(p.window[:n]) // let the deliveries go
	p.window = p.window[n:]
	p.base += uint64(n)
	return true
}

// commitPoint is the offset a commit may name now: that of the first
// unsettled record handed out, or just past the last record that left the
// window. ok is false when nothing was handed out yet.
func (p *partition) commitPoint() (eo kgo.EpochOffset, ok bool) {
	if len(p.window) > 0 {
		return kgo.EpochOffset{Epoch: p.window[0].epoch, Offset: p.window[0].offset}, true
	}
	if p.popped {
		return kgo.EpochOffset{Epoch: p.poppedEpoch, Offset: p.poppedOff + 1}, true
	}
	return kgo.EpochOffset{}, false
}

// mark is the commit point after records left the window: just past the last
// of them, with its leader epoch, as kgo.MarkCommitRecords would.
func (p *partition) mark() kgo.EpochOffset {
	return kgo.EpochOffset{Epoch: p.poppedEpoch, Offset: p.poppedOff + 1}
}

// addRetry keeps d for redelivery, in offset order.
func (p *partition) addRetry(d *delivery) {
	i, _ := slices.BinarySearchFunc(p.retries, d.rec.Offset, func(x *delivery, off int64) int {
		switch {
		case x.rec.Offset < off:
			return -1
		case x.rec.Offset > off:
			return 1
		}
		return 0
	})
	p.retries = slices.Insert(p.retries, i, d)
}

// The commit metadata carries what the offset alone cannot: which records
// after the committed offset were already acked (so the next owner skips
// them instead of handling them twice) and how often the unsettled ones were
// delivered (so DeliveryCount goes on counting). It is a hint: a record it
// does not mention is delivered, counted from 1.
//
//	tether/1;d=12:2,13:1;a=14-20,22
const (
	metaPrefix = "tether/1"
	// metaLimit stays under Kafka's default offset.metadata.max.bytes
	// (4096); what does not fit is left out.
	metaLimit = 3500
)

// seed is a partition's commit metadata as read back.
type seed struct {
	deliveries map[int64]int
	acked      []offsetRange // sorted, disjoint
}

type offsetRange struct{ from, to int64 } // inclusive

func (s seed) ackedAt(off int64) bool {
	_, found := slices.BinarySearchFunc(s.acked, off, func(r offsetRange, off int64) int {
		switch {
		case r.to < off:
			return -1
		case r.from > off:
			return 1
		}
		return 0
	})
	return found
}

// commitMetadata describes the window from offset from on.
func (p *partition) commitMetadata(from int64) string {
	var b strings.Builder
	b.WriteString(metaPrefix)
	var d []string
	var acked []offsetRange
	if p.popped && p.poppedOff >= from {
		acked = append(acked, offsetRange{from, p.poppedOff})
	}
	for _, s := range p.window {
		if s.offset < from {
			continue
		}
		if s.d == nil {
			if n := len(acked); n > 0 && acked[n-1].to == s.offset-1 {
				acked[n-1].to = s.offset
			} else {
				acked = append(acked, offsetRange{s.offset, s.offset})
			}
			continue
		}
		d = append(d, strconv.FormatInt(s.offset, 10)+":"+strconv.Itoa(int(s.d.count)))
	}
	if len(d) > 0 {
		b.WriteString(";d=")
		writeLimited(&b, d)
	}
	if len(acked) > 0 {
		a := make([]string, len(acked))
		for i, r := range acked {
			if r.from == r.to {
				a[i] = strconv.FormatInt(r.from, 10)
			} else {
				a[i] = strconv.FormatInt(r.from, 10) + "-" + strconv.FormatInt(r.to, 10)
			}
		}
		b.WriteString(";a=")
		writeLimited(&b, a)
	}
	return b.String()
}

func writeLimited(b *strings.Builder, items []string) {
	for i, it := range items {
		if b.Len()+len(it)+1 > metaLimit {
			return
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(it)
	}
}

// parseSeed reads commit metadata written by commitMetadata; other metadata
// (kgo writes its member id) gives an empty seed.
func parseSeed(md string, committed int64) (seed, error) {
	var s seed
	rest, ok := strings.CutPrefix(md, metaPrefix)
	if !ok {
		return s, nil
	}
	for _, part := range strings.Split(rest, ";") {
		if part == "" {
			continue
		}
		name, list, _ := strings.Cut(part, "=")
		for _, item := range strings.Split(list, ",") {
			if item == "" {
				continue
			}
			switch name {
			case "d":
				off, n, ok := strings.Cut(item, ":")
				o, err1 := strconv.ParseInt(off, 10, 64)
				c, err2 := strconv.Atoi(n)
				if !ok || err1 != nil || err2 != nil || c < 0 {
					return seed{}, fmt.Errorf("bad delivery count %q", item)
				}
				if o >= committed {
					if s.deliveries == nil {
						s.deliveries = map[int64]int{}
					}
					s.deliveries[o] = c
				}
			case "a":
				from, to, isRange := strings.Cut(item, "-")
				f, err1 := strconv.ParseInt(from, 10, 64)
				t, err2 := f, error(nil)
				if isRange {
					t, err2 = strconv.ParseInt(to, 10, 64)
				}
				if err1 != nil || err2 != nil || t < f {
					return seed{}, fmt.Errorf("bad acked range %q", item)
				}
				if t >= committed {
					s.acked = append(s.acked, offsetRange{max(f, committed), t})
				}
			}
		}
	}
	slices.SortFunc(s.acked, func(a, b offsetRange) int { return cmp.Compare(a.from, b.from) })
	return s, nil
}
