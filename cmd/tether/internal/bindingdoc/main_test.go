package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
)

var docsDir = filepath.Join("..", "..", "..", "..", "docs")

// TestEveryDeclaredKeyIsDocumented: each key a binding type declares, and
// for an input type each delivery key, has its row on the type's page.
// It says which key is missing where, sooner and plainer than CI's
// generate check.
func TestEveryDeclaredKeyIsDocumented(t *testing.T) {
	types := bindings.Types()
	if len(types) < 14 {
		t.Fatalf("%d binding types registered: is bindings/all still imported?", len(types))
	}
	for _, typ := range types {
		path := filepath.Join(docsDir, "bindings", DocFile(typ))
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s has no page: %v", typ.Name, err)
			continue
		}
		for _, k := range missingKeys(doc, typ) {
			t.Errorf("docs/bindings/%s: no row for %s's key %q: run go generate ./cmd/tether", DocFile(typ), typ.Name, k)
		}
	}
}

// TestMissingKeysCanFail: the check above finds a key missing from an
// otherwise current page, and a delivery key missing from an input's.
func TestMissingKeysCanFail(t *testing.T) {
	typ, ok := bindings.Lookup("bindings.memory")
	if !ok {
		t.Fatal("bindings.memory is not registered")
	}
	doc, err := Rewrite([]byte("# memory\n\n<!-- BEGIN generated keys -->\n<!-- END generated keys -->\n"), typ)
	if err != nil {
		t.Fatal(err)
	}
	if got := missingKeys(doc, typ); len(got) != 0 {
		t.Fatalf("a freshly written page misses %q", got)
	}
	grown := *typ
	grown.Metadata = append(slices.Clone(typ.Metadata), bindings.MetadataKey{Name: "newKey", Kind: bindings.KindInt})
	if got := missingKeys(doc, &grown); !slices.Equal(got, []string{"newKey"}) {
		t.Errorf("a key declared since the page was written: missing %q, want [newKey]", got)
	}
	cut := regexp.MustCompile("(?m)^\\| `maxBatchWait` .*\n").ReplaceAll(doc, nil)
	if got := missingKeys(cut, typ); !slices.Equal(got, []string{"maxBatchWait"}) {
		t.Errorf("a delivery key cut from the page: missing %q, want [maxBatchWait]", got)
	}
}

// missingKeys lists the keys of t that have no row in doc's generated
// part (the delivery keys too, for an input type).
func missingKeys(doc []byte, t *bindings.Type) []string {
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)`").FindAllSubmatch(generatedPart(doc, "keys"), -1) {
		rows[string(m[1])] = true
	}
	keys := slices.Clone(t.Metadata)
	if t.Directions.Has(bindings.DirInput) {
		keys = append(keys, bindings.DeliveryKeys...)
	}
	var missing []string
	for _, k := range keys {
		if !rows[k.Name] {
			missing = append(missing, k.Name)
		}
	}
	return missing
}

// generatedPart is what lies between the markers named what; nil when
// they are missing.
func generatedPart(doc []byte, what string) []byte {
	_, after, ok := bytes.Cut(doc, []byte("<!-- BEGIN generated "+what))
	if !ok {
		return nil
	}
	part, _, ok := bytes.Cut(after, []byte(End(what)))
	if !ok {
		return nil
	}
	return part
}

// TestTablesAreCurrent says what CI's generate check says, sooner: every
// page's tables are what the declarations give.
func TestTablesAreCurrent(t *testing.T) {
	for _, typ := range bindings.Types() {
		path := filepath.Join(docsDir, "bindings", DocFile(typ))
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s has no page: %v", typ.Name, err)
			continue
		}
		got, err := Rewrite(doc, typ)
		if err != nil {
			t.Errorf("docs/bindings/%s: %v", DocFile(typ), err)
			continue
		}
		if !bytes.Equal(got, doc) {
			t.Errorf("docs/bindings/%s is out of date: run go generate ./cmd/tether", DocFile(typ))
		}
	}
	doc, err := os.ReadFile(filepath.Join(docsDir, "components.md"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := RewriteComponents(doc); err != nil || !bytes.Equal(got, doc) {
		t.Errorf("docs/components.md's delivery keys are out of date (%v): run go generate ./cmd/tether", err)
	}
}

// TestRewrite: only the part between the markers changes; the prose
// around it stays; a page without the markers is an error that says
// what to add.
func TestRewrite(t *testing.T) {
	typ, _ := bindings.Lookup("bindings.localstorage")
	page := "# Local files\n\nProse above.\n\n<!-- BEGIN generated keys: an old note -->\n\n| stale |\n\n<!-- END generated keys -->\n\nProse below.\n"
	got, err := Rewrite([]byte(page), typ)
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	if !strings.HasPrefix(s, "# Local files\n\nProse above.\n\n<!-- BEGIN generated keys: go generate") || !strings.HasSuffix(s, "<!-- END generated keys -->\n\nProse below.\n") {
		t.Errorf("prose around the markers changed:\n%s", s)
	}
	if strings.Contains(s, "stale") || !strings.Contains(s, "| `rootPath` | string | required | ") {
		t.Errorf("the generated part was not replaced:\n%s", s)
	}
	// An output-only type has no direction column and no delivery keys.
	if strings.Contains(s, "direction") || strings.Contains(s, "maxConcurrency") {
		t.Errorf("an output type's page shows directions or delivery keys:\n%s", s)
	}
	again, err := Rewrite(got, typ)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("a second rewrite changed the page (%v)", err)
	}
	for _, bad := range []string{"# no markers\n", "<!-- END generated keys -->\n<!-- BEGIN generated keys -->\n"} {
		if _, err := Rewrite([]byte(bad), typ); err == nil || !strings.Contains(err.Error(), "markers") {
			t.Errorf("Rewrite(%q): %v, want an error about the markers", bad, err)
		}
	}
}

// TestProse: a description becomes one table cell: camel-case key names
// and quoted words in code, pipes and tags escaped, plain words left.
func TestProse(t *testing.T) {
	names := map[string]bool{"connectionString": true, "project_id": true}
	for in, want := range map[string]string{
		`with connectionString, not the table`:   "with `connectionString`, not the table",
		`use "exec" or "simple protocol"`:        "use `exec` or \"simple protocol\"",
		"already `code` and project_id":          "already `code` and `project_id`",
		"a|b, /<component name>":                 `a\|b, /&lt;component name>`,
		"`x|y`":                                  "`x\\|y`",
		"two\nlines":                             "two lines",
		`"connectionString" quoted, not doubled`: "`connectionString` quoted, not doubled",
		`JSON, as {"a":"b"}, stays`:              `JSON, as {"a":"b"}, stays`,
		"/healthz, /v1.0/... and /a/b.":          "`/healthz`, `/v1.0/...` and `/a/b`.",
		`keys ("<prefix>:<tick time>").`:         "keys (`<prefix>:<tick time>`).",
	} {
		if got := prose(in, names); got != want {
			t.Errorf("prose(%q) = %q, want %q", in, got, want)
		}
	}
}
