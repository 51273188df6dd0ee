package bulkinsert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/memory"
	"github.com/tetherfn/tether/examples/bulkinsert"
	"github.com/tetherfn/tether/functions"
	"github.com/tetherfn/tether/functions/fntest"
)

// TestEndToEnd runs the generated function on the runtime with the
// example's own components (batches of up to 100 from the memory queue) and
// the machine's PostgreSQL: every good reading is stored, and only the
// invalid ones and those out of range are dead-lettered, each on its own.
func TestEndToEnd(t *testing.T) {
	for _, q := range []string{"readings", "readings-dead"} {
		memory.Reset(q)
	}
	db, name := table(t)
	fntest.Start(t, []string{"components"}, bulkinsert.StoreReadingsFunction())

	const n = 250
	var msgs []*bindings.Message
	var want []string
	bad := map[string]bool{}
	for i := range n {
		r := bulkinsert.Reading{ID: fmt.Sprintf("r-%03d", i), Sensor: "s-1", Value: float64(i % 100)}
		switch {
		case i%50 == 7:
			r.Sensor = "" // invalid
			bad[r.ID] = true
		case i%50 == 13:
			r.Value = 1000 // out of range
			bad[r.ID] = true
		default:
			want = append(want, r.ID)
		}
		data, _ := json.Marshal(r)
		msgs = append(msgs, &bindings.Message{ID: r.ID, Data: data, ContentType: "application/json"})
	}
	memory.Publish("readings", msgs...)

	for _, m := range fntest.Receive(t, "readings-dead", len(bad)) {
		var env functions.DeadLetter
		if err := json.Unmarshal(m.Data, &env); err != nil {
			t.Fatal(err)
		}
		if !bad[env.MessageID] || !env.Permanent || env.Function != "store-readings" {
			t.Errorf("dead letter %+v", env)
		}
	}
	// The good readings were stored by the time the bad ones were
	// dead-lettered only if they shared their batches: wait for them.
	ctx, cancel := context.WithTimeout(context.Background(), fntest.ReceiveTimeout)
	defer cancel()
	for {
		var count int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+name).Scan(&count); err != nil {
			t.Fatalf("%d of %d readings stored: %v", count, len(want), err)
		}
		if count >= len(want) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d readings stored after %s", count, len(want), fntest.ReceiveTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if got := stored(t, db, name); !slices.Equal(got, want) {
		t.Errorf("stored %d readings, want %d: %v", len(got), len(want), got)
	}
}
