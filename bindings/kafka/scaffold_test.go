package kafka_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/memory" // the local stand-ins
	"github.com/tetherfn/tether/internal/scaffold"
)

// TestScaffold renders a function with a Kafka trigger and a Kafka output
// (template/components/kafka.yaml.tmpl): the topics are named after the
// components, the consumer group after the function, and the files load.
func TestScaffold(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := scaffold.Render(scaffold.Options{Name: "orders", Trigger: "kafka", Outputs: []string{"kafka"}, Tether: scaffold.Tether{Replace: root}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if filepath.Dir(f.Path) == "components" {
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Path)), f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("the scaffolded components do not load:\n%v", err)
	}
	var in, out *component.Component
	for _, c := range set.Components() {
		switch c.Metadata["direction"] {
		case "input":
			in = c
		case "output":
			out = c
		}
	}
	if in == nil || out == nil {
		t.Fatalf("components %v: want one input and one output", set.Components())
	}
	if in.Metadata["topics"] != in.Name || in.Metadata["consumerGroup"] != "orders" {
		t.Errorf("trigger %s: topics %q, consumerGroup %q; want the component's and the function's names", in.Name, in.Metadata["topics"], in.Metadata["consumerGroup"])
	}
	if out.Metadata["publishTopic"] != out.Name {
		t.Errorf("output %s: publishTopic %q, want the component's name", out.Name, out.Metadata["publishTopic"])
	}
}
