// Package scaffold renders a new Tether function: a Go package with its
// handler and a test, a components/ folder with one file per binding (and
// components/local/, where in-memory queues stand in for the brokers), a
// README, a Dockerfile and a go.mod. It is what tether new runs.
//
// The component files come from the binding types' declarations
// (bindings.Type), through one generic template, so that every registered
// type can be scaffolded; a type that needs more gets its own template.
// Templates are embedded (package template); Options.Templates overlays a
// folder of one's own.
//
//	files, err := scaffold.Render(scaffold.Options{
//		Name: "orders", Trigger: "nats", Outputs: []string{"postgresql"},
//		Tether: scaffold.Tether{Replace: "/src/tether"},
//	})
//	if err == nil {
//		err = scaffold.Write("orders", files) // never overwrites a file
//	}
//	if err == nil {
//		err = scaffold.Tidy(ctx, "orders", true) // go mod tidy, offline
//	}
package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"golang.org/x/mod/modfile"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/textwrap"
	tmpl "github.com/tetherfn/tether/template"
)

// TetherModule is the module path of Tether.
const TetherModule = "github.com/tetherfn/tether"

// GoVersion is the go directive of new modules: Tether's own.
const GoVersion = "1.26.0"

// replacedVersion is the version required of a module that a replace
// directive points at a folder, as go mod uses for such modules.
const replacedVersion = "v0.0.0-00010101000000-000000000000"

// Options say what to scaffold.
type Options struct {
	// Name is the function's name, a DNS-1123 label.
	Name string
	// Package is the Go package name; "" derives it from Name.
	Package string
	// Module is the new module's path; "" means Name.
	Module string
	// Trigger is the binding type of the trigger, with or without the
	// "bindings." prefix.
	Trigger string
	// Outputs are the binding types of the outputs, in order; a type may
	// appear more than once.
	Outputs []string
	// Tether says how the new module gets Tether.
	Tether Tether
	// Templates, when not nil, overlays the embedded templates: its files
	// win over the embedded ones of the same path, and its other files
	// under scaffold/ are rendered too.
	Templates fs.FS
}

// Tether says which Tether the new module builds against.
type Tether struct {
	// Replace is the absolute path of a Tether checkout that a replace
	// directive points the module at, for when Tether is not on a module
	// proxy. Its go.sum seeds the new module's.
	Replace string
	// Version is the version required; "" with Replace uses the version go
	// gives replaced modules.
	Version string
}

// File is one file to write.
type File struct {
	// Path is relative to the function's folder, slash-separated.
	Path    string
	Content []byte
}

// Data is what the templates of scaffold/ render.
type Data struct {
	Name    string // the function's name
	Package string // its Go package name
	Module  string // the module path
	// Import is the import spec of the package in its test: the path,
	// named when the path does not end in the package name.
	Import string
	// Trigger is the trigger component; Outputs the output components, in
	// flag order.
	Trigger *Component
	Outputs []*Component
	// Components are the files of components/ and Local those of
	// components/local/ (the dead-letter queue included).
	Components []*Component
	Local      []*Component
	// DeadLetter is the local dead-letter component.
	DeadLetter *Component
	Tether     Tether
	// TetherModule is Tether's module path.
	TetherModule string
	GoVersion    string
}

// Secrets lists the keys of components/ read from the environment.
func (d *Data) Secrets() []Key {
	var out []Key
	for _, c := range d.Components {
		out = append(out, c.Secrets()...)
	}
	return out
}

