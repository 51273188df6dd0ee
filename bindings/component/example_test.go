package component_test

import (
	"fmt"

	"github.com/tetherfn/tether/bindings/component"
)

// Parse reports every problem of a file, each on the line it is about.
func ExampleParse() {
	data := []byte(`apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: nightly
spec:
  type: bindings.testcorn
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders
spec:
  type: bindings.testqueue
  metdata:
  - name: queueName
    value: orders
`)
	_, err := component.Parse("components/jobs.yaml", data)
	fmt.Println(err)
	// Output:
	// components/jobs.yaml:6: unknown binding type "bindings.testcorn"; did you mean "bindings.testcron"?
	// components/jobs.yaml:14: unknown field "metdata" in spec; did you mean "metadata"?
}
