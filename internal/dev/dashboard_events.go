package dev

import (
	"sync"

	"github.com/tetherfn/tether/trigger"
)

// edgeCounts counts, from the delivery events, what went along each edge
// of the Flow page since tether dev started, across reloads: messages
// received by each function from its trigger, sent to each output, and
// dead-lettered. One counter per edge, however many events pass.
type edgeCounts struct {
	once sync.Once
	mu   sync.Mutex
	n    map[string]float64 // by edge id, as layout names them
}

// edgeCount is the count of edge id (layout's "b:in>f:fn", "f:fn>b:out";
// "dead:f:fn>b:dl" for the messages dead-lettered).
func (s *server) edgeCount(id string) float64 {
	c := &s.edgeCounts
	c.once.Do(func() {
		c.n = map[string]float64{}
		go s.countEdges()
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// countEdges follows the event ring from its oldest event until tether dev
// stops.
func (s *server) countEdges() {
	c := &s.edgeCounts
	var after uint64
	for {
		evs, _, _, _, more := s.events.since(after, 1000)
		c.mu.Lock()
		for i := range evs {
			ev := &evs[i]
			after = ev.Seq
			if ev.Function == "" {
				continue
			}
			switch {
			case ev.Kind == trigger.EventReceived:
				c.n["b:"+ev.Binding+">f:"+ev.Function]++
			case ev.Kind == trigger.EventOutput && ev.Outcome == "ok":
				c.n["f:"+ev.Function+">b:"+ev.Output]++
			case ev.Kind == trigger.EventDeadLettered:
				// Its envelope's write is an output too: counted apart.
				c.n["dead:f:"+ev.Function+">b:"+ev.Output]++
			}
		}
		c.mu.Unlock()
		if len(evs) == 1000 {
			continue
		}
		select {
		case <-more:
		case <-s.ctx.Done():
			return
		}
	}
}
