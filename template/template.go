// Package template holds the text templates tether renders, embedded in the
// tether binary so that it needs no files beside it.
//
// Gen holds the templates of generated code, rendered by internal/gen:
//
//	t := template.Must(template.ParseFS(tmpl.Gen, "gen/*.tmpl"))
package template

import "embed"

// Gen holds the generated-code templates: gen/function.go.tmpl renders a
// package's tether_gen.go, gen/main.go.tmpl one function's main_gen.go.
//
//go:embed gen/*.tmpl
var Gen embed.FS
