package gen

import (
	"go/token"
	"slices"
	"strings"
)

// Function describes one //tether:function as the generator checked it: what
// `tether build` stamps into an image and `tether deploy` renders manifests
// from.
type Function struct {
	Name    string         // the function's name (a DNS-1123 label)
	Trigger string         // the input component
	Return  string         // the component the result goes to; "" when none
	Outputs []string       // the output components of its Outputs struct, in field order
	Handler string         // the Go func's name
	Package string         // the package's import path
	Dir     string         // the package's folder (absolute)
	Pos     token.Position // of the directive
}

// Components returns every component the function names: its trigger, its
// return binding and its outputs, each once, in that order.
func (f Function) Components() []string {
	out := []string{f.Trigger}
	for _, c := range append([]string{f.Return}, f.Outputs...) {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// Functions loads the packages matching patterns and returns their
// functions, sorted by name, with the same diagnostics Generate reports:
// a function is listed only when its package has none.
func Functions(patterns []string, opts *Options) ([]Function, []Diagnostic) {
	var fns []Function
	_, diags := generate(patterns, opts, func(a *analysis) {
		for _, fn := range a.funcs {
			f := Function{
				Name: fn.Name, Trigger: fn.Trigger, Return: fn.Return, Handler: fn.Handler,
				Package: a.pkg.PkgPath, Dir: a.pkg.Dir, Pos: a.g.fset.Position(fn.pos),
			}
			if fn.Outputs != nil {
				for _, fd := range fn.Outputs.Fields {
					if fd.Component != "" {
						f.Outputs = append(f.Outputs, fd.Component)
					}
				}
			}
			fns = append(fns, f)
		}
	})
	slices.SortFunc(fns, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return fns, diags
}
