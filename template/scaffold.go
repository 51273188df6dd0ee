package template

import "embed"

// Scaffold holds the templates of tether new, rendered by internal/scaffold:
//
//   - scaffold/: a new function's files. *.tmpl files are templates
//     (internal/scaffold.Data), other files are copied; __name__ in a path
//     becomes the package name.
//   - components/component.yaml.tmpl: one component file, for any binding
//     type, from its declaration (internal/scaffold.Component).
//   - components/<type>.yaml.tmpl and components/local/<type>.yaml.tmpl
//     (type without "bindings."): a type's own component file and local
//     variant, when the generic ones do not fit it.
//
//go:embed all:scaffold all:components
var Scaffold embed.FS
