package all_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all"
)

const bindingsPath = "github.com/tetherfn/tether/bindings/"

// TestImportsEveryDriver keeps the blank imports in step with the packages
// under bindings/ that register a binding type: a new driver the command
// line does not know would be missing from tether bindings and tether new.
func TestImportsEveryDriver(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "all.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		imported = append(imported, strings.TrimPrefix(p, bindingsPath))
	}
	var drivers []string
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && registers(t, filepath.Join("..", e.Name())) {
			drivers = append(drivers, e.Name())
		}
	}
	for _, d := range drivers {
		if !slices.Contains(imported, d) {
			t.Errorf("bindings/%s registers a binding type but all.go does not import it: add _ %q", d, bindingsPath+d)
		}
	}
	for _, p := range imported {
		if !slices.Contains(drivers, p) {
			t.Errorf("all.go imports %s, which is not a driver package under bindings/ (no bindings.Register in it)", p)
		}
	}
}

// registers reports whether the package in dir calls bindings.Register
// outside its tests.
func registers(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "bindings.Register(") {
			return true
		}
	}
	return false
}

// TestTypesAreRegistered checks that importing the package is enough to
// know the types: every type has at least one direction and a summary for
// listings.
func TestTypesAreRegistered(t *testing.T) {
	types := bindings.Types()
	if len(types) == 0 {
		t.Fatal("no binding types registered")
	}
	for _, typ := range types {
		if typ.Summary == "" {
			t.Errorf("%s has no Summary", typ.Name)
		}
	}
	if _, ok := bindings.Lookup("bindings.memory"); !ok {
		t.Error("bindings.memory is not registered")
	}
}

// TestEveryTypeChecksWithoutOpening: every driver declares Type.Check, so
// that tether components validate reports at file:line what its open would
// refuse, for every type alike.
func TestEveryTypeChecksWithoutOpening(t *testing.T) {
	for _, typ := range bindings.Types() {
		if typ.Check == nil {
			t.Errorf("%s declares no Check: tether components validate cannot report the values its open refuses", typ.Name)
		}
	}
}
