package ackbatch_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/tetherfn/tether/bindings/internal/ackbatch"
)

func TestEveryAckIsWrittenByClose(t *testing.T) {
	var mu sync.Mutex
	var written []int
	writes := 0
	w := ackbatch.New(slog.New(slog.DiscardHandler), "test", func(_ context.Context, ids []int) error {
		mu.Lock()
		defer mu.Unlock()
		writes++
		written = append(written, ids...)
		return nil
	})
	const n = 5000
	for i := range n {
		if !w.Ack(i) {
			t.Fatal("ack refused before close")
		}
	}
	w.Close()
	if w.Ack(n) {
		t.Error("ack accepted after close")
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(written)
	if len(written) != n || written[0] != 0 || written[n-1] != n-1 {
		t.Fatalf("%d ids written, want %d", len(written), n)
	}
	if writes >= n {
		t.Errorf("%d writes for %d acks: nothing was batched", writes, n)
	}
}

func TestFailedWriteDoesNotStopTheWriter(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	w := ackbatch.New(slog.New(slog.DiscardHandler), "test", func(_ context.Context, ids []string) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return errors.New("broker away")
		}
		return nil
	})
	w.Ack("a")
	w.Close() // must return even though a write failed
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 {
		t.Error("nothing written")
	}
}
