package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tetherfn/tether/bindings"
)

// Client is the typed client of a bindings.postgresql output, for a
// function's Outputs struct:
//
//	type Outputs struct {
//		DB *postgres.Client `binding:"orders-db"`
//	}
//
//	n, err := out.DB.Exec(ctx, `UPDATE orders SET state = $1 WHERE id = $2`, "paid", id)
//	rows, err := postgres.QueryInto[Order](ctx, out.DB, `SELECT id, state FROM orders WHERE id = $1`, id)
//
// Arguments go to the server as pgx encodes Go values ([]byte as bytea,
// time.Time as timestamptz...). Errors are *bindings.Error, with pgx's error
// (a *pgconn.PgError for a server error) reachable with errors.As.
type Client struct {
	b       bindings.OutputBinding
	pool    *pgxpool.Pool // nil when the binding is not this driver's
	timeout time.Duration
}

// BindOutput implements bindings.Binder: it accepts only a component of
// type TypeName.
func (c *Client) BindOutput(b bindings.OutputBinding) error {
	if err := b.Require(TypeName); err != nil {
		return err
	}
	c.b, c.pool = b, nil
	if d, ok := bindings.Driver(b.Output).(*output); ok {
		c.pool, c.timeout = d.Pool(), d.Timeout()
	}
	return nil
}

// Binding returns the component name the client is bound to.
func (c *Client) Binding() string { return c.b.Name }

// Exec runs a statement and returns how many rows it affected.
func (c *Client) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if err := c.bound(); err != nil {
		return 0, err
	}
	if c.pool == nil {
		resp, err := c.invoke(ctx, bindings.OpExec, sql, args)
		if err != nil {
			return 0, err
		}
		n, _ := strconv.ParseInt(resp.Metadata[MetaRowsAffected], 10, 64)
		return n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	n, err := execSQL(ctx, c.pool, sql, args)
	return n, c.wrap(bindings.OpExec, err)
}

// QueryJSON runs a query and returns its rows as the query operation does: a
// JSON array of objects, one key per column.
func (c *Client) QueryJSON(ctx context.Context, sql string, args ...any) ([]byte, error) {
	if err := c.bound(); err != nil {
		return nil, err
	}
	if c.pool == nil {
		resp, err := c.invoke(ctx, bindings.OpQuery, sql, args)
		if err != nil {
			return nil, err
		}
		return resp.Data, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	data, err := querySQL(ctx, c.pool, sql, args)
	return data, c.wrap(bindings.OpQuery, err)
}

// Query runs a query and returns its rows as maps from column name to value,
// the values as encoding/json decodes QueryJSON's (numbers as json.Number,
// so that a bigint stays exact).
func (c *Client) Query(ctx context.Context, sql string, args ...any) ([]map[string]any, error) {
	return QueryInto[map[string]any](ctx, c, sql, args...)
}

// QueryInto runs a query and decodes each row into a T from QueryJSON's
// object for it: columns match T's fields by json tag or name, as
// encoding/json does (timestamps decode into time.Time, bytea into []byte).
func QueryInto[T any](ctx context.Context, c *Client, sql string, args ...any) ([]T, error) {
	data, err := c.QueryJSON(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	var rows []T
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("decode rows of %q into %T: %w", sql, rows, err)
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, nil
}

func (c *Client) bound() error {
	if c.b.Output == nil {
		return fmt.Errorf("*postgres.Client is not bound to a binding (is the Outputs field tagged, and was go generate run?)")
	}
	return nil
}

// invoke runs exec or query through the binding, for a component whose driver
// is not this package's (an emulator's): the arguments travel as the JSON
// "params" metadata.
func (c *Client) invoke(ctx context.Context, op bindings.Operation, sql string, args []any) (*bindings.InvokeResponse, error) {
	md := map[string]string{MetaSQL: sql}
	for i, a := range args {
		// JSON has no bytes: base64 text would reach a bytea column as text.
		if _, ok := a.([]byte); ok {
			return nil, fmt.Errorf("%s: argument $%d is []byte, which the JSON params of component %q (not this driver's output) cannot carry", op, i+1, c.b.Name)
		}
	}
	if len(args) > 0 {
		p, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("%s: encode arguments as JSON params: %w", op, err)
		}
		md[MetaParams] = string(p)
	}
	resp, err := c.b.Invoke(ctx, &bindings.InvokeRequest{Operation: op, Metadata: md})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		resp = &bindings.InvokeResponse{}
	}
	return resp, nil
}

func (c *Client) wrap(op bindings.Operation, err error) error {
	if err == nil {
		return nil
	}
	return &bindings.Error{Binding: c.b.Name, Type: c.b.Type.Name, Op: "invoke " + string(op), Err: err}
}
