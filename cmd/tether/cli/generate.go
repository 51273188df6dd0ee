package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tetherfn/tether/internal/gen"
)

func init() { register(newGenerateCommand) }

func newGenerateCommand(env *Env) *cobra.Command {
	var diff, verbose bool
	var drivers []string
	cmd := &cobra.Command{
		Use:   "generate [packages]",
		Short: "Generate the wiring of the //tether:function handlers in packages",
		Long: `generate finds the //tether:function directives of the packages (default:
the one in the current folder), checks each handler's signature and Outputs,
and writes, per package, tether_gen.go (a constructor returning a
trigger.Function per handler) and, per function, cmd/<function>/main_gen.go,
so that go build ./... gives one binary per function.

Every problem is reported as file:line:col: message, and then nothing is
written. Exit status: 0 done, 1 --diff found differences, 2 problems found.`,
		Example: `  # from a go:generate line in the package:
  //go:generate go run github.com/tetherfn/tether/cmd/tether generate

  tether generate ./...
  # in CI: fail when the generated code is out of date
  tether generate --diff ./...`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := env.workDir()
			if err != nil {
				return err
			}
			files, diags := gen.Generate(args, &gen.Options{Dir: dir, Drivers: drivers})
			if len(diags) > 0 {
				for _, d := range diags {
					d.Pos.Filename = relative(dir, d.Pos.Filename)
					fmt.Fprintln(env.Stderr, d)
				}
				return &ExitError{Code: 2, Err: fmt.Errorf("%s; nothing written", plural(len(diags), "problem"))}
			}
			if diff {
				out, err := gen.Diff(files, dir)
				if err != nil {
					return &ExitError{Code: 2, Err: err}
				}
				if len(out) == 0 {
					return nil
				}
				env.Stdout.Write(out)
				return &ExitError{Code: 1, Err: fmt.Errorf("generated code is out of date: run tether generate (or go generate ./...)")}
			}
			changed, err := gen.Write(files)
			if err != nil {
				return &ExitError{Code: 2, Err: err}
			}
			if verbose {
				for _, f := range changed {
					verb := "wrote"
					if f.Content == nil {
						verb = "removed"
					}
					fmt.Fprintln(env.Stderr, verb, relative(dir, f.Path))
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&diff, "diff", false, "write nothing; print how the generated files would change and exit 1 if they would")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list the files written and removed")
	cmd.Flags().StringSliceVar(&drivers, "drivers", gen.DefaultDrivers, "binding driver packages every generated main imports (comma-separated import paths)")
	return cmd
}

// relative shortens path to be relative to dir when it is inside it.
func relative(dir, path string) string {
	if path == "" {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return rel
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
