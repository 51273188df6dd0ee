package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/bindings"
	"github.com/tetherfn/tether/internal/scaffold"
)

func init() { register(newNewCommand) }

// newOptions are the flags of tether new.
type newOptions struct {
	trigger    string
	outputs    []string
	dir        string
	pkg        string
	module     string
	templates  string
	tetherPath string
	tidy       bool
}

func newNewCommand(env *Env) *cobra.Command {
	var o newOptions
	cmd := &cobra.Command{
		Use:   "new <name> --trigger <type> [--output <type>]...",
		Short: "Scaffold a function that builds, tests and runs before you change a line",
		Long: `new writes a new function in its own module (folder <name>, or --dir): a Go
package with the handler and its test, components/ with one component file
per binding (every metadata key of the type, with its default and what it
means), components/local/ where in-memory queues stand in for the brokers,
a README, a Dockerfile, and go.mod and go.sum.

The function is triggered by a binding of type --trigger and writes to one
binding per --output; tether bindings lists the types. Its name must be a
DNS-1123 label (lower-case letters, digits and '-'); the Go package is the
name without dashes unless --package says otherwise.

Tether is not on a module proxy: when new runs from a Tether checkout (or
was built from one), or --tether-path names one, go.mod replaces Tether with
that checkout, and go.sum is completed offline from the module cache.

new never overwrites a file: if any it would write exists, it writes nothing.`,
		Example: `  tether new hello --trigger memory
  tether new orders --trigger nats --output postgresql --output kafka
  tether new orders --trigger aws.sqs --dir services/orders --module example.com/shop/orders

  # then:
  cd hello && go generate ./... && go test ./... && go tool tether run .`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "want the function's name, e.g. tether new hello --trigger memory")
			}
			return nil
		},
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNew(cmd.Context(), env, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trigger, "trigger", "", "binding type that triggers the function, e.g. nats or bindings.aws.sqs (required)")
	f.StringArrayVar(&o.outputs, "output", nil, "binding type the function writes to; repeat for more")
	f.StringVar(&o.dir, "dir", "", "folder to write the function in (default: ./<name>)")
	f.StringVar(&o.pkg, "package", "", "Go package name (default: the name without dashes)")
	f.StringVar(&o.module, "module", "", "module path of the new module (default: the name)")
	f.StringVar(&o.templates, "template", "", "folder of templates that replace or add to the built-in ones (same layout as tether's template/)")
	f.StringVar(&o.tetherPath, "tether-path", "", "Tether checkout to build against (default: the one tether runs from)")
	f.BoolVar(&o.tidy, "tidy", true, "complete go.mod and go.sum with go mod tidy (offline when building against a checkout)")
	_ = cmd.MarkFlagDirname("dir")
	_ = cmd.MarkFlagDirname("template")
	_ = cmd.MarkFlagDirname("tether-path")
	_ = cmd.RegisterFlagCompletionFunc("trigger", completeTypes(bindings.DirInput))
	_ = cmd.RegisterFlagCompletionFunc("output", completeTypes(bindings.DirOutput))
	withUsageHint(cmd)
	return cmd
}

func runNew(ctx context.Context, env *Env, name string, o newOptions) error {
	wd, err := env.workDir()
	if err != nil {
		return err
	}
	dir := o.dir
	if dir == "" {
		dir = name
	}
	dir = absIn(wd, dir)

	opts := scaffold.Options{
		Name: name, Package: o.pkg, Module: o.module,
		Trigger: o.trigger, Outputs: o.outputs,
	}
	if o.templates != "" {
		tdir := absIn(wd, o.templates)
		if fi, err := os.Stat(tdir); err != nil || !fi.IsDir() {
			return fmt.Errorf("--template %s: not a folder of templates", o.templates)
		}
		opts.Templates = os.DirFS(tdir)
	}
	tether, tetherErr := findTether(wd, o.tetherPath)
	opts.Tether = tether
	if tetherErr != nil {
		// Mistakes in the name and types come first: they are the
		// user's to fix whichever Tether is used.
		opts.Tether = scaffold.Tether{Version: "v0.0.0"}
	}
	files, err := scaffold.Render(opts)
	if err != nil {
		return fmt.Errorf("%w\n(tether bindings lists the binding types; tether new --help the flags)", err)
	}
	if tetherErr != nil {
		return tetherErr
	}
	if err := scaffold.Write(dir, files); err != nil {
		var exists *scaffold.ExistsError
		if errors.As(err, &exists) {
			exists.Dir = relative(wd, dir)
			return fmt.Errorf("%w\nchoose another --dir, or move those files away", exists)
		}
		return err
	}
	if o.tidy {
		if err := tidy(ctx, env, dir, tether); err != nil {
			return err
		}
	}

	rel := relative(wd, dir)
	fmt.Fprintf(env.Stdout, "Created the function %s in %s:\n", name, rel)
	for _, f := range files {
		fmt.Fprintf(env.Stdout, "  %s\n", f.Path)
	}
	fmt.Fprintf(env.Stdout, `
Next:
  cd %s
  go generate ./...
  go test ./...
  go tool tether run .
  go tool tether send %s-in --data @example.json   # from another terminal
`, shellQuote(rel), name)
	return nil
}

// tidy completes go.mod and go.sum: offline first when building against a
// checkout, whose modules are all in the cache; then, unless the go command
// is kept offline anyway, through the module proxy.
func tidy(ctx context.Context, env *Env, dir string, t scaffold.Tether) error {
	offline := t.Replace != ""
	how := "offline, from the module cache"
	if !offline {
		how = "through the module proxy"
	}
	fmt.Fprintf(env.Stderr, "tether: go mod tidy (%s)...\n", how)
	err := scaffold.Tidy(ctx, dir, offline)
	if err != nil && offline && os.Getenv("GOPROXY") != "off" && ctx.Err() == nil {
		fmt.Fprintf(env.Stderr, "tether: the module cache lacks modules the function needs (%v); trying through the module proxy...\n", firstLine(err))
		err = scaffold.Tidy(ctx, dir, false)
	}
	if err != nil {
		return fmt.Errorf("%w\nthe function's files are written; once the go command can reach its modules, run go mod tidy in %s", err, dir)
	}
	return nil
}

// findTether works out which Tether the new module builds against: the
// checkout given, the checkout the working directory is in, the checkout
// this program was built from, or the version it was built at.
func findTether(wd, path string) (scaffold.Tether, error) {
	if path != "" {
		abs := absIn(wd, path)
		if err := scaffold.CheckCheckout(abs); err != nil {
			return scaffold.Tether{}, fmt.Errorf("--tether-path: %w\ngive the folder of a clone of github.com/tetherfn/tether (the one holding its go.mod)", err)
		}
		return scaffold.Tether{Replace: abs}, nil
	}
	if dir := scaffold.FindCheckout(wd); dir != "" {
		return scaffold.Tether{Replace: dir}, nil
	}
	if dir := scaffold.SourceCheckout(); dir != "" {
		return scaffold.Tether{Replace: dir}, nil
	}
	if v := scaffold.ModuleVersion(); v != "" {
		return scaffold.Tether{Version: v}, nil
	}
	return scaffold.Tether{}, errors.New("cannot tell which Tether to build against: Tether is not on a module proxy\nrun tether new from a Tether checkout, or pass --tether-path <checkout>")
}

// completeTypes completes binding type names of a direction.
func completeTypes(dir bindings.Direction) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, t := range bindings.Types() {
			if t.Directions.Has(dir) {
				out = append(out, scaffold.ShortName(t.Name)+"\t"+t.Summary)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// absIn resolves path against dir.
func absIn(dir, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(dir, path)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
