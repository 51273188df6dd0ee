package gen_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/tetherfn/tether/internal/gen"
)

// Functions lists what the directives and Outputs structs say, for build
// and deploy: trigger, return, output components, package and position.
func TestFunctions(t *testing.T) {
	ar, err := txtar.ParseFile(filepath.Join("testdata", "outputs.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(newModule(t), "outputs")
	extract(t, dir, ar.Files)
	fns, diags := gen.Functions([]string{"./..."}, &gen.Options{Dir: dir, Env: goEnv()})
	if len(diags) > 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	type row struct {
		Name, Trigger, Return, Handler, Package string
		Outputs, Components                     []string
		Line                                    int
	}
	var got []row
	for _, f := range fns {
		if f.Dir != filepath.Join(dir, "orders") || f.Pos.Filename != filepath.Join(dir, "orders", "orders.go") {
			t.Errorf("%s: dir %s, position %s", f.Name, f.Dir, f.Pos)
		}
		got = append(got, row{f.Name, f.Trigger, f.Return, f.Handler, f.Package, f.Outputs, f.Components(), f.Pos.Line})
	}
	want := []row{
		{"announce", "orders", "", "Announce", "example.com/app/outputs/orders", []string{"events"}, []string{"orders", "events"}, 49},
		{"count", "orders", "counted", "Count", "example.com/app/outputs/orders", []string{"shipped"}, []string{"orders", "counted", "shipped"}, 38},
		{"ship", "orders", "", "Ship", "example.com/app/outputs/orders", []string{"shipped"}, []string{"orders", "shipped"}, 31},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	// A package with problems lists none of its functions.
	ar, err = txtar.ParseFile(filepath.Join("testdata", "diag_directives.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(filepath.Dir(dir), "diag")
	extract(t, dir, ar.Files)
	fns, diags = gen.Functions([]string{"./..."}, &gen.Options{Dir: dir, Env: goEnv()})
	if len(diags) == 0 || len(fns) > 0 {
		t.Errorf("broken package: %d functions, diagnostics %v", len(fns), diags)
	}
}