// Render checks the options and renders the function's files. It reads
// the templates and, with Tether.Replace, the checkout's go.sum; it writes
// nothing.
func Render(o Options) ([]File, error) {
	d, err := prepare(o)
	if err != nil {
		return nil, err
	}
	r := &renderer{fsys: tmpl.Scaffold, data: d}
	if o.Templates != nil {
		r.fsys = overlay{top: o.Templates, base: tmpl.Scaffold}
	}
	var files []File
	paths, err := r.scaffoldPaths()
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		f, err := r.scaffoldFile(p)
		if err != nil {
			return nil, err
		}
		if f != nil {
			files = append(files, *f)
		}
	}
	for _, c := range d.Components {
		f, err := r.component(c, "components/"+c.Name+".yaml")
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for _, c := range d.Local {
		f, err := r.component(c, "components/local/"+c.Name+".yaml")
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if o.Tether.Replace != "" && !slices.ContainsFunc(files, func(f File) bool { return f.Path == "go.sum" }) {
		sum, err := os.ReadFile(filepath.Join(o.Tether.Replace, "go.sum"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read the go.sum of %s: %w", o.Tether.Replace, err)
		}
		files = append(files, File{Path: "go.sum", Content: sum})
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// prepare validates the options and builds the templates' data.
func prepare(o Options) (*Data, error) {
	var errs []error
	if err := CheckName(o.Name); err != nil {
		errs = append(errs, err)
	}
	pkg := o.Package
	if pkg == "" {
		pkg = PackageName(o.Name)
		if err := CheckPackage(pkg); err != nil && CheckName(o.Name) == nil {
			errs = append(errs, fmt.Errorf("%w; choose one with --package", err))
		}
	} else if err := CheckPackage(pkg); err != nil {
		errs = append(errs, err)
	}
	mod := o.Module
	if mod == "" {
		mod = o.Name
	}
	if err := CheckModule(mod); err != nil && CheckName(o.Name) == nil {
		errs = append(errs, err)
	}
	if o.Tether.Replace != "" && !filepath.IsAbs(o.Tether.Replace) {
		errs = append(errs, fmt.Errorf("tether checkout %q: want an absolute path", o.Tether.Replace))
	}
	if o.Tether.Replace == "" && o.Tether.Version == "" {
		errs = append(errs, errors.New("no Tether to build against: give a checkout (replace) or a version"))
	}
	var trig *bindings.Type
	if o.Trigger == "" {
		errs = append(errs, errors.New("--trigger: a binding type is required (see tether bindings)"))
	} else if t, err := resolveType(o.Trigger, bindings.DirInput); err != nil {
		errs = append(errs, err)
	} else {
		trig = t
	}
	var outs []*bindings.Type
	for _, name := range o.Outputs {
		t, err := resolveType(name, bindings.DirOutput)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		outs = append(outs, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	d := &Data{
		Name: o.Name, Package: pkg, Module: mod, Tether: o.Tether,
		TetherModule: TetherModule, GoVersion: GoVersion,
	}
	if d.Tether.Version == "" {
		d.Tether.Version = replacedVersion
	}
	d.Import = strconv.Quote(mod)
	if path.Base(mod) != pkg {
		d.Import = pkg + " " + d.Import
	}

	memory, ok := bindings.Lookup("bindings.memory")
	if !ok {
		return nil, errors.New("bindings.memory is not registered: the local components need it")
	}
	trigName := o.Name + "-in"
	dlName := o.Name + "-deadletter"
	var realDL *Component
	trigSet := memorySet(trig, trigName)
	if RealDeadLetter(trig) {
		if trigSet == nil {
			trigSet = map[string]string{}
		}
		trigSet["deadLetter"] = dlName
		realDL = newComponent(o.Name, dlName, "dead letter", trig, trig, bindings.DirOutput, false, memorySet(trig, dlName))
	}
	d.Trigger = newComponent(o.Name, trigName, "trigger", trig, trig, bindings.DirInput, false, trigSet)
	d.Components = append(d.Components, d.Trigger)
	used := map[string]int{trigName: 1, dlName: 1}
	fields := map[string]int{}
	for _, t := range outs {
		last := ShortName(t.Name)
		last = last[strings.LastIndex(last, ".")+1:]
		name := o.Name + "-" + fixName(last)
		if used[name]++; used[name] > 1 {
			name += "-" + strconv.Itoa(used[name])
		}
		field := exportedName(last)
		if fields[field]++; fields[field] > 1 {
			field += strconv.Itoa(fields[field])
		}
		c := newComponent(o.Name, name, "output", t, t, bindings.DirOutput, false, memorySet(t, name))
		c.Field = field
		d.Outputs = append(d.Outputs, c)
		d.Components = append(d.Components, c)
	}
	if realDL != nil {
		d.Components = append(d.Components, realDL)
	}

	// components/local: each binding becomes an in-memory queue of its
	// own name, so the function runs with no broker; the trigger can be
	// written to (tether send), and failed messages go to a dead-letter
	// queue rather than coming back for ever.
	for _, c := range d.Components {
		if c == realDL {
			continue // d.DeadLetter below stands in for it
		}
		dir, set := bindings.DirOutput, map[string]string{"queue": c.Name}
		if c == d.Trigger {
			dir = bindings.DirBoth
			set["deadLetter"] = dlName
		}
		l := newComponent(o.Name, c.Name, c.Role, memory, c.Type, dir, true, set)
		l.Field = c.Field
		d.Local = append(d.Local, l)
	}
	d.DeadLetter = newComponent(o.Name, dlName, "dead letter", memory, memory, bindings.DirOutput, true, map[string]string{"queue": dlName})
	d.Local = append(d.Local, d.DeadLetter)
	return d, nil
}

// RealDeadLetter reports whether a function scaffolded on trigger type t
// gets, in components/, a dead-letter component of that type: on the real
// broker too, messages that fail for good go to a dead letter, so that a
// poison message does not come back every backoff for ever. Schedules (no
// output) and webhooks (whose output is an HTTP call to somewhere else)
// have none: a failure waits for the next tick, or is answered to the
// caller, who retries.
func RealDeadLetter(t *bindings.Type) bool {
	return t.Directions.Has(bindings.DirOutput) && t.Name != "bindings.http"
}

// memorySet names the queue of a memory component after the component.
func memorySet(t *bindings.Type, name string) map[string]string {
	if t.Name == "bindings.memory" {
		return map[string]string{"queue": name}
	}
	return nil
}

// nameVar is replaced by the package name in the paths of scaffold/.
const nameVar = "__name__"

// renderer renders templates from one file system.
type renderer struct {
	fsys fs.FS
	data *Data
}

var funcs = template.FuncMap{
	"yaml":  yamlString,
	"quote": strconv.Quote,
	"short": ShortName,
	"join":  strings.Join,
	// modPath quotes a path for go.mod when it needs it (spaces...).
	"modPath": modfile.AutoQuote,
	"upper":   strings.ToUpper,
	// comment wraps text into YAML comment lines.
	"comment": func(text string) string {
		return "# " + strings.Join(textwrap.Lines(text, commentWidth+2), "\n# ")
	},
	// minor is a Go version's major.minor: "1.26.0" is 1.26.
	"minor": func(v string) string {
		if parts := strings.SplitN(v, ".", 3); len(parts) >= 2 {
			return parts[0] + "." + parts[1]
		}
		return v
	},
}

func (r *renderer) parse(name string) (*template.Template, error) {
	src, err := fs.ReadFile(r.fsys, name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(path.Base(name)).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return t, nil
}

func (r *renderer) execute(name string, data any) ([]byte, error) {
	t, err := r.parse(name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// scaffoldPaths lists the templates of the function's files: those under
// scaffold/, each replaced by the file of the same path under
// triggers/<trigger type>/ when there is one, and that folder's other
// files. They are sorted by the path they are written to.
func (r *renderer) scaffoldPaths() ([]string, error) {
	byOut := map[string]string{}
	for _, root := range []string{"scaffold", TriggerTemplates + "/" + ShortName(r.data.Trigger.Type.Name)} {
		if _, err := fs.Stat(r.fsys, root); err != nil && root != "scaffold" {
			continue // no templates of the trigger's own
		}
		err := fs.WalkDir(r.fsys, root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !e.IsDir() {
				byOut[strings.TrimPrefix(p, root+"/")] = p
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scaffold templates: %w", err)
		}
	}
	var paths []string
	for _, out := range slices.Sorted(maps.Keys(byOut)) {
		paths = append(paths, byOut[out])
	}
	return paths, nil
}

// TriggerTemplates holds, per trigger type (short name), the templates
// that replace or add to scaffold/ for functions that type triggers: a
// handler that takes a schedule's tick rather than a message, say.
const TriggerTemplates = "triggers"

// scaffoldFile renders one file of scaffold/: *.tmpl files are templates
// (a template that renders to nothing but space is left out), others are
// copied. Go files are formatted, which also catches a template that
// writes broken Go.
func (r *renderer) scaffoldFile(p string) (*File, error) {
	rel := strings.TrimPrefix(p, "scaffold/")
	if own := TriggerTemplates + "/" + ShortName(r.data.Trigger.Type.Name) + "/"; strings.HasPrefix(p, own) {
		rel = strings.TrimPrefix(p, own)
	}
	out := strings.ReplaceAll(rel, nameVar, r.data.Package)
	var content []byte
	var err error
	if strings.HasSuffix(p, ".tmpl") {
		out = strings.TrimSuffix(out, ".tmpl")
		content, err = r.execute(p, r.data)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(content)) == 0 {
			return nil, nil
		}
	} else if content, err = fs.ReadFile(r.fsys, p); err != nil {
		return nil, err
	}
	if strings.HasSuffix(out, ".go") {
		formatted, err := format.Source(content)
		if err != nil {
			return nil, fmt.Errorf("template %s renders invalid Go: %w\n%s", p, err, content)
		}
		content = formatted
	}
	return &File{Path: out, Content: content}, nil
}

// ComponentTemplate is the generic component template; a type's own is
// components/<short name>.yaml.tmpl, and components/local/<short
// name>.yaml.tmpl its local variant.
const ComponentTemplate = "components/component.yaml.tmpl"

// component renders one component file, with the template of its type
// when there is one.
func (r *renderer) component(c *Component, out string) (File, error) {
	name := ComponentTemplate
	own := "components/" + ShortName(c.Declared.Name) + ".yaml.tmpl"
	if c.Local {
		own = "components/local/" + ShortName(c.Declared.Name) + ".yaml.tmpl"
	}
	if _, err := fs.Stat(r.fsys, own); err == nil && !(c.Local && c.Role == "dead letter") {
		name = own
		if c.Local {
			// A type's own local template writes the type itself, not
			// the memory stand-in.
			cc := *c
			cc.Type = c.Declared
			c = &cc
		}
	}
	// A type's own template is parsed after the generic one, so that it
	// can use (or redefine) the generic one's named templates, such as
	// "key", and even call the generic one itself.
	set, err := r.parse(ComponentTemplate)
	if err != nil {
		return File{}, err
	}
	if name != ComponentTemplate {
		src, err := fs.ReadFile(r.fsys, name)
		if err != nil {
			return File{}, err
		}
		if set, err = set.New(path.Base(name)).Parse(string(src)); err != nil {
			return File{}, fmt.Errorf("template %s: %w", name, err)
		}
	}
	var buf bytes.Buffer
	if err := set.Execute(&buf, c); err != nil {
		return File{}, fmt.Errorf("template %s: %w", name, err)
	}
	return File{Path: out, Content: tidyYAML(buf.Bytes())}, nil
}

// tidyYAML drops trailing spaces and runs of blank lines that template
// actions leave behind.
func tidyYAML(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	var out []string
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" && (len(out) == 0 || out[len(out)-1] == "") {
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n")
}

// overlay is a file system whose top layer hides the files of the same
// path in the base layer.
type overlay struct{ top, base fs.FS }

func (o overlay) Open(name string) (fs.File, error) {
	f, err := o.top.Open(name)
	if err != nil {
		return o.base.Open(name)
	}
	if st, err := f.Stat(); err == nil && !st.IsDir() {
		return f, nil
	}
	// A folder: the base's when it has one (ReadDir merges them anyway).
	if b, err := o.base.Open(name); err == nil {
		f.Close()
		return b, nil
	}
	return f, nil
}

// ReadDir merges the entries of both layers, so that WalkDir sees the top
// layer's extra files.
func (o overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	seen := map[string]bool{}
	var out []fs.DirEntry
	var firstErr error
	for _, layer := range []fs.FS{o.top, o.base} {
		entries, err := fs.ReadDir(layer, name)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, e := range entries {
			if !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e)
			}
		}
	}
	if out == nil && firstErr != nil {
		return nil, firstErr
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}
