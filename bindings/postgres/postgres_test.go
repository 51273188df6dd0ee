package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/postgres"
)

func component(md map[string]string) map[string]string {
	out := map[string]string{"connectionString": connString}
	for k, v := range md {
		out[k] = v
	}
	return out
}

func openOutput(t *testing.T, md map[string]string) bindings.Output {
	t.Helper()
	out, _, err := bindings.OpenOutput(testContext(t), bindings.Config{Name: "db", Type: postgres.TypeName, Metadata: component(md)})
	if err != nil {
		t.Fatalf("open output: %v", err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

func openInput(t *testing.T, md map[string]string) bindings.Input {
	t.Helper()
	in, _, err := bindings.OpenInput(testContext(t), bindings.Config{Name: "queue", Type: "bindings.postgres", Metadata: component(md)})
	if err != nil {
		t.Fatalf("open input: %v", err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

// sqlConn is a plain connection to this run's schema, to check what the
// binding did.
func sqlConn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(testContext(t), connString)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func invoke(t *testing.T, out bindings.Output, op bindings.Operation, data string, md map[string]string) *bindings.InvokeResponse {
	t.Helper()
	resp, err := out.Invoke(testContext(t), &bindings.InvokeRequest{Operation: op, Data: []byte(data), Metadata: md})
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return resp
}

func receiveOne(t *testing.T, in bindings.Input) *bindings.Message {
	t.Helper()
	msgs, err := in.Receive(testContext(t), 1)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(msgs) != 1 {
		t.Fatalf("receive: got %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestExecAndQuery(t *testing.T) {
	out := openOutput(t, nil)
	tbl := unique("items")
	invoke(t, out, bindings.OpExec, "", map[string]string{"sql": `CREATE TABLE ` + tbl + ` (
		id bigint PRIMARY KEY, name text, price numeric, tags text[], doc jsonb, blob bytea,
		at timestamptz, ref uuid, wait interval)`})
	resp := invoke(t, out, bindings.OpExec, "", map[string]string{
		"sql":    `INSERT INTO ` + tbl + ` (id, name, price, doc, at) VALUES ($1, $2, $3, $4, $5), ($6, NULL, NULL, NULL, NULL)`,
		"params": `[9007199254740993, "pen", 1.25, {"color": "red"}, "2026-01-02T03:04:05Z", 2]`,
	})
	if resp.Metadata["rows-affected"] != "2" {
		t.Errorf("rows-affected = %q, want 2", resp.Metadata["rows-affected"])
	}
	for _, k := range []string{"operation", "sql", "start-time", "end-time", "duration"} {
		if resp.Metadata[k] == "" {
			t.Errorf("exec response lacks Dapr's %q metadata", k)
		}
	}
	invoke(t, out, bindings.OpExec, "", map[string]string{"sql": `UPDATE ` + tbl + ` SET tags = '{a,b}', blob = '\x0001ff',
		ref = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', wait = '1 day 02:00:00' WHERE id = 2`})

	got := invoke(t, out, bindings.OpQuery, "", map[string]string{"sql": `SELECT id, name, price, doc, at, tags, blob, ref, wait FROM ` + tbl + ` ORDER BY id DESC`})
	want := `[{"id":9007199254740993,"name":"pen","price":1.25,"doc":{"color":"red"},"at":"2026-01-02T03:04:05Z","tags":null,"blob":null,"ref":null,"wait":null},` +
		`{"id":2,"name":null,"price":null,"doc":null,"at":null,"tags":["a","b"],"blob":"AAH/","ref":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","wait":"1 day 02:00:00"}]`
	if string(got.Data) != want {
		t.Errorf("query rows:\n got %s\nwant %s", got.Data, want)
	}
	if got.ContentType != "application/json" {
		t.Errorf("query content type %q", got.ContentType)
	}
	empty := invoke(t, out, bindings.OpQuery, "", map[string]string{"sql": `SELECT 1 WHERE false`})
	if string(empty.Data) != "[]" {
		t.Errorf("query without rows = %s, want []", empty.Data)
	}
}

func TestStatementErrors(t *testing.T) {
	ctx := testContext(t)
	out := openOutput(t, nil)
	cases := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"no sql", map[string]string{}, `"sql"`},
		{"params not an array", map[string]string{"sql": "SELECT $1", "params": `{"a":1}`}, `"params"`},
		{"server error", map[string]string{"sql": "SELECT * FROM no_such_table"}, "no_such_table"},
	}
	for _, c := range cases {
		_, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpQuery, Metadata: c.md})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %s", c.name, err, c.want)
		}
	}
	_, err := out.Invoke(ctx, &bindings.InvokeRequest{Operation: bindings.OpExec, Metadata: map[string]string{"sql": "SELECT * FROM no_such_table"}})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P01" {
		t.Errorf("server error %v does not carry pgx's *pgconn.PgError", err)
	}
}

func TestQueueRoundTrip(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("orders")
	out := openOutput(t, map[string]string{"table": tbl})
	// The output makes the table on its first create, before any input.
	resp := invoke(t, out, bindings.OpCreate, `{"n":1}`, map[string]string{"contentType": "application/json", "partitionKey": "p1", "trace": "t-1"})
	in := openInput(t, map[string]string{"table": tbl})

	m := receiveOne(t, in)
	if m.ID != resp.Metadata["id"] || string(m.Data) != `{"n":1}` || m.ContentType != "application/json" {
		t.Errorf("message %s %q (%s), want id %s", m.ID, m.Data, m.ContentType, resp.Metadata["id"])
	}
	if m.Key != "p1" || m.Metadata["trace"] != "t-1" || m.Metadata["table"] != tbl || m.DeliveryCount != 1 || m.Time.IsZero() {
		t.Errorf("key %q, metadata %v, count %d, time %v", m.Key, m.Metadata, m.DeliveryCount, m.Time)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := in.Ack(ctx, m); !errors.Is(err, postgres.ErrSettled) {
		t.Errorf("second ack: %v, want ErrSettled", err)
	}
	// Acks are batched and written asynchronously: wait for the row to go
	// (until the test's deadline) rather than count it once right away.
	conn := sqlConn(t)
	for {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM "+tbl).Scan(&n)
		if err == nil && n == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("rows after ack: %d (%v), want 0", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNackCountsAttempts(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("retry")
	in := openInput(t, map[string]string{"table": tbl})
	out := openOutput(t, map[string]string{"table": tbl})
	invoke(t, out, bindings.OpCreate, "again", nil)
	for want := 1; want <= 3; want++ {
		m := receiveOne(t, in)
		if m.DeliveryCount != want {
			t.Fatalf("delivery %d has count %d", want, m.DeliveryCount)
		}
		if want == 3 {
			if err := in.Ack(ctx, m); err != nil {
				t.Fatal(err)
			}
			break
		}
		if err := in.Nack(ctx, m, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// A consumer that claimed a row and died: another claims it once the lease
// has run out, and the dead one can no longer touch it.
func TestExpiredLeaseIsClaimedAgain(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("orphans")
	md := map[string]string{"table": tbl, "leaseDuration": "1s"}
	dead := openInput(t, md)
	out := openOutput(t, md)
	invoke(t, out, bindings.OpCreate, "orphan", nil)
	m := receiveOne(t, dead) // never settled

	alive := openInput(t, md)
	got := receiveOne(t, alive)
	if got.ID != m.ID || got.DeliveryCount != 2 {
		t.Fatalf("claimed %s with count %d, want %s with count 2", got.ID, got.DeliveryCount, m.ID)
	}
	if err := dead.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{m}, time.Minute); !errors.Is(err, postgres.ErrLeaseLost) {
		t.Errorf("extend the lost lease: %v, want ErrLeaseLost", err)
	}
	// A nack of the lost lease must not make the row available to a third
	// consumer while alive holds it.
	if err := dead.Nack(ctx, m, 0); err != nil {
		t.Fatal(err)
	}
	var available bool
	if err := sqlConn(t).QueryRow(ctx, "SELECT available_at <= now() FROM "+tbl+" WHERE id = $1", got.ID).Scan(&available); err != nil || available {
		t.Errorf("after a stale nack the row is available: %v (%v)", available, err)
	}
	if err := alive.Ack(ctx, got); err != nil {
		t.Fatal(err)
	}
}

func TestExtendLease(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("lease")
	md := map[string]string{"table": tbl, "leaseDuration": "1s"}
	in := openInput(t, md)
	invoke(t, openOutput(t, md), bindings.OpCreate, "long", nil)
	m := receiveOne(t, in)
	if err := in.(bindings.LeaseExtender).ExtendLeases(ctx, []*bindings.Message{m}, time.Hour); err != nil {
		t.Fatal(err)
	}
	var left time.Duration
	if err := sqlConn(t).QueryRow(ctx, "SELECT available_at - now() FROM "+tbl).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left < 59*time.Minute {
		t.Errorf("lease left after extending by an hour: %v", left)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// The trigger notifies on rows written by anyone, not only by create.
func TestPlainInsertNotifies(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("plain")
	in := openInput(t, map[string]string{"table": tbl, "pollInterval": "1h"})
	listener := sqlConn(t)
	if _, err := listener.Exec(ctx, `LISTEN "tether_queue.`+tbl+`"`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlConn(t).Exec(ctx, "INSERT INTO "+tbl+" (data) VALUES ('plain')"); err != nil {
		t.Fatal(err)
	}
	if _, err := listener.WaitForNotification(ctx); err != nil {
		t.Fatalf("no notification for a plain INSERT: %v", err)
	}
	// With polling an hour apart, only the notification brings it.
	m := receiveOne(t, in)
	if string(m.Data) != "plain" || m.ContentType != "" || m.Key != "" {
		t.Errorf("message %q %q %q", m.Data, m.ContentType, m.Key)
	}
	if err := in.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestMetadataValidation(t *testing.T) {
	ctx := testContext(t)
	cases := []struct {
		md   map[string]string
		want string
	}{
		{map[string]string{"table": "bad name"}, "table"},
		{map[string]string{"table": "1st"}, "table"},
		{map[string]string{"table": strings.Repeat("t", 49)}, "table"},
		{map[string]string{"table": "a.b.c"}, "table"},
		{map[string]string{"leaseDuration": "10ms"}, "leaseDuration"},
		{map[string]string{"queryExecMode": "fast"}, "queryExecMode"},
		{map[string]string{"connectionString": "postgres://u:hunter2@[::1"}, "connectionString"},
	}
	for _, c := range cases {
		for _, dir := range []bindings.Direction{bindings.DirInput, bindings.DirOutput} {
			cfg := bindings.Config{Name: "db", Type: postgres.TypeName, Metadata: component(c.md)}
			var err error
			if dir == bindings.DirInput {
				var in bindings.Input
				if in, _, err = bindings.OpenInput(ctx, cfg); err == nil {
					in.Close()
				}
			} else {
				var out bindings.Output
				if out, _, err = bindings.OpenOutput(ctx, cfg); err == nil {
					out.Close()
				}
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s %v: err = %v, want one mentioning %s", dir, c.md, err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the connection string's password: %v", err)
			}
		}
	}
}

func TestCreateKeepsMetadataAsJSON(t *testing.T) {
	ctx := testContext(t)
	tbl := unique("meta")
	out := openOutput(t, map[string]string{"table": tbl})
	invoke(t, out, bindings.OpCreate, "x", map[string]string{"key": "k", "a": "1"})
	var key string
	var md map[string]any
	if err := sqlConn(t).QueryRow(ctx, "SELECT key, metadata FROM "+tbl).Scan(&key, &md); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(md)
	if key != "k" || string(b) != `{"a":"1","key":"k"}` {
		t.Errorf("row key %q, metadata %s", key, b)
	}
}
