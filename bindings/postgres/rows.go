package postgres

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// rowsJSON reads every row into a JSON array of objects, one key per column
// in the query's column order. Values are as encoding/json writes pgx's Go
// values, except that uuids are their text form and types without a JSON
// form (intervals, times of day, ranges...) are their SQL text form; bytea is
// base64, as encoding/json writes []byte.
func rowsJSON(rows pgx.Rows) ([]byte, error) {
	defer rows.Close()
	fields := rows.FieldDescriptions()
	names := make([][]byte, len(fields))
	for i, f := range fields {
		names[i], _ = json.Marshal(f.Name) // a string always encodes
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("read row %d: %w", n+1, err)
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('{')
		for i, v := range values {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(names[i])
			buf.WriteByte(':')
			b, err := json.Marshal(jsonValue(v))
			if err != nil {
				return nil, fmt.Errorf("row %d, column %s: %w", n+1, fields[i].Name, err)
			}
			buf.Write(b)
		}
		buf.WriteByte('}')
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// jsonValue turns a value pgx decoded into one that encoding/json writes as
// its database meaning.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, int8, int16, int32, int64, float32, float64, []byte, map[string]any, json.Marshaler:
		return x
	case [16]byte:
		return uuid.UUID(x).String()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case driver.Valuer:
		// pgtype's structs (Interval, Time, Range...) give their SQL text.
		if dv, err := x.Value(); err == nil {
			return jsonValue(dv)
		}
	}
	return v
}
