package pubsub_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/bindings/bindingtest"
)

// TestScaffold renders a function with a Pub/Sub trigger and a Pub/Sub
// output (template/components/gcp.pubsub.yaml.tmpl): topics are named after
// the components, the trigger's subscription after its component and the
// function.
func TestScaffold(t *testing.T) {
	for _, c := range bindingtest.Scaffold(t, "gcp.pubsub", "gcp.pubsub").Components() {
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
