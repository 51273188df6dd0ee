package gen

import (
	"encoding/json"
	"go/types"
	"reflect"
	"strconv"
	"strings"
)

// A handler's input, described for tether send --sample and the dashboard's
// Send form: a JSON Schema (draft 2020-12) of the payload and an example
// payload, both derived from the input type as encoding/json sees it.

// sampleOf sets fn's Sample from the input type t.
func (fn *function) setSample(t types.Type) {
	switch fn.Input {
	case inputString:
		fn.Sample = &sample{ContentType: "text/plain; charset=utf-8", schema: obj{"type": "string"}, example: "hello"}
	case inputBytes:
		fn.Sample = &sample{ContentType: "application/octet-stream", schema: obj{}, example: "hello"}
	case inputCloudEvent, inputEvent:
		fn.Sample = &sample{ContentType: "application/json", schema: obj{}, example: obj{}}
	default:
		s := schemaWalker{seen: map[*types.Named]bool{}}
		schema, example := s.walk(t, "")
		fn.Sample = &sample{ContentType: "application/json", schema: schema, example: example}
	}
	fn.Sample.Type = fn.InType
	if sch, ok := fn.Sample.schema.(obj); ok {
		sch["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		sch["title"] = fn.InType
	}
}

// sample is a function's input described.
type sample struct {
	Type        string // the Go type, as the generated code writes it
	ContentType string
	schema      any
	example     any // a JSON value, or the payload text (string, []byte)
}

// Schema is the JSON Schema as a Go string literal.
func (s *sample) Schema() string {
	data, _ := json.Marshal(s.schema) // maps and plain values: cannot fail
	return literal(string(data))
}

// Example is the example payload as a Go string literal.
func (s *sample) Example() string {
	if text, ok := s.example.(string); ok && !strings.HasPrefix(s.ContentType, "application/json") {
		return literal(text)
	}
	data, _ := json.Marshal(s.example)
	return literal(string(data))
}

// literal writes s as a Go string literal, raw when it can be.
func literal(s string) string {
	if strconv.CanBackquote(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

type obj = map[string]any

// schemaWalker writes the schema and an example of a type.
type schemaWalker struct {
	seen map[*types.Named]bool // named types being walked: recursion stops there
}

// walk returns the schema and an example value of t; name is the JSON name
// of the field it is (the example of a string is its name).
func (s schemaWalker) walk(t types.Type, name string) (schema obj, example any) {
	t = types.Unalias(t)
	if n, ok := t.(*types.Named); ok {
		switch {
		case isNamed(n, "time", "Time"):
			return obj{"type": "string", "format": "date-time"}, "2026-01-02T15:04:05Z"
		case isNamed(n, "time", "Duration"):
			return obj{"type": "integer", "description": "nanoseconds"}, 1000000000
		case isNamed(n, "encoding/json", "RawMessage"):
			return obj{}, obj{}
		case implements(n, "MarshalJSON"):
			return obj{}, nil // its own encoding: unknown here
		case implements(n, "MarshalText"):
			return obj{"type": "string"}, example0(name)
		}
		if s.seen[n] {
			return obj{"type": "object"}, nil // recursive: stop
		}
		s.seen[n] = true
		defer delete(s.seen, n)
	}
	switch u := t.Underlying().(type) {
	case *types.Basic:
		switch {
		case u.Info()&types.IsBoolean != 0:
			return obj{"type": "boolean"}, true
		case u.Info()&types.IsInteger != 0:
			return obj{"type": "integer"}, 1
		case u.Info()&types.IsFloat != 0:
			return obj{"type": "number"}, 1.5
		case u.Info()&types.IsString != 0:
			return obj{"type": "string"}, example0(name)
		}
		return obj{}, nil
	case *types.Pointer:
		return s.walk(u.Elem(), name)
	case *types.Slice:
		if b, ok := types.Unalias(u.Elem()).(*types.Basic); ok && b.Kind() == types.Byte {
			return obj{"type": "string", "contentEncoding": "base64"}, "aGVsbG8="
		}
		items, ex := s.walk(u.Elem(), name)
		return obj{"type": "array", "items": items}, []any{ex}
	case *types.Array:
		items, ex := s.walk(u.Elem(), name)
		exs := make([]any, u.Len())
		for i := range exs {
			exs[i] = ex
		}
		return obj{"type": "array", "items": items, "minItems": u.Len(), "maxItems": u.Len()}, exs
	case *types.Map:
		values, ex := s.walk(u.Elem(), name)
		return obj{"type": "object", "additionalProperties": values}, obj{"key": ex}
	case *types.Struct:
		props, example := obj{}, obj{}
		var required []string
		s.fields(u, props, example, &required)
		schema := obj{"type": "object", "properties": props}
		if len(required) > 0 {
			schema["required"] = required
		}
		return schema, example
	}
	return obj{}, nil // interfaces, channels, funcs: anything
}

// fields adds the fields of st, as encoding/json sees them (embedded structs
// without a tag flattened), to props and example.
func (s schemaWalker) fields(st *types.Struct, props, example obj, required *[]string) {
	for i := range st.NumFields() {
		f := st.Field(i)
		tag := reflect.StructTag(st.Tag(i)).Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Embedded() && name == "" {
			et := types.Unalias(f.Type())
			if p, ok := et.(*types.Pointer); ok {
				et = types.Unalias(p.Elem())
			}
			if est, ok := et.Underlying().(*types.Struct); ok {
				s.fields(est, props, example, required)
				continue
			}
		}
		if !f.Exported() {
			continue
		}
		if name == "" {
			name = f.Name()
		}
		schema, ex := s.walk(f.Type(), name)
		if strings.Contains(opts, "string") {
			schema = obj{"type": "string"}
			if ex != nil {
				data, _ := json.Marshal(ex)
				ex = string(data)
			}
		}
		props[name] = schema
		example[name] = ex
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

func example0(name string) string {
	if name == "" {
		return "text"
	}
	return name
}

// implements reports whether n or *n has the method (MarshalJSON,
// MarshalText).
func implements(n *types.Named, method string) bool {
	for _, t := range []types.Type{n, types.NewPointer(n)} {
		obj, _, _ := types.LookupFieldOrMethod(t, true, n.Obj().Pkg(), method)
		if _, ok := obj.(*types.Func); ok {
			return true
		}
	}
	return false
}
