// Package postgres is Tether's PostgreSQL binding, type "bindings.postgresql"
// (also "bindings.postgres").
//
// The output has Dapr's operations: exec and query run the SQL in the
// request's "sql" metadata with the JSON array in "params" as $1, $2...; query
// answers the rows as a JSON array of objects. Its create operation adds a
// message to a queue table.
//
// The input, which Dapr does not have, consumes that queue table at least
// once: a consumer claims rows with SELECT ... FOR UPDATE SKIP LOCKED by
// setting a lease deadline and counting the attempt, in one committed
// statement; an ack deletes the row, a nack makes it available again after
// the delay, and a row whose lease ran out (its consumer died) is claimed
// again. Consumers wait with LISTEN (a trigger on the table sends NOTIFY when
// a row becomes available) and poll as a fallback. The table is created when
// missing:
//
//	apiVersion: dapr.io/v1alpha1
//	kind: Component
//	metadata:
//	  name: orders
//	spec:
//	  type: bindings.postgresql
//	  version: v1
//	  metadata:
//	  - name: connectionString
//	    secretKeyRef: {name: db, key: url}
//	  - name: table
//	    value: orders_queue
//
// A function that runs its own SQL takes a [*Client] among its outputs.
package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
)

// TypeName is the binding type's name in component files; "bindings.postgres"
// is accepted too, as in Dapr.
const TypeName = "bindings.postgresql"

// Metadata keys of a request to the output.
const (
	// MetaSQL holds the statement of exec and query.
	MetaSQL = "sql"
	// MetaParams holds the statement's parameters as a JSON array ($1 is the
	// first element).
	MetaParams = "params"
	// MetaRowsAffected is the response metadata of exec.
	MetaRowsAffected = "rows-affected"
	// MetaKey is the create metadata stored in the queue row's key column,
	// besides the metadata column; "partitionKey" is used when it is absent.
	MetaKey = "key"
	// MetaID is the response metadata of create: the new row's id, which is
	// also the id of the message the input delivers.
	MetaID = "id"
)

func init() { bindings.Register(Type) }

