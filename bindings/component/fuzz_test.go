package component

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that no input makes Parse panic, that every problem it
// reports is a Diagnostic on a line of the input, and that it answers the
// same way twice. The seed corpus is under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const file = "fuzz.yaml"
		comps, err := Parse(file, data)
		lines := yamlLineCount(data)
		if err != nil {
			var ds Diagnostics
			if !errors.As(err, &ds) || len(ds) == 0 {
				t.Fatalf("error %T is not a non-empty Diagnostics: %v", err, err)
			}
			if comps != nil {
				t.Fatalf("components along with an error")
			}
			for _, d := range ds {
				if d.File != file || d.Line < 1 || d.Line > lines || d.Msg == "" {
					t.Fatalf("diagnostic %q is not on a line of the input (1 to %d)", d.Error(), lines)
				}
			}
		}
		for _, c := range comps {
			if c.Name == "" || c.Binding == nil || c.Metadata == nil || c.Line < 1 || c.Line > lines {
				t.Fatalf("incomplete component %+v", c)
			}
		}
		comps2, err2 := Parse(file, data)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || len(comps) != len(comps2) {
			t.Fatalf("Parse is not deterministic:\n%v\n---\n%v", err, err2)
		}
	})
}

// yamlLineCount counts lines as YAML does: CR, LF, CRLF, NEL, LS and PS
// all end a line.
func yamlLineCount(data []byte) int {
	s := string(data)
	n := 1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
			size++
			n++
		case r == '\r', r == '\n', r == 0x85, r == 0x2028, r == 0x2029:
			n++
		}
		i += size
	}
	return n
}
