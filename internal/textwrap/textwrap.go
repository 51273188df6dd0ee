// Package textwrap breaks prose into lines for terminals and YAML comments.
package textwrap

import "strings"

// Lines breaks text into lines of at most width bytes, at spaces; a longer
// word gets a line of its own.
func Lines(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		switch {
		case line == "":
			line = w
		case len(line)+1+len(w) <= width:
			line += " " + w
		default:
			lines = append(lines, line)
			line = w
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