// Type declares bindings.postgresql.
var Type = bindings.Type{
	Name:       TypeName,
	Aliases:    []string{"bindings.postgres"},
	Version:    "v1",
	Summary:    "PostgreSQL: exec and query as output; a table-backed queue (SKIP LOCKED leases, LISTEN/NOTIFY) as trigger.",
	Directions: bindings.DirBoth,
	Operations: []bindings.Operation{bindings.OpExec, bindings.OpQuery, bindings.OpCreate},
	// Each receive is one claiming statement: measured with
	// BenchmarkBatchSize, the trigger handles about 5x the rows a second
	// with 100 as with 10, and 250 adds little while leasing more rows.
	DeliveryDefaults: map[string]string{"batchSize": "100"},
	Capabilities: bindings.Capabilities{
		BatchReceive:  true,
		Lease:         true,
		DelayedNack:   true,
		Metadata:      true,
		ContentType:   true,
		DeliveryCount: true,
		// A handler that outlives its lease without extending it lets
		// another consumer claim the row.
		Duplicates: true,
	},
	Metadata: []bindings.MetadataKey{
		{Name: "connectionString", Kind: bindings.KindString, Required: true, Secret: true, Aliases: []string{"url"},
			Example:     "postgres://user:password@127.0.0.1:5432/app?sslmode=disable",
			Description: `Connection string, as a URL or as "host=... user=... dbname=..." keywords (libpq's formats, with pgx's pool_* parameters).`},
		{Name: "timeout", Kind: bindings.KindDuration, Default: "20s", Aliases: []string{"timeoutInSeconds"},
			Description: "Timeout of each database operation (a statement, a claim, an ack)."},
		{Name: "maxConns", Kind: bindings.KindInt, Default: "0",
			Description: "Most connections in the pool; 0 or less means the connection string's pool_max_conns, else the greater of 4 and the number of CPUs. An input uses one more, outside the pool, for LISTEN."},
		{Name: "connectionMaxIdleTime", Kind: bindings.KindDuration,
			Description: "Idle time after which a pooled connection is closed. Default: the driver's (30m)."},
		{Name: "useAzureAD", Ignored: "Azure AD authentication is not implemented: give a password in connectionString"},
		{Name: "useAWSIAM", Ignored: "AWS IAM authentication is not implemented: give a password in connectionString"},
		{Name: "awsRegion", Ignored: "used by Dapr for AWS IAM authentication, which Tether does not implement"},
		{Name: "awsAccessKey", Ignored: "used by Dapr for AWS IAM authentication, which Tether does not implement"},
		{Name: "awsSecretKey", Ignored: "used by Dapr for AWS IAM authentication, which Tether does not implement"},
		{Name: "host", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the host from connectionString"},
		{Name: "hostaddr", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the host from connectionString"},
		{Name: "port", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the port from connectionString"},
		{Name: "database", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the database from connectionString"},
		{Name: "user", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the user from connectionString"},
		{Name: "password", Ignored: "Dapr builds AWS IAM connections from it; Tether reads the password from connectionString"},
		{Name: "sslRootCert", Ignored: "Dapr builds AWS IAM connections from it; give sslrootcert in connectionString"},
		{Name: "queryExecMode", Kind: bindings.KindEnum, Enum: []string{"cache_statement", "cache_describe", "describe_exec", "exec", "simple_protocol"},
			Description: `How statements are sent. Default: prepared and cached (cache_statement). Use "exec" or "simple_protocol" behind PgBouncer in transaction mode.`},
		{Name: "table", Kind: bindings.KindString, Default: "tether_queue",
			Description: `The queue table that create adds to and the input consumes, as name or schema.name (each up to 48 letters, digits, "_" or "-", starting with a letter or "_"; used quoted, so case and "-" are kept). Created with its index and notify trigger when missing. tether new sets it to the component's name, so that a function's trigger and output never share a table by default.`},
		{Name: "pollInterval", Kind: bindings.KindDuration, Default: "5s", Direction: bindings.DirInput,
			Description: "Longest wait between two looks at the table when no notification comes (a missed NOTIFY, a lost connection)."},
		{Name: "leaseDuration", Kind: bindings.KindDuration, Default: "30s", Direction: bindings.DirInput,
			Description: "How long a received row stays claimed before another consumer may claim it again. Running handlers extend their lease. At least 1s."},
	},
	InputMetadata: []bindings.MetadataKey{
		{Name: "table", Description: "The queue table the row was claimed from."},
		{Name: "<key>", Description: "Every key of the row's metadata column (the metadata given to create), under its own name; values that are not JSON strings as their JSON text."},
	},
	Check:     func(cfg bindings.Config, _ bindings.Direction) error { _, err := parse(cfg); return err },
	NewInput:  func(ctx context.Context, cfg bindings.Config) (bindings.Input, error) { return newInput(ctx, cfg) },
	NewOutput: func(ctx context.Context, cfg bindings.Config) (bindings.Output, error) { return newOutput(ctx, cfg) },
}

// settings are a component's validated keys. Both directions check every
// key, so a component file is valid or not whichever side opens it first.
type settings struct {
	pool          *pgxpool.Config
	timeout       time.Duration
	table         table
	pollInterval  time.Duration
	leaseDuration time.Duration
}

// parse checks and reads a component's keys without any network I/O (it is
// also the type's Check). The connection string is parsed last, so that
// tether components validate --no-secrets, where it stands unresolved,
// still reports the other keys' problems. Parsing it reads the files it
// names (sslrootcert...), as opening would.
func parse(cfg bindings.Config) (settings, error) {
	md := cfg.Values()
	s := settings{
		timeout:       md.Duration("timeout"),
		pollInterval:  md.Duration("pollInterval"),
		leaseDuration: md.Duration("leaseDuration"),
	}
	var err error
	if s.table, err = parseTable(md.String("table")); err != nil {
		return s, &bindings.KeyError{Key: "table", Msg: err.Error()}
	}
	switch {
	case s.timeout <= 0:
		return s, &bindings.KeyError{Key: "timeout", Msg: "must be more than 0"}
	case md.Has("connectionMaxIdleTime") && md.Duration("connectionMaxIdleTime") <= 0:
		return s, &bindings.KeyError{Key: "connectionMaxIdleTime", Msg: "must be more than 0"}
	// Input keys have their defaults only when an input opens; an output
	// checks the ones that are set.
	case md.Has("pollInterval") && s.pollInterval < time.Millisecond:
		return s, &bindings.KeyError{Key: "pollInterval", Msg: "must be at least 1ms"}
	case md.Has("leaseDuration") && s.leaseDuration < time.Second:
		return s, &bindings.KeyError{Key: "leaseDuration", Msg: "must be at least 1s"}
	}
	pc, err := pgxpool.ParseConfig(md.String("connectionString"))
	if err != nil {
		// pgx's message may quote the connection string; never show it.
		return settings{}, &bindings.KeyError{Key: "connectionString", Msg: "cannot be parsed (check its format; the value is secret and not shown)"}
	}
	if n := md.Int("maxConns"); n > 0 {
		pc.MaxConns = int32(min(n, 1<<20))
	}
	if md.Has("connectionMaxIdleTime") {
		pc.MaxConnIdleTime = md.Duration("connectionMaxIdleTime")
	}
	if mode := md.String("queryExecMode"); mode != "" {
		pc.ConnConfig.DefaultQueryExecMode = execModes[strings.ToLower(strings.TrimSpace(mode))]
	}
	s.pool = pc
	return s, nil
}

var execModes = map[string]pgx.QueryExecMode{
	"cache_statement": pgx.QueryExecModeCacheStatement,
	"cache_describe":  pgx.QueryExecModeCacheDescribe,
	"describe_exec":   pgx.QueryExecModeDescribeExec,
	"exec":            pgx.QueryExecModeExec,
	"simple_protocol": pgx.QueryExecModeSimpleProtocol,
}

// connect opens the pool and checks that the server answers.
func connect(ctx context.Context, s settings, log *slog.Logger) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("open connection pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s:%d: %w", s.pool.ConnConfig.Host, s.pool.ConnConfig.Port, err)
	}
	log.Debug("connected", "host", s.pool.ConnConfig.Host, "database", s.pool.ConnConfig.Database)
	return pool, nil
}
