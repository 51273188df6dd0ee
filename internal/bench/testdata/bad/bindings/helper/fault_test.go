package helper

import (
	"testing"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

func TestFault(t *testing.T) { runFaults(t) }

// runFaults hides the call from the report, which runs tests by name.
func runFaults(t *testing.T) {
	faulttest.Run(t, faulttest.Config{})
}
