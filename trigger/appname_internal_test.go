package trigger

import (
	"strings"
	"testing"
)

func TestAppFunctionName(t *testing.T) {
	taken := map[string]bool{}
	long := strings.Repeat("x", 70)
	for _, tc := range []struct{ component, want string }{
		{"orders", "app-orders"},
		{"Orders.v1", "app-orders-v1"},
		{"orders_v1", "app-orders-v1-2"},
		{"__", "app"},
		{long, "app-" + strings.Repeat("x", 59)},
		{long + "y", "app-" + strings.Repeat("x", 57) + "-2"},
	} {
		got := AppFunctionName(tc.component, taken)
		if got != tc.want || !nameRE.MatchString(got) {
			t.Errorf("AppFunctionName(%q) = %q, want %q (a DNS label)", tc.component, got, tc.want)
		}
	}
}
