package scaffold

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"golang.org/x/mod/modfile"
)

// CheckCheckout reports whether dir is the root of a Tether checkout: a
// folder whose go.mod declares the module github.com/tetherfn/tether.
func CheckCheckout(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("%s is not a Tether checkout: no go.mod (%w)", dir, err)
	}
	if mod := modfile.ModulePath(data); mod != TetherModule {
		if mod == "" {
			return fmt.Errorf("%s is not a Tether checkout: its go.mod declares no module", dir)
		}
		return fmt.Errorf("%s is not a Tether checkout: its go.mod declares module %s, not %s", dir, mod, TetherModule)
	}
	return nil
}

// FindCheckout returns the Tether checkout that dir is in (dir or one of
// its parents), or "".
func FindCheckout(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if CheckCheckout(dir) == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// SourceCheckout returns the checkout this program was built from, when its
// sources are still where they were compiled (go run, go install and go
// test from a checkout, without -trimpath); "" otherwise.
func SourceCheckout() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return FindCheckout(filepath.Dir(file))
}

// ModuleVersion returns the version of Tether this program was built from,
// when it was built as a dependency at a published version ("" otherwise).
func ModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if bi.Main.Path == TetherModule && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == TetherModule && dep.Replace == nil && dep.Version != "(devel)" {
			return dep.Version
		}
	}
	return ""
}
