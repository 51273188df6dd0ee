package gen

import (
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"testing"
)

// TestSampleOfStruct: the schema and example follow encoding/json: tag
// names, omitempty fields not required, "-" and unexported fields left out,
// embedded structs flattened, time.Time a date-time string, []byte base64,
// a recursive type cut short.
func TestSampleOfStruct(t *testing.T) {
	const src = `package p

import "time"

type Base struct{ Tenant string ` + "`json:\"tenant\"`" + ` }

type Line struct {
	SKU string
	Qty int ` + "`json:\"qty,omitempty\"`" + `
}

type Order struct {
	Base
	ID      string            ` + "`json:\"id\"`" + `
	At      time.Time         ` + "`json:\"at\"`" + `
	Lines   []Line            ` + "`json:\"lines\"`" + `
	Tags    map[string]string ` + "`json:\"tags,omitempty\"`" + `
	Paid    bool              ` + "`json:\"paid\"`" + `
	Total   float64           ` + "`json:\"total,string\"`" + `
	Blob    []byte            ` + "`json:\"blob\"`" + `
	Parent  *Order            ` + "`json:\"parent,omitempty\"`" + `
	Secret  string            ` + "`json:\"-\"`" + `
	private int
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{Importer: importer.ForCompiler(fset, "source", nil)}).Check("p", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn := &function{Input: inputJSON, InType: "Order"}
	fn.setSample(pkg.Scope().Lookup("Order").Type())

	var schema struct {
		Schema     string                     `json:"$schema"`
		Title      string                     `json:"title"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal([]byte(mustUnquote(t, fn.Sample.Schema())), &schema); err != nil {
		t.Fatal(err)
	}
	wantProps := map[string]string{
		"tenant": `{"type":"string"}`,
		"id":     `{"type":"string"}`,
		"at":     `{"format":"date-time","type":"string"}`,
		"lines":  `{"items":{"properties":{"SKU":{"type":"string"},"qty":{"type":"integer"}},"required":["SKU"],"type":"object"},"type":"array"}`,
		"tags":   `{"additionalProperties":{"type":"string"},"type":"object"}`,
		"paid":   `{"type":"boolean"}`,
		"total":  `{"type":"string"}`,
		"blob":   `{"contentEncoding":"base64","type":"string"}`,
		"parent": `{"type":"object"}`,
	}
	if len(schema.Properties) != len(wantProps) {
		t.Errorf("properties %v, want %d", schema.Properties, len(wantProps))
	}
	for name, want := range wantProps {
		if got := string(schema.Properties[name]); got != want {
			t.Errorf("property %s: %s, want %s", name, got, want)
		}
	}
	if got, _ := json.Marshal(schema.Required); string(got) != `["tenant","id","at","lines","paid","total","blob"]` {
		t.Errorf("required %s", got)
	}
	if schema.Title != "Order" || schema.Schema == "" {
		t.Errorf("title %q, $schema %q", schema.Title, schema.Schema)
	}
	example := mustUnquote(t, fn.Sample.Example())
	const want = `{"at":"2026-01-02T15:04:05Z","blob":"aGVsbG8=","id":"id","lines":[{"SKU":"SKU","qty":1}],"paid":true,"parent":null,"tags":{"key":"tags"},"tenant":"tenant","total":"1.5"}`
	if example != want {
		t.Errorf("example\n%s\nwant\n%s", example, want)
	}
}

func mustUnquote(t *testing.T, lit string) string {
	t.Helper()
	if len(lit) >= 2 && lit[0] == '`' {
		return lit[1 : len(lit)-1]
	}
	var s string
	if err := json.Unmarshal([]byte(lit), &s); err != nil {
		t.Fatalf("literal %s: %v", lit, err)
	}
	return s
}
