package gen_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/tetherfn/tether/internal/gen"
)

var update = flag.Bool("update", false, "rewrite the want/ sections of testdata/*.txtar from the generator's output")

// The golden cases are testdata/*.txtar archives. Files outside want/ are
// the input, extracted into a folder named after the case inside a module
// that requires tether (replaced by this working tree). The generator runs
// on the case's packages; want/<path> holds each file it generates,
// want/removed the stale generated files it removes, want/diagnostics its
// diagnostics (file:line:col: message, paths relative to the case).
//
// Cases without diagnostics are then written and built together, vetted,
// and their tests (input *_test.go files, which drive the generated code
// with fntest) are run.

// repoRoot is the root of the tether module.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// goEnv is the go command's environment for temporary modules: offline,
// resolving everything from the module cache, never a workspace.
func goEnv() []string {
	return append(os.Environ(), "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
}

// newModule makes a module example.com/app that uses this tether tree.
func newModule(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	gomod := "module example.com/app\n\ngo 1.26\n\nrequire github.com/tetherfn/tether v0.0.0\n\nreplace github.com/tetherfn/tether => " + repoRoot(t) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repoRoot(t), "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func extract(t testing.TB, dir string, files []txtar.File) {
	t.Helper()
	for _, f := range files {
		if strings.HasPrefix(f.Name, "want/") {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func goCmd(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, goEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// outcome renders what Generate returned for a case as want/ files.
func outcome(t testing.TB, dir string, files []gen.File, diags []gen.Diagnostic) []txtar.File {
	t.Helper()
	rel := func(path string) string {
		r, err := filepath.Rel(dir, path)
		if err != nil || strings.HasPrefix(r, "..") {
			t.Fatalf("%s is outside the case folder %s", path, dir)
		}
		return filepath.ToSlash(r)
	}
	var out []txtar.File
	var removed []string
	for _, f := range files {
		if f.Content == nil {
			removed = append(removed, rel(f.Path)+"\n")
			continue
		}
		out = append(out, txtar.File{Name: "want/" + rel(f.Path), Data: f.Content})
	}
	if len(removed) > 0 {
		out = append(out, txtar.File{Name: "want/removed", Data: []byte(strings.Join(removed, ""))})
	}
	if len(diags) > 0 {
		var b strings.Builder
		for _, d := range diags {
			if d.Pos.Filename != "" {
				d.Pos.Filename = rel(d.Pos.Filename)
			}
			b.WriteString(d.String() + "\n")
		}
		out = append(out, txtar.File{Name: "want/diagnostics", Data: []byte(b.String())})
	}
	return out
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	module := newModule(t)
	var built []string // cases whose output is to be built and tested
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".txtar")
		ok := t.Run(name, func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(module, name)
			extract(t, dir, ar.Files)
			files, diags := gen.Generate([]string{"./..."}, &gen.Options{Dir: dir, Env: goEnv()})
			got := outcome(t, dir, files, diags)
			if *update {
				kept := slices.DeleteFunc(slices.Clone(ar.Files), func(f txtar.File) bool { return strings.HasPrefix(f.Name, "want/") })
				ar.Files = append(kept, got...)
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				compare(t, ar.Files, got)
			}
			if len(diags) > 0 {
				// Broken input must not break the build of the others.
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				return
			}
			if _, err := gen.Write(files); err != nil {
				t.Fatal(err)
			}
			built = append(built, name)
		})
		if !ok {
			return
		}
	}
	if len(built) == 0 {
		return // only cases with diagnostics were run (go test -run)
	}
	t.Run("rerun-is-stable", func(t *testing.T) {
		files, diags := gen.Generate([]string{"./..."}, &gen.Options{Dir: module, Env: goEnv()})
		if len(diags) > 0 {
			t.Fatalf("diagnostics on generated code: %v", diags)
		}
		changed, err := gen.Changed(files)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range changed {
			t.Errorf("a second run changes %s", f.Path)
		}
	})
	t.Run("build-vet-test", func(t *testing.T) {
		goCmd(t, module, "build", "./...")
		goCmd(t, module, "vet", "./...")
		goCmd(t, module, "test", "-count=1", "./...")
	})
}

// compare checks the want/ files of the archive against the generator's.
func compare(t *testing.T, archive, got []txtar.File) {
	t.Helper()
	want := map[string][]byte{}
	for _, f := range archive {
		if strings.HasPrefix(f.Name, "want/") {
			want[f.Name] = f.Data
		}
	}
	for _, f := range got {
		w, ok := want[f.Name]
		delete(want, f.Name)
		switch {
		case !ok:
			t.Errorf("unexpected %s:\n%s", f.Name, f.Data)
		case !bytes.Equal(w, f.Data):
			t.Errorf("%s differs (run go test ./internal/gen -update to accept):\n--- want\n%s\n--- got\n%s", f.Name, w, f.Data)
		}
	}
	for name := range want {
		t.Errorf("missing %s", name)
	}
}
