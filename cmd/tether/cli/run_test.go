package cli_test

import (
	"strings"
	"testing"
)

// TestRunRefusals covers what tether run refuses before building anything;
// cmd/tether/e2e runs functions with it.
func TestRunRefusals(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"fn/cmd/greet/main_gen.go": "package main\n",
		"fn/components/x.yaml":     "",
		"bare/fn.go":               "package bare\n",
	})
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "bare"}, []string{"no generated main in bare/cmd/*/main_gen.go", "run go generate ./... in bare first"}},
		{[]string{"run", "fn", "--function", "great"}, []string{`fn has no function "great" (it has greet)`}},
		{[]string{"run", "fn", "--env", "prod"}, []string{"no components folder fn/components/prod", "--components"}},
		{[]string{"run", "fn", "--components", "elsewhere"}, []string{"--components elsewhere: not a folder"}},
		{[]string{"run", "fn", "--addr", "127.0.0.1:http"}, []string{`--addr "127.0.0.1:http"`, "see: tether run --help"}},
		{[]string{"run", "a", "b"}, []string{"want at most one folder"}},
	} {
		code, _, stderr := execCLI(t, dir, c.args...)
		if code == 0 {
			t.Errorf("%v: exit 0", c.args)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%v: stderr lacks %q:\n%s", c.args, w, stderr)
			}
		}
	}
}
