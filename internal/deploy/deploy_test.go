package deploy_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	_ "github.com/tetherfn/tether/bindings/all"
	"github.com/tetherfn/tether/bindings/component"
	"github.com/tetherfn/tether/internal/deploy"
)

var update = flag.Bool("update", false, "rewrite the want.yaml and want.err sections of testdata/*.txtar from Render's output")

// The golden cases are testdata/*.txtar archives, one per trigger type and
// one per family of refusals:
//
//	-- functions --      one function a line: name trigger=<component> [uses=a,b]
//	-- options --        optional: key=value lines (target, prometheus, namespace, grace, maxReplicas)
//	-- components/... -- the environment's component files
//	-- want.yaml --      the rendered stream, or
//	-- want.err --       Render's error, file paths relative to the case
//
// Every rendered object is also validated (validate_test.go): strict
// decoding into k8s.io/api types, KEDA's and Knative's schemas, and the
// references between objects.
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "*.txtar"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			var fns []deploy.Function
			var opts deploy.Options
			for _, f := range ar.Files {
				switch {
				case f.Name == "functions":
					fns = parseFunctions(t, string(f.Data))
				case f.Name == "options":
					opts = parseOptions(t, string(f.Data))
				case strings.HasPrefix(f.Name, "components/"):
					p := filepath.Join(dir, f.Name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, gotName := render(t, dir, fns, &opts)
			if *update {
				var kept []txtar.File
				for _, f := range ar.Files {
					if f.Name != "want.yaml" && f.Name != "want.err" {
						kept = append(kept, f)
					}
				}
				ar.Files = append(kept, txtar.File{Name: gotName, Data: got})
				if err := os.WriteFile(path, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want []byte
			found := false
			for _, f := range ar.Files {
				if f.Name == gotName {
					want, found = f.Data, true
				}
			}
			if !found {
				t.Fatalf("Render gave %s, the case has no such section (run go test -update):\n%s", gotName, got)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", gotName, got, want)
			}
		})
	}
}

// render loads the environment as tether deploy does and renders it; it
// returns the stream (validated) or the error, and the section it belongs in.
func render(t *testing.T, dir string, fns []deploy.Function, opts *deploy.Options) ([]byte, string) {
	t.Helper()
	set, err := component.Load([]string{filepath.Join(dir, "components")}, &component.Options{Unresolved: true})
	if err != nil {
		return []byte(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") + "\n"), "want.err"
	}
	objs, err := deploy.Render(fns, set, opts)
	if err != nil {
		return []byte(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "") + "\n"), "want.err"
	}
	var buf bytes.Buffer
	if err := deploy.WriteStream(&buf, objs); err != nil {
		t.Fatal(err)
	}
	validateStream(t, buf.Bytes())
	return buf.Bytes(), "want.yaml"
}

func parseFunctions(t *testing.T, s string) []deploy.Function {
	t.Helper()
	var fns []deploy.Function
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		words := strings.Fields(line)
		fn := deploy.Function{Name: words[0], Image: "registry.example/fn/" + words[0] + "@sha256:" + strings.Repeat("ab", 32)}
		for _, w := range words[1:] {
			k, v, _ := strings.Cut(w, "=")
			switch k {
			case "trigger":
				fn.Trigger = v
			case "uses":
				fn.Components = strings.Split(v, ",")
			default:
				t.Fatalf("functions: unknown key %q", k)
			}
		}
		fns = append(fns, fn)
	}
	return fns
}

func parseOptions(t *testing.T, s string) deploy.Options {
	t.Helper()
	var o deploy.Options
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "target":
			o.Target = deploy.Target(v)
		case "prometheus":
			o.PrometheusURL = v
		case "namespace":
			o.Namespace = v
		case "grace":
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatal(err)
			}
			o.ShutdownGrace = d
		default:
			t.Fatalf("options: unknown key %q", k)
		}
	}
	return o
}
