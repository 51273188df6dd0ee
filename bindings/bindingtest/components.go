package bindingtest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/memory" // the scaffold's local stand-ins
	"github.com/tetherfn/tether/internal/scaffold"
)

// ComponentYAML renders a Dapr component file named name, of binding type
// typ (e.g. "bindings.redis"), with md as its metadata in key order.
func ComponentYAML(name, typ string, md map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec:\n  type: %s\n  version: v1\n  metadata:\n", name, typ)
	for _, k := range slices.Sorted(maps.Keys(md)) {
		fmt.Fprintf(&b, "  - name: %s\n    value: %q\n", k, md[k])
	}
	return b.String()
}

// LoadComponents writes the component files into a temporary folder and
// loads it, as a function process does at start-up. It fails the test when
// they do not load.
func LoadComponents(t testing.TB, files ...string) *component.Set {
	t.Helper()
	dir := t.TempDir()
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c%d.yaml", i)), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Scaffold renders a function named "orders" with the trigger and outputs
// given (binding types, with or without the "bindings." prefix, as tether
// new takes them) and loads its components/ folder, the files a deployment
// starts from. It fails the test unless they load and hold one component
// per binding, of its type, and the trigger's dead letter where
// scaffold.RealDeadLetter gives it one. The test must import the drivers of
// the types.
func Scaffold(t testing.TB, trigger string, outputs ...string) *component.Set {
	t.Helper()
	// Only components/ is loaded, so which Tether go.mod requires does not
	// matter.
	files, err := scaffold.Render(scaffold.Options{Name: "orders", Trigger: trigger, Outputs: outputs, Tether: scaffold.Tether{Version: "v0.0.0"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if path := filepath.FromSlash(f.Path); filepath.Dir(path) == "components" {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(path)), f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("the scaffolded components do not load:\n%v", err)
	}
	want := map[string]int{}
	for i, typ := range append([]string{trigger}, outputs...) {
		tt, ok := scaffold.LookupType(typ)
		if !ok {
			t.Fatalf("binding type %s is not registered", typ)
		}
		want[tt.Name]++
		if i == 0 && scaffold.RealDeadLetter(tt) {
			want[tt.Name]++ // the trigger's dead letter, orders-deadletter
		}
	}
	got := map[string]int{}
	for _, c := range set.Components() {
		got[c.Binding.Name]++
	}
	if !maps.Equal(got, want) {
		t.Fatalf("scaffolded components of each type: %v, want %v", got, want)
	}
	return set
}
