package faulttest_test

import (
	"testing"

	"github.com/tetherfn/tether/internal/testkit/faulttest"
)

// TestHarness checks the harness itself: not a broker's fault test.
func TestHarness(t *testing.T) { faulttest.Run(t, faulttest.Config{Messages: 2000}) }
