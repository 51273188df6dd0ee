package sqs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings/component"
	_ "github.com/tetherfn/tether/bindings/memory" // the local stand-ins
	"github.com/tetherfn/tether/internal/scaffold"
)

// TestScaffold renders a function with an SQS trigger and an SQS output
// (template/components/aws.sqs.yaml.tmpl): each queue is named after its
// component, and the files load.
func TestScaffold(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	files, err := scaffold.Render(scaffold.Options{Name: "orders", Trigger: "aws.sqs", Outputs: []string{"aws.sqs"}, Tether: scaffold.Tether{Replace: root}})
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
			if strings.Contains(string(f.Content), "bindings.aws.sqs") {
				n++
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d SQS component files rendered, want 2", n)
	}
	set, err := component.Load([]string{dir}, nil)
	if err != nil {
		t.Fatalf("the scaffolded components do not load:\n%v", err)
	}
	for _, c := range set.Components() {
		if c.Binding.Name == "bindings.aws.sqs" && c.Metadata["queueName"] != c.Name {
			t.Errorf("component %s: queueName %q, want the component's name", c.Name, c.Metadata["queueName"])
		}
	}
}
