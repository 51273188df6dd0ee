package gen

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tetherfn/tether/bindings"
	_ "github.com/tetherfn/tether/bindings/all"
)

// Every registered type, and each alias, must map to its driver package.
func TestDriverPackagesCoverTheRegistry(t *testing.T) {
	for _, typ := range bindings.Types() {
		for _, name := range append([]string{typ.Name}, typ.Aliases...) {
			if _, ok := driverPackages[name]; !ok {
				t.Errorf("driverPackages lacks %q", name)
			}
		}
	}
	for name := range driverPackages {
		if _, ok := bindings.Lookup(name); !ok {
			t.Errorf("driverPackages has %q, which no driver registers", name)
		}
	}
}

func TestComponentDrivers(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(dir, "components", rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "kind: Component\nspec:\n  type: bindings.kafka\n---\nkind: Component\nspec:\n  type: bindings.postgres\n---\nkind: Resiliency\nspec:\n  type: bindings.redis\n")
	write("local/b.yml", "kind: Component\nspec:\n  type: bindings.memory\n")
	write("prod/broken.yaml", "kind: [unclosed\n")
	write("prod/c.yaml", "kind: Component\nspec:\n  type: bindings.nosuch\n")
	got := componentDrivers(dir)
	want := []string{bindingsPath + "/kafka", bindingsPath + "/memory", bindingsPath + "/postgres"}
	if !slices.Equal(got, want) {
		t.Errorf("componentDrivers = %v, want %v", got, want)
	}
	if got := componentDrivers(filepath.Join(dir, "nothing-here")); len(got) != 0 {
		t.Errorf("no components folder: %v", got)
	}
}
