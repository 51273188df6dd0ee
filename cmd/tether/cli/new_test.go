package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tetherRoot is the checkout the tests run in.
func tetherRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestNewWritesAFunction scaffolds in-process (without go mod tidy: the
// end-to-end test in cmd/tether/e2e builds, tests and runs what new writes).
func TestNewWritesAFunction(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := execCLI(t, dir, "new", "hello", "--trigger", "nats", "--output", "memory", "--tidy=false", "--tether-path", tetherRoot(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, f := range []string{"go.mod", "go.sum", "hello.go", "hello_test.go", "README.md", "Dockerfile",
		"components/hello-in.yaml", "components/hello-memory.yaml", "components/local/hello-in.yaml",
		"components/local/hello-memory.yaml", "components/local/hello-deadletter.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, "hello", f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
		if !strings.Contains(stdout, "  "+f+"\n") {
			t.Errorf("new does not list %s:\n%s", f, stdout)
		}
	}
	if !strings.Contains(stdout, "Next:\n  cd hello\n  go generate ./...\n") {
		t.Errorf("new does not say what to do next:\n%s", stdout)
	}
	mod, _ := os.ReadFile(filepath.Join(dir, "hello", "go.mod"))
	if !strings.Contains(string(mod), "replace github.com/tetherfn/tether => "+tetherRoot(t)+"\n") {
		t.Errorf("go.mod does not replace Tether with the checkout:\n%s", mod)
	}

	// --dir, and the checkout found from the working directory's parents.
	code, _, stderr = execCLI(t, filepath.Join(tetherRoot(t), "internal"), "new", "other", "--trigger", "memory", "--tidy=false", "--dir", filepath.Join(dir, "elsewhere"))
	if code != 0 {
		t.Fatalf("--dir: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "elsewhere", "other.go")); err != nil {
		t.Error(err)
	}
}

func TestNewRefusals(t *testing.T) {
	root := tetherRoot(t)
	notTether := t.TempDir()
	writeFiles(t, notTether, map[string]string{"go.mod": "module example.com/not/tether\n"})
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"invalid name", []string{"new", "Hello_World", "--trigger", "memory"}, []string{`function name "Hello_World" is not a DNS-1123 label`, `try "hello-world"`}},
		{"name that is no package", []string{"new", "2fa", "--trigger", "memory"}, []string{`package name "2fa" is not a Go identifier`, "--package"}},
		{"no name", []string{"new", "--trigger", "memory"}, []string{"want the function's name", "see: tether new --help"}},
		{"no trigger", []string{"new", "hello"}, []string{"--trigger: a binding type is required"}},
		{"unknown trigger", []string{"new", "hello", "--trigger", "natz"}, []string{`--trigger: unknown binding type "natz"; did you mean "nats"?`, "tether bindings"}},
		{"output-only trigger", []string{"new", "hello", "--trigger", "smtp"}, []string{"bindings.smtp cannot trigger a function: it is output only"}},
		{"unknown output", []string{"new", "hello", "--trigger", "memory", "--output", "kafak"}, []string{`--output: unknown binding type "kafak"; did you mean "kafka"?`}},
		{"unknown flag", []string{"new", "hello", "--trigger", "memory", "--outptu", "x"}, []string{"unknown flag: --outptu", "see: tether new --help"}},
		{"not a checkout", []string{"new", "hello", "--trigger", "memory", "--tether-path", notTether}, []string{"--tether-path: ", "is not a Tether checkout: its go.mod declares module example.com/not/tether"}},
		{"missing checkout", []string{"new", "hello", "--trigger", "memory", "--tether-path", filepath.Join(notTether, "nope")}, []string{"is not a Tether checkout: no go.mod"}},
		{"no template folder", []string{"new", "hello", "--trigger", "memory", "--template", "nowhere"}, []string{"--template nowhere: not a folder of templates"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(c.args, "--tidy=false")
			if !strings.Contains(strings.Join(args, " "), "--tether-path") {
				args = append(args, "--tether-path", root)
			}
			code, stdout, stderr := execCLI(t, dir, args...)
			if code == 0 {
				t.Fatalf("exit 0, stdout %q", stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("a refused new wrote %v", entries)
			}
		})
	}
}

func TestNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello/hello.go": "package mine\n", "hello/README.md": "mine\n", "hello/other.txt": "mine\n"})
	code, _, stderr := execCLI(t, dir, "new", "hello", "--trigger", "memory", "--tidy=false", "--tether-path", tetherRoot(t))
	if code == 0 {
		t.Fatal("new wrote over existing files")
	}
	for _, want := range []string{"hello already has 2 of the files to write; nothing was written", "  README.md\n", "  hello.go\n", "choose another --dir"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hello", "hello.go")); string(b) != "package mine\n" {
		t.Errorf("hello.go = %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello", "go.mod")); err == nil {
		t.Error("new wrote go.mod although it refused")
	}
}
