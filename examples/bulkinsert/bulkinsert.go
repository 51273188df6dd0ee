// Package bulkinsert is a batch handler: sensor readings arrive on a queue
// and are stored in PostgreSQL a batch at a time, with one multi-row INSERT
// per batch instead of one statement per reading.
//
// Each reading still succeeds or fails on its own. A reading without an id
// or a sensor is refused before the INSERT; one that the table refuses (its
// value outside the CHECK constraint's range) fails the whole statement, so
// the batch is then inserted reading by reading to find it, and only it is
// dead-lettered. A database that is down fails every reading, to be retried.
// Delivery is at-least-once: a reading stored twice is stored once (ON
// CONFLICT DO NOTHING on its id).
package bulkinsert

//go:generate go run github.com/tetherfn/tether/cmd/tether generate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tetherfn/tether/bindings/postgres"
	"github.com/tetherfn/tether/functions"
)

// Reading is one message, JSON.
type Reading struct {
	ID     string    `json:"id"`
	Sensor string    `json:"sensor"`
	Value  float64   `json:"value"`
	At     time.Time `json:"at"` // when it was measured; the message's time when absent
}

// Settings come from the environment (READINGS_TABLE).
type Settings struct {
	Table string `envconfig:"TABLE" default:"tether_example_readings"`
}

// Outputs are the bindings StoreReadings uses beyond its trigger.
type Outputs struct {
	DB       *postgres.Client `binding:"readings-db"`
	Settings Settings         `env:"READINGS"`
}

// ErrInvalid refuses a reading without an id or a sensor: no retry can fix
// it, so it is dead-lettered at once.
var ErrInvalid = errors.New("reading needs an id and a sensor")

// StoreReadings stores a batch of readings with one INSERT.
//
//tether:function store-readings trigger=readings
func StoreReadings(ctx context.Context, b *functions.Batch[Reading], out Outputs) error {
	var valid []int // the items to insert
	for i, r := range b.Items {
		if r.ID == "" || r.Sensor == "" {
			b.Fail(i, functions.Permanent(ErrInvalid))
			continue
		}
		if r.At.IsZero() {
			if d := b.Delivery(i); d != nil && d.Message != nil {
				b.Items[i].At = d.Message.Time
			}
		}
		valid = append(valid, i)
	}
	if len(valid) == 0 {
		return nil
	}
	err := insert(ctx, out, b.Items, valid)
	if err == nil || !refused(err) {
		return err // nil, or a failure of the database: every reading is retried
	}
	// One reading or more broke a constraint, and with them the statement:
	// insert one at a time, so that only those fail.
	for _, i := range valid {
		if err := insert(ctx, out, b.Items, []int{i}); refused(err) {
			b.Fail(i, functions.Permanent(err))
		} else if err != nil {
			b.Fail(i, err)
		}
	}
	return nil
}

// insert stores the readings at the given indices in one statement: the
// columns go as four arrays, which unnest turns back into rows.
func insert(ctx context.Context, out Outputs, items []Reading, indices []int) error {
	ids := make([]string, len(indices))
	sensors := make([]string, len(indices))
	values := make([]float64, len(indices))
	ats := make([]time.Time, len(indices))
	for j, i := range indices {
		ids[j], sensors[j], values[j], ats[j] = items[i].ID, items[i].Sensor, items[i].Value, items[i].At
	}
	table := pgx.Identifier{out.Settings.Table}.Sanitize()
	_, err := out.DB.Exec(ctx, `INSERT INTO `+table+` (id, sensor, value, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::timestamptz[])
ON CONFLICT (id) DO NOTHING`, ids, sensors, values, ats)
	if err != nil {
		return fmt.Errorf("insert %d readings: %w", len(indices), err)
	}
	return nil
}

// refused reports whether err is the table refusing a row (an integrity
// constraint violation, SQLSTATE class 23): retrying would fail again.
func refused(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && len(pg.Code) == 5 && pg.Code[:2] == "23"
}
