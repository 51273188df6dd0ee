package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DroppedHeader, on a batch of delivery events POSTed to tether dev, counts
// the events the function process dropped since its last batch got through.
const DroppedHeader = "Tether-Dropped"

// devEvents is the Observer of a function process run by tether dev
// (Settings.DevEvents): it POSTs the events, as JSON lines, to tether dev in
// batches. Observe never waits: when its buffer is full the event is
// dropped and counted, and the count goes to tether dev with the next batch.
type devEvents struct {
	url     string
	client  *http.Client
	logger  *slog.Logger
	pid     int
	ch      chan DeliveryEvent
	dropped atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	warn    sync.Once
}

// devEventsBuffer is how many events wait for the sender at most.
const devEventsBuffer = 4096

func newDevEvents(url string, logger *slog.Logger) *devEvents {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &devEvents{url: url, client: &http.Client{Timeout: 5 * time.Second}, logger: logger, pid: os.Getpid(),
		ch: make(chan DeliveryEvent, devEventsBuffer), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *devEvents) Observe(ev DeliveryEvent) {
	ev.PID = d.pid
	select {
	case d.ch <- ev:
	default:
		d.dropped.Add(1)
	}
}

func (d *devEvents) run() {
	defer close(d.done)
	var batch []DeliveryEvent
	for {
		select {
		case ev := <-d.ch:
			batch = append(batch[:0], ev)
		case <-d.stop:
			// What the drain produced is in the buffer: send it all, and
			// the count of what was dropped.
			for {
				if batch = d.take(batch[:0]); len(batch) == 0 {
					break
				}
				d.post(batch)
			}
			if d.dropped.Load() > 0 {
				d.post(nil)
			}
			return
		}
		d.post(d.take(batch))
	}
}

// take appends to batch what waits in the buffer, up to 512 events.
func (d *devEvents) take(batch []DeliveryEvent) []DeliveryEvent {
	for len(batch) < 512 {
		select {
		case ev := <-d.ch:
			batch = append(batch, ev)
		default:
			return batch
		}
	}
	return batch
}

func (d *devEvents) post(batch []DeliveryEvent) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, ev := range batch {
		_ = enc.Encode(ev) // plain values: cannot fail
	}
	dropped := d.dropped.Swap(0)
	err := d.send(&body, dropped)
	if err != nil {
		d.dropped.Add(dropped + int64(len(batch)))
		d.warn.Do(func() {
			d.logger.Warn("delivery events cannot reach tether dev; dropping them", "url", d.url, "error", err)
		})
	}
}

func (d *devEvents) send(body *bytes.Buffer, dropped int64) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, d.url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	if dropped > 0 {
		req.Header.Set(DroppedHeader, strconv.FormatInt(dropped, 10))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", d.url, resp.Status)
	}
	return nil
}

// Close sends what is buffered and stops, waiting for the last batch up to
// timeout.
func (d *devEvents) Close(timeout time.Duration) {
	close(d.stop)
	select {
	case <-d.done:
	case <-time.After(timeout):
	}
}
