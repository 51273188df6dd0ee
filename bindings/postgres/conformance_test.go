package postgres_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
	"github.com/tetherfn/tether/bindings/postgres"
)

func TestConformance(t *testing.T) {
	c := bindingtest.Config{
		Type: postgres.TypeName,
		Metadata: func(t *testing.T) map[string]string {
			return map[string]string{
				"connectionString": connString,
				"table":            bindingtest.Unique("conformance"),
			}
		},
		InvalidMetadata: []map[string]string{
			{"table": "no spaces"},
			{"table": "too.many.parts"},
			{"leaseDuration": "0"},
			{"pollInterval": "0"},
			{"timeout": "0"},
			{"maxConns": "several"},
			{"queryExecMode": "turbo"},
		},
	}
	if testing.Short() {
		c.Messages = 1000
	}
	bindingtest.Run(t, c)
}
