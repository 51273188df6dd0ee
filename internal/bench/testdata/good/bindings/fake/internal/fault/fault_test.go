package fault

import (
	"testing"

	ft "github.com/tetherfn/tether/internal/testkit/faulttest"
)

// TestFaults calls the suite from a func literal, under an alias.
func TestFaults(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run("x", func(t *testing.T) {
			ft.Variants(t, func(t *testing.T, batch bool) {
				ft.Run(t, ft.Config{Batch: batch, Ordered: ordered})
			})
		})
	}
}

// TestOther does not run the suite.
func TestOther(t *testing.T) { ft.Variants(t, func(*testing.T, bool) {}) }
