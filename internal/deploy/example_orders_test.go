package deploy_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/deploy"
	"github.com/tetherfn/tether/internal/gen"
)

// TestExampleOrders renders examples/orders on its prod environment as
// tether deploy does, from the example's own directive and component files,
// and validates the stream like the golden cases: the example that
// TestDockerOrders (cmd/tether/e2e) builds and runs under Docker is also
// the one whose manifests are checked.
func TestExampleOrders(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	fns, diags := gen.Functions([]string{"./examples/orders"}, &gen.Options{Dir: root})
	if len(diags) > 0 || len(fns) != 1 {
		t.Fatalf("functions of examples/orders: %v, %v", fns, diags)
	}
	set, err := component.Load([]string{filepath.Join(root, "examples", "orders", "components", "prod")}, &component.Options{Unresolved: true})
	if err != nil {
		t.Fatal(err)
	}
	f := fns[0]
	image := "registry.example.com/orders@sha256:" + strings.Repeat("ab", 32)
	objs, err := deploy.Render([]deploy.Function{{Name: f.Name, Trigger: f.Trigger, Components: f.Components(), Image: image}}, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := deploy.WriteStream(&buf, objs); err != nil {
		t.Fatal(err)
	}
	validateStream(t, buf.Bytes())
	out := buf.String()
	for _, want := range []string{
		"kind: Deployment\nmetadata:\n  name: store-order\n",
		"image: " + image + "\n",
		// KEDA scales it from its RabbitMQ queue, the credentials by reference.
		"    - type: rabbitmq\n",
		"queueName: tether-example-orders\n",
		"    - parameter: host\n      name: orders-secrets\n      key: rabbitmq-url\n",
		// The Secret to create, with the keys the components read and no value.
		"  name: orders-secrets\n",
		"  postgres-url: \"\"\n  rabbitmq-url: \"\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the manifests of examples/orders lack %q:\n%s", want, out)
		}
	}
}
