package memory_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	_ "github.com/tetherfn/tether/bindings/memory"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: "bindings.memory",
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{"queue": bindingtest.Unique("conformance")}
		},
		InvalidMetadata: []map[string]string{
			{"maxLength": "-1"},
			{"maxLength": "many"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
