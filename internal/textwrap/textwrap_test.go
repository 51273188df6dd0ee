package textwrap_test

import (
	"slices"
	"testing"

	"github.com/tetherfn/tether/internal/textwrap"
)

func TestLines(t *testing.T) {
	for _, tc := range []struct {
		text  string
		width int
		want  []string
	}{
		{"", 10, nil},
		{"a bb ccc dddd", 6, []string{"a bb", "ccc", "dddd"}},
		{"  spaced   out  ", 20, []string{"spaced out"}},
		{"short averyveryverylongword x", 8, []string{"short", "averyveryverylongword", "x"}},
	} {
		if got := textwrap.Lines(tc.text, tc.width); !slices.Equal(got, tc.want) {
			t.Errorf("Lines(%q, %d) = %q, want %q", tc.text, tc.width, got, tc.want)
		}
	}
}
