package scaffold

import (
	"fmt"
	"strings"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/suggest"
)

// ShortName is a binding type's name without its "bindings." prefix, as
// the command line accepts it: "aws.sqs" for "bindings.aws.sqs".
func ShortName(name string) string { return strings.TrimPrefix(name, "bindings.") }

// LookupType finds a registered binding type by name or alias, written
// with or without the "bindings." prefix.
func LookupType(name string) (*bindings.Type, bool) {
	if t, ok := bindings.Lookup(name); ok {
		return t, true
	}
	return bindings.Lookup("bindings." + name)
}

// TypeNames lists the short names of the registered types that have
// direction dir (0 for all), for messages and shell completion.
func TypeNames(dir bindings.Direction) []string {
	var names []string
	for _, t := range bindings.Types() {
		if dir == 0 || t.Directions.Has(dir) {
			names = append(names, ShortName(t.Name))
		}
	}
	return names
}

// SuggestType returns the full name of the registered type closest to a
// misspelt one, written with or without "bindings.", or "" when none is
// close.
func SuggestType(name string) string {
	var all []string
	for _, n := range bindings.TypeNames() {
		all = append(all, n, ShortName(n))
	}
	hint := suggest.Closest(name, all)
	if hint == "" {
		return ""
	}
	if t, ok := LookupType(hint); ok {
		return t.Name
	}
	return hint
}

// resolveType finds the type a --trigger or --output flag names, and
// checks that it can play that role.
func resolveType(name string, dir bindings.Direction) (*bindings.Type, error) {
	role := map[bindings.Direction]string{bindings.DirInput: "trigger a function", bindings.DirOutput: "be an output"}[dir]
	flag := map[bindings.Direction]string{bindings.DirInput: "--trigger", bindings.DirOutput: "--output"}[dir]
	usable := TypeNames(dir)
	t, ok := LookupType(name)
	if !ok {
		msg := fmt.Sprintf("%s: unknown binding type %q", flag, name)
		if hint := SuggestType(name); hint != "" {
			msg += fmt.Sprintf("; did you mean %q?", ShortName(hint))
		}
		return nil, fmt.Errorf("%s (types that can %s: %s; see tether bindings)", msg, role, strings.Join(usable, ", "))
	}
	if !t.Directions.Has(dir) {
		return nil, fmt.Errorf("%s: %s cannot %s: it is %s only (types that can: %s)", flag, t.Name, role, t.Directions, strings.Join(usable, ", "))
	}
	if dir == bindings.DirOutput && !t.Supports(bindings.OpCreate) {
		return nil, fmt.Errorf("%s: %s has no create operation, which functions.Output[T] uses; add it to Outputs by hand with its own client", flag, t.Name)
	}
	return t, nil
}
