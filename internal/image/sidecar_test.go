package image_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tetherfn/tether/internal/image"
)

// TestDriversFor reads the binding types of a components folder: each
// type's driver package, memory always, nothing for other kinds and
// types; a type no driver has is an error naming its file.
func TestDriversFor(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	comp := func(name, typ string) string {
		return "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\nspec:\n  type: " + typ + "\n  version: v1\n"
	}
	write("a.yaml", comp("orders", "bindings.kafka")+"---\n"+comp("db", "bindings.postgres"))
	write("b.yml", comp("queue", "bindings.aws.sqs"))
	write("c.yaml", comp("secrets", "secretstores.local.file")+"---\n"+comp("ps", "pubsub.redis")+"---\napiVersion: dapr.io/v1alpha1\nkind: Configuration\nmetadata:\n  name: c\n")
	got, err := image.DriversFor([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kafka", "memory", "postgres", "sqs"}; !slices.Equal(got, want) {
		t.Errorf("DriversFor = %q, want %q", got, want)
	}
	write("d.yaml", comp("x", "bindings.nope"))
	if _, err := image.DriversFor([]string{dir}); err == nil || !strings.Contains(err.Error(), "d.yaml") || !strings.Contains(err.Error(), "bindings.nope") {
		t.Errorf("unknown type: %v, want an error naming d.yaml and bindings.nope", err)
	}
}
