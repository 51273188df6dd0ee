package cron_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/memory" // the local stand-ins
	"github.com/tetherfn/tether/internal/scaffold"
)

// TestScaffold renders a function triggered by cron (template/components/
// cron.yaml.tmpl) and loads its component file.
func TestScaffold(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := scaffold.Render(scaffold.Options{Name: "nightly", Trigger: "cron", Tether: scaffold.Tether{Replace: root}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	found := false
	for _, f := range files {
		if f.Path != "components/nightly-in.yaml" {
			continue
		}
		found = true
		if err := os.WriteFile(filepath.Join(dir, "c.yaml"), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatal("no components/nightly-in.yaml")
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("the scaffolded component does not load:\n%v", err)
	}
	c, ok := set.Get("nightly-in")
	if !ok || c.Metadata["schedule"] != "@every 1m" {
		t.Errorf("component %+v: want schedule @every 1m", c)
	}
}
