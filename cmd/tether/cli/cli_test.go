package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherfn/tether/cmd/tether/cli"
)

// module writes a module using this tether tree, with the given files.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	t.Setenv("GOFLAGS", "-mod=mod -buildvcs=false")
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files["go.mod"] = "module example.com/app\n\ngo 1.26\n\nrequire github.com/tetherfn/tether v0.0.0\n\nreplace github.com/tetherfn/tether => " + root + "\n"
	files["go.sum"] = string(sum)
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Run(context.Background(), &cli.Env{Stdout: &out, Stderr: &errOut, Dir: dir}, args)
	return code, out.String(), errOut.String()
}

const hello = `package hello

import "context"

// Greet greets.
//
//tether:function greet trigger=names
func Greet(ctx context.Context, name string) (string, error) { return "hello " + name, nil }
`

func TestGenerateWritesThenDiffIsClean(t *testing.T) {
	dir := module(t, map[string]string{"hello/hello.go": hello})

	code, _, stderr := run(t, dir, "generate", "--diff", "./...")
	if code != 1 {
		t.Fatalf("--diff before generating: exit %d, want 1 (stderr %q)", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello", "tether_gen.go")); err == nil {
		t.Fatal("--diff wrote files")
	}

	code, _, stderr = run(t, dir, "generate", "-v", "./...")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"wrote hello/tether_gen.go", "wrote hello/cmd/greet/main_gen.go"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("generate -v said %q, want %q", stderr, want)
		}
	}

	code, stdout, stderr := run(t, dir, "generate", "--diff", "./...")
	if code != 0 || stdout != "" {
		t.Fatalf("--diff after generating: exit %d, diff %q, stderr %q; want 0 and no diff", code, stdout, stderr)
	}

	// A change to the handler shows up in the diff.
	changed := strings.Replace(hello, "name string", "name []byte", 1)
	changed = strings.Replace(changed, `"hello " + name`, `"hello " + string(name)`, 1)
	if err := os.WriteFile(filepath.Join(dir, "hello", "hello.go"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = run(t, dir, "generate", "--diff", "./...")
	if code != 1 || !strings.Contains(stdout, "--- a/hello/tether_gen.go") ||
		!strings.Contains(stdout, "-\ttetherIsStale_RunGoGenerate[func(context.Context, string) (string, error)](Greet)") ||
		!strings.Contains(stdout, "+\ttetherIsStale_RunGoGenerate[func(context.Context, []byte) (string, error)](Greet)") {
		t.Errorf("--diff after a change: exit %d, diff:\n%s", code, stdout)
	}
}

func TestGenerateDefaultsToCurrentPackage(t *testing.T) {
	dir := module(t, map[string]string{"hello/hello.go": hello, "other/other.go": strings.ReplaceAll(hello, "hello", "other")})
	code, _, stderr := run(t, filepath.Join(dir, "hello"), "generate")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "hello", "tether_gen.go")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other", "tether_gen.go")); err == nil {
		t.Error("generate without arguments went beyond the current package")
	}
}

func TestGenerateReportsEveryProblem(t *testing.T) {
	dir := module(t, map[string]string{"bad/bad.go": `package bad

import "context"

//tether:function one trigerr=x
func One(ctx context.Context, s string) error { return nil }

//tether:function two trigger=x
func Two(s string) error { return nil }
`})
	code, stdout, stderr := run(t, dir, "generate", "./...")
	if code != 2 || stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	want := []string{
		`bad/bad.go:5:1: //tether:function one has no trigger: add trigger=<input component>`,
		`bad/bad.go:5:23: unknown key "trigerr" in //tether:function; did you mean "trigger"? (known: trigger, return, middleware)`,
		`bad/bad.go:9:12: Two: the first parameter must be context.Context, not string`,
		`tether: 3 problems; nothing written`,
	}
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, strings.Join(want, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "tether_gen.go")); err == nil {
		t.Error("files written despite problems")
	}
}

// TestGenerateRefusesNothing: a path with no Go package is an error, not a
// silent success that leaves the user wondering where the files went.
func TestGenerateRefusesNothing(t *testing.T) {
	dir := module(t, map[string]string{"hello/hello.go": hello, "docs/README.md": "# docs\n"})
	for _, c := range []struct{ arg, want string }{
		{"./nothere", "./nothere: no Go package here: stat "},
		{"./docs", "./docs: no Go package here: no Go files in "},
	} {
		code, _, stderr := run(t, dir, "generate", c.arg)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "nothing written") {
			t.Errorf("generate %s: exit %d, stderr %q; want 2 and %q", c.arg, code, stderr, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, t.TempDir(), "version", "-o", "json")
	var v struct{ Version, Go string }
	if code != 0 || json.Unmarshal([]byte(stdout), &v) != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version -o json: exit %d, %q", code, stdout)
	}
	code, stdout, _ = run(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(stdout, "tether ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
	code, flag, _ := run(t, t.TempDir(), "--version")
	if code != 0 || flag != stdout {
		t.Errorf("--version: exit %d, %q; want what version prints, %q", code, flag, stdout)
	}
	if code, _, stderr := run(t, t.TempDir(), "version", "-o", "yaml"); code != 2 || !strings.Contains(stderr, "want text or json") {
		t.Errorf("version -o yaml: exit %d, %q", code, stderr)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, stderr := run(t, t.TempDir(), "generat")
	if code != 1 || !strings.Contains(stderr, `unknown command "generat"`) || !strings.Contains(stderr, "generate") {
		t.Errorf("exit %d, %q", code, stderr)
	}
}
