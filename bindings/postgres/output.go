package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
)

// output runs exec, query and create on one pool.
type output struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	table   table
	closed  atomic.Bool

	// ensured is set once create made sure the queue table exists; until
	// then a create that finds no table makes it.
	ensureMu sync.Mutex
	ensured  atomic.Bool
}

func newOutput(ctx context.Context, cfg bindings.Config) (*output, error) {
	s, err := parse(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := connect(ctx, s, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &output{pool: pool, timeout: s.timeout, table: s.table}, nil
}

// Pool returns the connection pool, for the typed Client.
func (o *output) Pool() *pgxpool.Pool { return o.pool }

// Timeout returns the component's operation timeout, for the typed Client.
func (o *output) Timeout() time.Duration { return o.timeout }

// Invoke runs one operation; see the package documentation.
func (o *output) Invoke(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	if req == nil {
		return nil, errors.New("nil request")
	}
	if o.closed.Load() {
		return nil, bindings.ErrClosed
	}
	switch req.Operation {
	case bindings.OpExec, bindings.OpQuery:
		return o.statement(ctx, req)
	case bindings.OpCreate:
		return o.create(ctx, req)
	}
	return nil, fmt.Errorf("%w %q", bindings.ErrUnsupportedOperation, req.Operation)
}

// statement runs exec or query with Dapr's request and response metadata.
func (o *output) statement(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	sql := req.Metadata[MetaSQL]
	if sql == "" {
		return nil, fmt.Errorf("%s: missing %q metadata", req.Operation, MetaSQL)
	}
	args, err := params(req.Metadata[MetaParams])
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	resp := &bindings.InvokeResponse{Metadata: map[string]string{
		"operation":  string(req.Operation),
		"sql":        sql,
		"start-time": start.UTC().Format(time.RFC3339Nano),
	}}
	if req.Operation == bindings.OpExec {
		n, err := execSQL(ctx, o.pool, sql, args)
		if err != nil {
			return nil, err
		}
		resp.Metadata[MetaRowsAffected] = strconv.FormatInt(n, 10)
	} else {
		data, err := querySQL(ctx, o.pool, sql, args)
		if err != nil {
			return nil, err
		}
		resp.Data, resp.ContentType = data, "application/json"
	}
	end := time.Now()
	resp.Metadata["end-time"] = end.UTC().Format(time.RFC3339Nano)
	resp.Metadata["duration"] = end.Sub(start).String()
	return resp, nil
}

func execSQL(ctx context.Context, pool *pgxpool.Pool, sql string, args []any) (int64, error) {
	tag, err := pool.Exec(ctx, sql, args...)
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	return tag.RowsAffected(), nil
}

func querySQL(ctx context.Context, pool *pgxpool.Pool, sql string, args []any) ([]byte, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	data, err := rowsJSON(rows)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return data, nil
}

// params decodes the "params" metadata: a JSON array whose elements are $1,
// $2... Numbers stay exact (json.Number, sent as text for the server to
// convert); arrays and objects are sent as JSON text.
func params(s string) ([]any, error) {
	if s == "" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("metadata %q: want a JSON array: %w", MetaParams, err)
	}
	args := make([]any, len(raw))
	for i, r := range raw {
		var v any
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("metadata %q: element %d: %w", MetaParams, i+1, err)
		}
		switch x := v.(type) {
		case json.Number:
			args[i] = string(x)
		case map[string]any, []any:
			args[i] = string(r)
		default:
			args[i] = x
		}
	}
	return args, nil
}

// create adds a message to the queue table: the request's data, content type
// (else its "contentType" metadata), metadata, and key (its "key" metadata,
// else "partitionKey"). It answers the row's id.
func (o *output) create(ctx context.Context, req *bindings.InvokeRequest) (*bindings.InvokeResponse, error) {
	ct := req.ContentType
	if ct == "" {
		ct = req.Metadata["contentType"]
	}
	key := req.Metadata[MetaKey]
	if key == "" {
		key = req.Metadata["partitionKey"]
	}
	md := req.Metadata
	if md == nil {
		md = map[string]string{}
	}
	data := req.Data
	if data == nil {
		data = []byte{} // the column is NOT NULL; no data is empty data
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var id int64
	insert := func() error {
		return o.pool.QueryRow(ctx, o.table.insert, key, data, ct, md).Scan(&id)
	}
	err := insert()
	if isUndefinedTable(err) && !o.ensured.Load() {
		if err = o.ensureTable(ctx); err == nil {
			err = insert()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create in queue table %s: %w", o.table.name, err)
	}
	o.ensured.Store(true)
	return &bindings.InvokeResponse{Metadata: map[string]string{MetaID: strconv.FormatInt(id, 10)}}, nil
}

// ensureTable creates the queue table the first time create needs it. An
// output used only for exec and query never creates one.
func (o *output) ensureTable(ctx context.Context) error {
	o.ensureMu.Lock()
	defer o.ensureMu.Unlock()
	if o.ensured.Load() {
		return nil
	}
	if err := o.table.ensure(ctx, o.pool); err != nil {
		return err
	}
	o.ensured.Store(true)
	return nil
}

// Close closes the pool; later calls fail with bindings.ErrClosed.
func (o *output) Close() error {
	if o.closed.CompareAndSwap(false, true) {
		o.pool.Close()
	}
	return nil
}
