package cron_test

import (
	"testing"

	"github.com/tetherfn/tether/bindings/bindingtest"
)

// TestScaffold renders a function triggered by cron (template/components/
// cron.yaml.tmpl): the schedule has a working default.
func TestScaffold(t *testing.T) {
	c, ok := bindingtest.Scaffold(t, "cron").Get("orders-in")
	if !ok || c.Metadata["schedule"] != "@every 1m" {
		t.Errorf("component %+v: want schedule @every 1m", c)
	}
}
