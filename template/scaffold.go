package template

import "embed"

// Scaffold holds the templates of tether new, rendered by internal/scaffold:
//
//   - scaffold/: a new function's files. *.tmpl files are templates
//     (internal/scaffold.Data), other files are copied; __name__ in a path
//     becomes the package name.
//   - components/component.yaml.tmpl: one component file, for any binding
//     type, from its declaration (internal/scaffold.Component).
//   - triggers/<type>/ (type without "bindings."): files that replace or
//     add to scaffold/ for functions triggered by that type, such as a
//     handler taking a schedule's tick.
//   - components/<type>.yaml.tmpl and components/local/<type>.yaml.tmpl
//     (type without "bindings."): a type's own component file and local
//     variant, when the generic ones do not fit it. They are parsed after
//     the generic template, whose named templates ("key", "entry") and
//     body ("component.yaml.tmpl") they may use or redefine.
//
// Besides text/template's own, templates may call yaml (a YAML string),
// quote (a Go string), short (a type name without "bindings."), join,
// modPath (a path quoted for go.mod), upper, minor (a Go version's
// major.minor) and comment (text wrapped into YAML comment lines).
//
//go:embed all:scaffold all:components all:triggers
var Scaffold embed.FS
