package dev

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/gen"
)

// function is one function of the module: the generated main that runs
// it, and the package that holds its handler and components.
type function struct {
	name       string
	module     string // the module's folder, where go build runs
	pkgDir     string // the handler's package
	main       string // ./cmd/<name> relative to pkgDir
	components string // the components folder it runs on
	set        *component.Set
	webhook    bool            // triggered by a bindings.http input
	deps       map[string]bool // folders of the packages its main is built from; nil: unknown
	// overrides are the emulator settings of its emulated components, by
	// name; emulated is the folder its processes then read (runComponents).
	overrides map[string]map[string]string
	emulated  string
}

// target is one go list invocation: patterns in a module folder.
type target struct {
	dir      string
	patterns []string
}

// targets groups the command line's patterns by module: a folder holding
// its own go.mod (a function made with tether new next to another) is
// listed as dir/... in its own module.
func targets(wd string, patterns []string) []target {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	var out []target
	here := target{dir: wd}
	for _, p := range patterns {
		dir := strings.TrimSuffix(strings.TrimSuffix(p, "..."), "/")
		if dir == "" || dir == "." {
			here.patterns = append(here.patterns, p)
			continue
		}
		abs := dir
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(wd, dir)
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err == nil && abs != wd {
			out = append(out, target{dir: abs, patterns: []string{"./..."}})
			continue
		}
		here.patterns = append(here.patterns, p)
	}
	if len(here.patterns) > 0 {
		out = append([]target{here}, out...)
	}
	return out
}

// generate runs tether generate on the targets: it reports every problem,
// file:line:col first, and writes nothing when there is one.
func generate(ts []target) error {
	var problems []string
	var all []gen.File
	for _, t := range ts {
		files, diags := gen.Generate(t.patterns, &gen.Options{Dir: t.dir})
		for _, d := range diags {
			d.Pos.Filename = rel(t.dir, d.Pos.Filename)
			problems = append(problems, d.String())
		}
		all = append(all, files...)
	}
	if len(problems) > 0 {
		return &buildError{what: "generate", out: strings.Join(problems, "\n")}
	}
	_, err := gen.Write(all)
	return err
}

// discover finds the functions of the targets: the main packages holding
// a generated main_gen.go.
func discover(ts []target, env string) ([]*function, error) {
	var fns []*function
	for _, t := range ts {
		args := append([]string{"list", "-e", "-json=Dir,Name,GoFiles,Module"}, t.patterns...)
		cmd := exec.Command("go", args...)
		cmd.Dir = t.dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list %s in %s: %v\n%s", strings.Join(t.patterns, " "), t.dir, err, stderr.Bytes())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var p struct {
				Dir, Name string
				GoFiles   []string
				Module    *struct{ Dir string }
			}
			if err := dec.Decode(&p); err != nil {
				return nil, fmt.Errorf("go list: %w", err)
			}
			if p.Name != "main" || !slices.Contains(p.GoFiles, "main_gen.go") || filepath.Base(filepath.Dir(p.Dir)) != "cmd" {
				continue
			}
			f := &function{name: filepath.Base(p.Dir), pkgDir: filepath.Dir(filepath.Dir(p.Dir)), module: t.dir}
			if p.Module != nil {
				f.module = p.Module.Dir
			}
			f.main = "./" + filepath.ToSlash(rel(f.pkgDir, p.Dir))
			f.components = componentsDir(f.pkgDir, env)
			if f.components == "" {
				return nil, fmt.Errorf("function %s: no folder %s or %s", f.name,
					rel(t.dir, filepath.Join(f.pkgDir, "components", env)), rel(t.dir, filepath.Join(f.pkgDir, "components")))
			}
			fns = append(fns, f)
		}
	}
	if len(fns) == 0 {
		return nil, errors.New("no functions found: no generated main (cmd/<function>/main_gen.go) in the packages\nannotate a handler with //tether:function, or pass the folders that hold functions")
	}
	seen := map[string]string{}
	for _, f := range fns {
		if other, ok := seen[f.name]; ok {
			return nil, fmt.Errorf("two functions are called %s (%s and %s): rename one", f.name, other, f.pkgDir)
		}
		seen[f.name] = f.pkgDir
	}
	return fns, nil
}

// componentsDir is components/<env>, else components; "" when neither is
// a folder.
func componentsDir(pkgDir, env string) string {
	for _, d := range []string{filepath.Join(pkgDir, "components", env), filepath.Join(pkgDir, "components")} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return ""
}

// rel shortens path to be relative to dir when it is inside it.
func rel(dir, path string) string {
	r, err := filepath.Rel(dir, path)
	if err != nil || strings.HasPrefix(r, "..") {
		return path
	}
	return r
}
