package gen

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/types"
	"slices"
	"strconv"
	"strings"
	"text/template"

	tmpl "github.com/tetherfn/tether/template"
)

// templates are parsed once; a broken template is a bug in tether itself.
var templates = template.Must(template.ParseFS(tmpl.Gen, "gen/*.tmpl"))

// staleName is the generic func whose calls pin down the handler types the
// generated code was written for. Its name is what the compiler shows when a
// call no longer compiles, so it says what to do.
const staleName = "tetherIsStale_RunGoGenerate"

// localNames are the identifiers the generated code declares inside its
// funcs; an import by one of these names would be shadowed there.
var localNames = []string{"ctx", "m", "in", "out", "o", "res", "err", "data", "contentType", "msgs", "d", "b"}

// fixedImports are the packages the generated code itself refers to, by the
// key templates use for them (.Q.<key>).
var fixedImports = []struct{ key, path string }{
	{"context", "context"},
	{"errors", "errors"},
	{"fmt", "fmt"},
	{"json", "encoding/json"},
	{"bindings", bindingsPath},
	{"functions", functionsPath},
	{"trigger", triggerPath},
}

// importSpec is one import of a generated file.
type importSpec struct {
	Name     string
	Path     string
	Explicit bool // Name differs from the package's own name
	used     bool
}

// importSet names the imports of one generated file so that no name clashes
// with another import, a package-level identifier, or a local of the
// generated code.
type importSet struct {
	self   string // the package's own path: its types need no qualifier
	taken  map[string]bool
	byPath map[string]*importSpec
	prefer map[string]string // path -> the name the package's own files import it by
}

func newImportSet(self *types.Package, files []*ast.File) *importSet {
	s := &importSet{self: self.Path(), taken: map[string]bool{}, byPath: map[string]*importSpec{}, prefer: map[string]string{}}
	for _, f := range files {
		for _, imp := range f.Imports {
			if imp.Name == nil || imp.Name.Name == "_" || imp.Name.Name == "." {
				continue
			}
			if path, err := strconv.Unquote(imp.Path.Value); err == nil {
				s.prefer[path] = imp.Name.Name
			}
		}
	}
	for _, n := range self.Scope().Names() {
		s.taken[n] = true
	}
	for _, n := range localNames {
		s.taken[n] = true
	}
	s.taken[staleName] = true
	// The generated code's own imports are named first, so that they keep
	// their usual names unless the package itself takes them.
	for _, f := range fixedImports {
		base := f.path[strings.LastIndex(f.path, "/")+1:]
		s.name(f.path, base, base)
	}
	return s
}

// name returns the name the package at path (called pkgName) is imported
// by, adding it under want, or want with a number, when it is new.
func (s *importSet) name(path, want, pkgName string) string {
	if spec, ok := s.byPath[path]; ok {
		return spec.Name
	}
	name := want
	for i := 2; s.taken[name]; i++ {
		name = want + strconv.Itoa(i)
	}
	s.taken[name] = true
	// Write the name when it is not the package's, or when the package's
	// name does not match its path (as goimports does).
	explicit := name != pkgName || pkgName != path[strings.LastIndex(path, "/")+1:]
	s.byPath[path] = &importSpec{Name: name, Path: path, Explicit: explicit}
	return name
}

// use marks the import at path as used and returns its name.
func (s *importSet) use(path string) string {
	spec := s.byPath[path]
	spec.used = true
	return spec.Name
}

// qualifier is the types.Qualifier of the generated file: it imports every
// package a written type refers to.
func (s *importSet) qualifier(p *types.Package) string {
	if p.Path() == s.self {
		return ""
	}
	want := p.Name()
	if pref, ok := s.prefer[p.Path()]; ok {
		want = pref
	}
	n := s.name(p.Path(), want, p.Name())
	s.byPath[p.Path()].used = true
	return n
}

// specs returns the used imports, the standard library first.
func (s *importSet) specs() []importSpec {
	var std, other []importSpec
	for _, spec := range s.byPath {
		if !spec.used {
			continue
		}
		if isStd(spec.Path) {
			std = append(std, *spec)
		} else {
			other = append(other, *spec)
		}
	}
	byPath := func(a, b importSpec) int { return strings.Compare(a.Path, b.Path) }
	slices.SortFunc(std, byPath)
	slices.SortFunc(other, byPath)
	if len(std) > 0 && len(other) > 0 {
		std = append(std, importSpec{}) // a blank line between the groups
	}
	return append(std, other...)
}

// isStd: standard library paths have no dot in their first element.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// fileData is what gen/function.go.tmpl renders.
type fileData struct {
	Package   string
	Imports   []importSpec
	Stale     string
	Functions []*function
	Outputs   []*outputs
	Q         map[string]string // names of the fixed imports, by key
}

// render writes the package's tether_gen.go.
func (a *analysis) render() ([]byte, error) {
	q := map[string]string{}
	use := func(key string) {
		for _, f := range fixedImports {
			if f.key == key {
				q[key] = a.imports.use(f.path)
			}
		}
	}
	use("context")
	use("bindings")
	use("trigger")
	for _, fn := range a.funcs {
		if fn.Input == inputJSON || fn.Input == inputJSONPointer {
			use("json")
			use("fmt")
			use("functions")
		}
		if fn.Input == inputCloudEvent || fn.Input == inputEvent {
			use("functions")
		}
		if fn.Batch != notBatch {
			use("functions")
		}
		if fn.HasResult {
			use("fmt")
			use("functions")
		}
		if fn.Outputs != nil {
			use("errors")
		}
	}
	data := fileData{
		Package:   a.pkg.Name,
		Imports:   a.imports.specs(),
		Stale:     staleName,
		Functions: a.funcs,
		Outputs:   a.ordered,
		Q:         q,
	}
	return execute("function.go.tmpl", data)
}

// mainData is what gen/main.go.tmpl renders.
type mainData struct {
	Name        string
	Handler     string
	Constructor string
	Package     string // the name the function's package is imported by
	Trigger     string // the name package trigger is imported by
	Imports     []importSpec
}

// renderMain writes the main of one function.
func (a *analysis) renderMain(fn *function) ([]byte, error) {
	s := &importSet{self: "main", taken: map[string]bool{"main": true}, byPath: map[string]*importSpec{}}
	data := mainData{Name: fn.Name, Handler: fn.Handler, Constructor: fn.Constructor}
	data.Trigger = s.name(triggerPath, "trigger", "trigger")
	data.Package = s.name(a.pkg.PkgPath, a.pkg.Name, a.pkg.Name)
	s.byPath[triggerPath].used = true
	s.byPath[a.pkg.PkgPath].used = true
	for _, d := range slices.Concat(a.g.opts.Drivers, componentDrivers(a.pkg.Dir)) {
		if _, dup := s.byPath[d]; !dup && d != a.pkg.PkgPath {
			s.byPath[d] = &importSpec{Name: "_", Path: d, Explicit: true, used: true}
		}
	}
	data.Imports = s.specs()
	return execute("main.go.tmpl", data)
}

func execute(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	src, err := format.Source(buf.Bytes())
	if err != nil {
		// A bug in a template or in how a type was written: show the text.
		return nil, fmt.Errorf("format generated code: %w\n%s", err, buf.Bytes())
	}
	return src, nil
}
