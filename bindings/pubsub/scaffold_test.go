package pubsub_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/memory" // the local stand-ins
	"github.com/tetherfn/tether/internal/scaffold"
)

// TestScaffold renders a function with a Pub/Sub trigger and a Pub/Sub
// output (template/components/gcp.pubsub.yaml.tmpl): topics are named after
// the components, the trigger's subscription after its component and the
// function, and the files load.
func TestScaffold(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := scaffold.Render(scaffold.Options{Name: "orders", Trigger: "gcp.pubsub", Outputs: []string{"gcp.pubsub"}, Tether: scaffold.Tether{Replace: root}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, f := range files {
		if filepath.Dir(f.Path) == "components" {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Path)), f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(f.Content), "bindings.gcp.pubsub") {
				n++
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d Pub/Sub component files rendered, want 2", n)
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("the scaffolded components do not load:\n%v", err)
	}
	for _, c := range set.Components() {
		if c.Binding.Name != "bindings.gcp.pubsub" {
			continue
		}
		if c.Metadata["topic"] != c.Name {
			t.Errorf("component %s: topic %q, want the component's name", c.Name, c.Metadata["topic"])
		}
		want := ""
		if c.Direction.Has(bindings.DirInput) {
			want = c.Name + "-orders"
		}
		if c.Metadata["subscription"] != want {
			t.Errorf("component %s (%s): subscription %q, want %q", c.Name, c.Direction, c.Metadata["subscription"], want)
		}
	}
}
