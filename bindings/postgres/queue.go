package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// table is a queue table's name and the SQL that works on it.
type table struct {
	name    string         // as configured: "jobs" or "app.jobs"
	ident   pgx.Identifier // quoted parts
	channel string         // the LISTEN/NOTIFY channel

	claim, release, extend, ack, nack, next, insert string
}

var identPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,47}$`)

// parseTable checks a table name, one or two parts of letters, digits, "_"
// and "-" (so that names go into DDL and channel names without any escaping
// question), each at most 48 long (so that the index and function named after
// the table stay within PostgreSQL's 63 and never collide), and prepares the
// queue's statements.
func parseTable(name string) (table, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return table{}, fmt.Errorf("%q: want name or schema.name", name)
	}
	for _, p := range parts {
		if !identPart.MatchString(p) {
			return table{}, fmt.Errorf("%q: each part must be 1 to 48 letters, digits, _ or -, starting with a letter or _", name)
		}
	}
	t := table{name: name, ident: pgx.Identifier(parts)}
	t.channel = "tether_queue." + name
	if len(t.channel) > 63 { // NAMEDATALEN-1: longer channel names are refused
		sum := sha256.Sum256([]byte(name))
		t.channel = "tether_queue." + hex.EncodeToString(sum[:12])
	}
	q := t.ident.Sanitize()
	// Rows are claimed oldest deadline first: an expired lease or a nack
	// whose delay passed goes before newer rows, and the (available_at, id)
	// index serves both this and the next-deadline query.
	t.claim = `WITH next AS (
	SELECT id FROM ` + q + ` WHERE available_at <= now()
	ORDER BY available_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE ` + q + ` AS q SET available_at = now() + $2::bigint * interval '1 millisecond', attempts = q.attempts + 1
FROM next WHERE q.id = next.id
RETURNING q.id, q.key, q.data, q.content_type, q.metadata, q.attempts, q.created_at`
	// A lease is (id, attempts): every claim counts an attempt, so a
	// consumer whose lease ran out and was claimed again cannot move the row.
	t.release = `UPDATE ` + q + ` AS q SET available_at = now() + $3::bigint * interval '1 millisecond'
FROM unnest($1::bigint[], $2::integer[]) AS l(id, attempts)
WHERE q.id = l.id AND q.attempts = l.attempts`
	t.extend = t.release + ` RETURNING q.id`
	t.nack = `UPDATE ` + q + ` SET available_at = now() + $3::bigint * interval '1 millisecond' WHERE id = $1 AND attempts = $2`
	t.ack = `DELETE FROM ` + q + ` WHERE id = ANY($1::bigint[])`
	t.next = `SELECT (extract(epoch FROM min(available_at) - now()) * 1000)::bigint FROM ` + q
	t.insert = `INSERT INTO ` + q + ` (key, data, content_type, metadata) VALUES ($1, $2, $3, $4) RETURNING id`
	return t, nil
}

// parts returns the parts of the table's name: schema ("" for the
// search path's first) and relation.
func (t table) parts() (schema, rel string) {
	if len(t.ident) == 2 {
		return t.ident[0], t.ident[1]
	}
	return "", t.ident[0]
}

// ensure creates the table, its index, and the trigger that notifies
// consumers, when any is missing. It changes nothing when all exist, so a
// role without CREATE rights works with a table made beforehand.
func (t table) ensure(ctx context.Context, pool *pgxpool.Pool) error {
	const triggerName = "tether_notify"
	var exists bool
	err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = $2)`,
		t.ident.Sanitize(), triggerName).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look for queue table %s: %w", t.name, err)
	}
	if exists {
		return nil
	}
	schema, rel := t.parts()
	fn := pgx.Identifier{rel + "_tether_notify"}
	if schema != "" {
		fn = pgx.Identifier{schema, rel + "_tether_notify"}
	}
	q := t.ident.Sanitize()
	// The trigger fires for rows that are available now: new rows, and
	// rows nacked without delay or given back by a closing consumer. Claims
	// push available_at into the future and send nothing. NOTIFY folds
	// identical notifications of one transaction into one.
	ddl := []string{
		`CREATE TABLE IF NOT EXISTS ` + q + ` (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	key text NOT NULL DEFAULT '',
	data bytea NOT NULL,
	content_type text NOT NULL DEFAULT '',
	metadata jsonb NOT NULL DEFAULT '{}',
	attempts integer NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	available_at timestamptz NOT NULL DEFAULT now()
)`,
		`CREATE INDEX IF NOT EXISTS ` + pgx.Identifier{rel + "_available_idx"}.Sanitize() + ` ON ` + q + ` (available_at, id)`,
		`CREATE OR REPLACE FUNCTION ` + fn.Sanitize() + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('` + t.channel + `', '');
	RETURN NULL;
END
$$`,
		`DROP TRIGGER IF EXISTS ` + triggerName + ` ON ` + q,
		`CREATE TRIGGER ` + triggerName + ` AFTER INSERT OR UPDATE OF available_at ON ` + q + `
	FOR EACH ROW WHEN (NEW.available_at <= now()) EXECUTE FUNCTION ` + fn.Sanitize() + `()`,
	}
	// Consumers starting together would race on the DDL (CREATE OR REPLACE
	// FUNCTION fails with "tuple concurrently updated"): one at a time.
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "tether_queue:"+t.name); err != nil {
			return err
		}
		for _, stmt := range ddl {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create queue table %s: %w", t.name, err)
	}
	return nil
}

// isUndefinedTable reports whether err is PostgreSQL's undefined_table.
func isUndefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

// CountQuery is the SQL that counts the messages of the queue table name
// that wait for a consumer or are being handled: every row, since a row is
// deleted when its message is acked. tether deploy gives it to KEDA's
// postgresql scaler, so the queue's schema stays in this package.
func CountQuery(name string) (string, error) {
	t, err := parseTable(name)
	if err != nil {
		return "", err
	}
	return `SELECT count(*) FROM ` + t.ident.Sanitize(), nil
}
