package component

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Diagnostic is one problem found while loading components, with the place
// it was found.
type Diagnostic struct {
	File string
	Line int // 1-based; 0 when the problem is about the file or folder as a whole
	Msg  string
}

// Error returns "file:line: msg", or "file: msg" when there is no line.
func (d Diagnostic) Error() string {
	if d.Line > 0 {
		return d.File + ":" + strconv.Itoa(d.Line) + ": " + d.Msg
	}
	return d.File + ": " + d.Msg
}

// Diagnostics is every problem found by one Load or Parse. As an error it
// prints one diagnostic per line, sorted by file, then line.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.Error()
	}
	return strings.Join(lines, "\n")
}

// sort orders ds by file, then line, keeping the order of discovery for
// problems on the same line.
func (ds Diagnostics) sort() {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}

// err returns ds sorted as an error, or nil when there is none, so that a
// caller's err != nil never sees an empty Diagnostics.
func (ds Diagnostics) err() error {
	if len(ds) == 0 {
		return nil
	}
	ds.sort()
	return ds
}
